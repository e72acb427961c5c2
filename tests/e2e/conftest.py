"""Browser tests: Playwright driving Debian's Chromium (/usr/bin/chromium, never a downloaded
browser) against pytest-django's live server. One browser for the session; each test opens its
own context (viewport, language)."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from playwright.sync_api import BrowserContext, Page

# Playwright's sync API runs an event loop in this thread; the test body still calls the ORM
# (to set up data and to check it), which Django would otherwise refuse inside a running loop.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).parent / "artifacts"
PASSWORD = "pw-Secret-123"  # tests/conftest.py build_world
DESK = {"width": 1440, "height": 900}
PHONE = {"width": 375, "height": 812}

# WhiteNoise warns at start-up when the collected-static directory does not exist.
Path(settings.STATIC_ROOT).mkdir(parents=True, exist_ok=True)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # One browser per session: keep every browser test on the same xdist worker.
    for item in items:
        if "tests/e2e/" in str(item.fspath):
            item.add_marker(pytest.mark.e2e)
            item.add_marker(pytest.mark.xdist_group("e2e"))


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    return {
        **browser_type_launch_args,
        "executable_path": "/usr/bin/chromium",
        "args": CHROMIUM_ARGS,
    }


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args: dict[str, Any]) -> dict[str, Any]:
    return {**browser_context_args, "locale": "zh-CN", "timezone_id": "Asia/Shanghai"}


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


class Browsing:
    """A signed-in browser page with the checks every page gets: no script error, no CSP
    violation reported on the console."""

    def __init__(self, context: BrowserContext, base_url: str) -> None:
        self.context = context
        self.base = base_url
        self.page: Page = context.new_page()
        self.problems: list[str] = []
        self.page.on("pageerror", lambda exc: self.problems.append(f"page error: {exc}"))
        self.page.on("console", self._console)
        self.page.on(
            "dialog", lambda d: (self.problems.append(f"dialog: {d.message}"), d.dismiss())
        )

    def _console(self, message: Any) -> None:
        text = message.text
        if message.type == "error" and "Content Security Policy" in text:
            self.problems.append(f"CSP: {text}")

    def goto(self, path: str) -> Page:
        self.page.goto(self.base + path)
        return self.page

    def login(self, username: str, password: str = PASSWORD) -> Page:
        page = self.goto("/login/")
        page.fill("#id_username", username)
        page.fill("#id_password", password)
        page.locator("form.login-form button[type=submit]").click()
        page.wait_for_url(self.base + "/")
        return page


@pytest.fixture
def browse(
    new_context: Callable[..., BrowserContext], live_server: Any
) -> Iterator[Callable[..., Browsing]]:
    """browse(viewport=DESK) -> a Browsing on a fresh context against the live server."""
    opened: list[Browsing] = []

    def open_browsing(viewport: dict[str, int] = DESK, **kwargs: Any) -> Browsing:
        context = new_context(viewport=viewport, **kwargs)
        browsing = Browsing(context, live_server.url)
        opened.append(browsing)
        return browsing

    yield open_browsing
    for browsing in opened:
        assert browsing.problems == [], browsing.problems
