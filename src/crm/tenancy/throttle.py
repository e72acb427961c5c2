"""Login throttling: too many failed sign-ins for a username, or from an address, lock it out.

Failures are rows of LoginFailure (global: no tenant is known before sign-in), so the limit
holds across all web processes and machines. A username is locked after LOGIN_FAILURE_LIMIT
failures within LOGIN_FAILURE_WINDOW_SECONDS; an address after LOGIN_FAILURE_ADDRESS_LIMIT
(higher, because a whole office often shares one public address). While locked, even the right
password is refused; the lock lifts when the failures age out of the window.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.http import HttpRequest
from django.utils import timezone

from crm.tenancy.models import LoginFailure

# Behind a reverse proxy on the same machine every request comes from loopback; the proxy puts
# the client's address last in X-Forwarded-For. From anywhere else the header is not trusted.
TRUSTED_PROXIES = frozenset({"127.0.0.1", "::1"})


def client_address(request: HttpRequest | None) -> str:
    if request is None:
        return ""
    address = str(request.META.get("REMOTE_ADDR") or "")
    forwarded = str(request.META.get("HTTP_X_FORWARDED_FOR") or "")
    if address in TRUSTED_PROXIES and forwarded:
        address = forwarded.split(",")[-1].strip()
    return address[:64]


def _window_start(now: datetime) -> datetime:
    return now - timedelta(seconds=settings.LOGIN_FAILURE_WINDOW_SECONDS)


def login_is_throttled(*, username: str, address: str, now: datetime | None = None) -> bool:
    """True while the username or the address has too many recent failures."""
    recent = LoginFailure.objects.filter(at__gte=_window_start(now or timezone.now()))
    if username and (
        recent.filter(username=username[:150]).count() >= settings.LOGIN_FAILURE_LIMIT
    ):
        return True
    return bool(address) and (
        recent.filter(address=address).count() >= settings.LOGIN_FAILURE_ADDRESS_LIMIT
    )


def login_failure_record(*, username: str, address: str) -> None:
    """Count one failed sign-in. Attempts refused while locked are not counted, so a lock
    lasts one window from the failures that caused it, not from the last knock on the door."""
    if login_is_throttled(username=username, address=address):
        return
    now = timezone.now()
    LoginFailure.objects.filter(at__lt=_window_start(now)).delete()
    LoginFailure.objects.create(username=username[:150], address=address)


def login_failures_clear(*, username: str) -> None:
    """A successful sign-in forgives the username's earlier typos (not the address's)."""
    LoginFailure.objects.filter(username=username[:150]).delete()
