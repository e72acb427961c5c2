"""Login throttling: repeated failures lock a username (and an address) for a while."""

from __future__ import annotations

from datetime import timedelta

from django.contrib.auth import authenticate
from django.contrib.auth.models import AbstractBaseUser
from django.db.models import F
from django.test import RequestFactory
from pytest_django.fixtures import Settings

from crm.tenancy.models import LoginFailure
from tests.conftest import TenantWorld

PASSWORD = "pw-Secret-123"  # the password of every member of the test worlds


def sign_in(username: str, password: str, address: str = "203.0.113.5") -> AbstractBaseUser | None:
    """What the login page does with a submitted form."""
    request = RequestFactory().post("/login/", REMOTE_ADDR=address)
    return authenticate(request, username=username, password=password)


def let_the_window_pass(settings: Settings) -> None:
    LoginFailure.objects.update(
        at=F("at") - timedelta(seconds=settings.LOGIN_FAILURE_WINDOW_SECONDS + 1)
    )


def test_after_too_many_failures_even_the_right_password_is_refused_for_a_while(
    world: TenantWorld, settings: Settings
) -> None:
    settings.LOGIN_FAILURE_LIMIT = 3
    user = world.sales.user
    assert sign_in(user.username, PASSWORD) == user

    for _ in range(3):
        assert sign_in(user.username, "wrong password") is None
    assert sign_in(user.username, PASSWORD) is None
    assert sign_in(user.username, PASSWORD, address="198.51.100.20") is None  # any address
    # Other people, even at the same address, still get in.
    assert sign_in(world.manager.user.username, PASSWORD) == world.manager.user
    # Refused attempts do not prolong the lock.
    assert LoginFailure.objects.filter(username=user.username).count() == 3

    let_the_window_pass(settings)
    assert sign_in(user.username, PASSWORD) == user


def test_failures_below_the_limit_do_not_lock(world: TenantWorld, settings: Settings) -> None:
    settings.LOGIN_FAILURE_LIMIT = 3
    user = world.sales.user
    for _ in range(2):
        assert sign_in(user.username, "typo") is None
    assert sign_in(user.username, PASSWORD) == user


def test_many_failures_from_one_address_lock_that_address(
    world: TenantWorld, settings: Settings
) -> None:
    settings.LOGIN_FAILURE_ADDRESS_LIMIT = 4
    for n in range(4):  # someone tries many usernames from one address
        assert sign_in(f"guess{n}", "123456", address="192.0.2.66") is None

    manager = world.manager.user
    assert sign_in(manager.username, PASSWORD, address="192.0.2.66") is None
    assert sign_in(manager.username, PASSWORD, address="192.0.2.67") == manager
    let_the_window_pass(settings)
    assert sign_in(manager.username, PASSWORD, address="192.0.2.66") == manager
