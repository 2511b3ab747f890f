"""Fixtures for the browser suites: the test app over real HTTP, and a headless Chromium page."""
from __future__ import annotations

import pytest

from tests.conftest import require_browser
from tests.e2e.browser import chromium_page, serve_app


@pytest.fixture
def live_server(app):
    """The test `app` (its own migrated database, the fixed test clock) served by waitress on 127.0.0.1 and a
    free port; yields the base URL, e.g. "http://127.0.0.1:41234". Fails the test if the app answered a 5xx."""
    with serve_app(app) as server:
        yield server.url


@pytest.fixture
def browser_page():
    """A Playwright page in headless Debian Chromium (zh-CN, 1280x900), in a fresh context; closed afterwards.
    Skips locally, fails in CI, when Chromium or Playwright is missing."""
    require_browser()
    with chromium_page() as page:
        yield page
