from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.core.cache import cache
from django.utils import translation


@pytest.fixture(autouse=True)
def english() -> Iterator[None]:
    """Messages are asserted in English; the product's default language is zh-hans."""
    with translation.override("en"):
        yield


@pytest.fixture(autouse=True)
def fresh_rate_limits() -> Iterator[None]:
    """API calls count against per-token rate limits kept in the cache, which outlives each
    test's database; token ids repeat from test to test, so a test starts with empty counters."""
    cache.clear()
    yield
    cache.clear()
