"""The authentication backend for pages: Django's ModelBackend with login throttling."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.models import AbstractBaseUser, User
from django.contrib.auth.signals import user_logged_in, user_login_failed
from django.core.exceptions import PermissionDenied
from django.dispatch import receiver
from django.http import HttpRequest

from crm.tenancy.throttle import (
    client_address,
    login_failure_record,
    login_failures_clear,
    login_is_throttled,
)


class ThrottledModelBackend(ModelBackend):
    """Refuses every sign-in, right password or not, while the username or address is locked.

    Raising PermissionDenied makes django.contrib.auth.authenticate() stop at once (no other
    backend is tried) and send `user_login_failed`, like a wrong password.
    """

    def authenticate(
        self,
        request: HttpRequest | None,
        username: str | None = None,
        password: str | None = None,
        **kwargs: Any,
    ) -> User | None:
        if username is None:
            username = kwargs.get(get_user_model().USERNAME_FIELD)
        if login_is_throttled(username=username or "", address=client_address(request)):
            raise PermissionDenied("Too many failed sign-ins; try again later.")
        return super().authenticate(request, username=username, password=password, **kwargs)


# Connected here because these receivers only matter with this backend installed, and Django
# imports the configured backends before it sends either signal.
@receiver(user_login_failed, dispatch_uid="crm.tenancy.login_failed")
def _record_login_failure(
    sender: Any, credentials: dict[str, Any], request: HttpRequest | None = None, **kwargs: Any
) -> None:
    username = credentials.get(get_user_model().USERNAME_FIELD) or credentials.get("username")
    login_failure_record(username=str(username or ""), address=client_address(request))


@receiver(user_logged_in, dispatch_uid="crm.tenancy.logged_in")
def _forgive_login_failures(sender: Any, user: AbstractBaseUser, **kwargs: Any) -> None:
    login_failures_clear(username=user.get_username())
