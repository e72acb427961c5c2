"""Fixtures for API tests: clients authenticated with tokens of a member."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import pytest

from crm.tenancy.models import Membership

from .support import FULL, Api, make_token


@pytest.fixture
def api_as() -> Callable[..., Api]:
    """api_as(member, scopes=...) → a client authenticated with a fresh token of that member."""

    def build(member: Membership, scopes: Iterable[str] = FULL) -> Api:
        return Api(make_token(member, scopes))

    return build


@pytest.fixture
def admin_api(world: Any, api_as: Callable[..., Api]) -> Api:
    return api_as(world.admin)
