"""Browser test helpers: serve the test app over real HTTP and drive it with headless Chromium.

Reusable by any suite. The pytest fixtures `live_server` and `browser_page` live in tests/e2e/conftest.py and are
thin wrappers around the context managers here; another suite can import them the same way:

    from tests.e2e.browser import chromium_page, serve_app

    @pytest.fixture
    def live_server(app):
        with serve_app(app) as server:
            yield server.url

The browser is always Debian's Chromium at /usr/bin/chromium (never a downloaded one).
"""
from __future__ import annotations

import contextlib
import logging
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

REPO_ROOT = Path(__file__).resolve().parents[2]
SCREENSHOT_DIR = REPO_ROOT / "test-artifacts" / "screenshots"  # git-ignored (test-artifacts/)
CHROMIUM_PATH = "/usr/bin/chromium"
LOCALE = "zh-CN"
# --lang: date inputs and other browser-drawn widgets follow Chromium's own language, not the page's.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync", f"--lang={LOCALE}"]
VIEWPORT = {"width": 1280, "height": 900}
DEFAULT_TIMEOUT_MS = 10_000

log = logging.getLogger("yaofang.tests.browser")


# --- the live server ----------------------------------------------------------------------------------------------

@dataclass
class LiveServer:
    """A waitress server on 127.0.0.1 serving one WSGI app from a background thread."""

    url: str
    server_errors: list[str] = field(default_factory=list)  # "500 GET /path" for every 5xx the app answered


def _recording(app, errors: list[str]):
    """Wrap the app so 5xx answers are remembered: the app's error handler turns crashes into friendly 500 pages,
    which a browser test would otherwise walk straight past (an htmx swap of an error page, say)."""

    def wsgi(environ, start_response):
        def start(status, headers, exc_info=None):
            if status[:1] == "5":
                errors.append(f"{status.split(' ', 1)[0]} {environ.get('REQUEST_METHOD')} "
                              f"{environ.get('PATH_INFO')}?{environ.get('QUERY_STRING', '')}")
            return start_response(status, headers, exc_info)

        return app(environ, start)

    return wsgi


@contextlib.contextmanager
def serve_app(app, *, threads: int = 4, fail_on_server_errors: bool = True) -> Iterator[LiveServer]:
    """Serve `app` with waitress on 127.0.0.1 and a free port until the block ends, then shut down cleanly.

    The listening socket is bound and listening before this yields, so the first request cannot race the thread.
    With fail_on_server_errors (the default) the block fails at exit if the app answered any request with a 5xx.
    """
    from waitress.server import create_server

    errors: list[str] = []
    server = create_server(_recording(app, errors), host="127.0.0.1", port=0, threads=threads,
                           ident="yaofang-test", channel_timeout=30)
    thread = threading.Thread(target=server.run, name=f"waitress-{server.effective_port}", daemon=True)
    thread.start()
    live = LiveServer(url=f"http://127.0.0.1:{server.effective_port}", server_errors=errors)
    try:
        yield live
    finally:
        _shutdown(server, thread)
    if fail_on_server_errors and errors:
        import pytest

        pytest.fail("the live server answered with server errors: " + "; ".join(errors))


def _shutdown(server, thread: threading.Thread) -> None:
    # Let the worker threads finish what they are doing (the event loop still runs, so their output is flushed) ...
    server.task_dispatcher.shutdown(cancel_pending=True, timeout=5)

    # ... then, inside the loop's own thread, close every open connection, the listening socket and the trigger;
    # with its socket map empty the loop returns and the thread ends.
    def close_all():
        for dispatcher in list(server._map.values()):
            if dispatcher is not server and dispatcher is not server.trigger:
                dispatcher.handle_close()
        server.close()

    server.trigger.pull_trigger(close_all)
    thread.join(timeout=10)
    if thread.is_alive():  # pragma: no cover - would mean waitress changed its loop
        log.warning("waitress thread %s did not stop", thread.name)


# --- the browser --------------------------------------------------------------------------------------------------

@contextlib.contextmanager
def chromium_page(*, locale: str = LOCALE, viewport: dict | None = None, fail_on_js_errors: bool = True):
    """Headless Chromium (Debian's), a fresh context and one page; everything closed at the end.

    Uncaught JavaScript errors on the page are collected in `page.js_errors` and, by default, fail the block.
    Call tests/conftest.py's require_browser() first (the fixture does).
    """
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM_PATH, headless=True, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(locale=locale, viewport=viewport or VIEWPORT)
            context.set_default_timeout(DEFAULT_TIMEOUT_MS)
            page = context.new_page()
            js_errors: list[str] = []
            page.on("pageerror", lambda exc: js_errors.append(str(exc)))
            page.js_errors = js_errors
            try:
                yield page
            finally:
                context.close()
        finally:
            browser.close()
    if fail_on_js_errors and js_errors:
        import pytest

        pytest.fail("uncaught JavaScript errors on the page: " + "; ".join(js_errors))


def screenshot(page, name: str) -> Path:
    """A full-page PNG at <repo>/test-artifacts/screenshots/<name>.png; returns its path."""
    SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOT_DIR / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def login_as(page, base_url: str, username: str, password: str) -> None:
    """Log in through the real login form and wait until the app has let us in."""
    page.goto(f"{base_url}/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    with page.expect_navigation():
        page.click("form button[type=submit]")
    if "/login" in page.url:
        flash = page.locator(".flash").all_inner_texts()
        raise AssertionError(f"login as {username!r} failed: still on {page.url}; messages: {flash}")


# --- is CJK text really rendered? -----------------------------------------------------------------------------------

_GLYPHS_JS = """
({selector, text, missing}) => {
  const el = document.querySelector(selector);
  if (!el) return null;
  const cs = getComputedStyle(el);
  const size = 48;
  const font = `${cs.fontStyle} ${cs.fontWeight} ${size}px ${cs.fontFamily}`;
  const canvas = document.createElement('canvas');
  canvas.width = 2 * size; canvas.height = 2 * size;
  const ctx = canvas.getContext('2d', {willReadFrequently: true});
  const draw = (ch) => {
    ctx.clearRect(0, 0, canvas.width, canvas.height);
    ctx.font = font; ctx.fillStyle = '#000'; ctx.textBaseline = 'top';
    ctx.fillText(ch, size / 4, size / 4);
    const data = ctx.getImageData(0, 0, canvas.width, canvas.height).data;
    let ink = 0, hash = 5381;
    for (let i = 3; i < data.length; i += 4) {
      if (data[i]) ink++;
      hash = ((hash * 33) ^ data[i]) >>> 0;
    }
    return {ch, ink, signature: hash.toString(16) + ':' + ink, width: ctx.measureText(ch).width};
  };
  return {fontFamily: cs.fontFamily, font, glyphs: Array.from(text).map(draw), missing: missing.map(draw)};
}
"""


@dataclass
class GlyphReport:
    font_family: str  # the element's computed CSS font-family
    platform_fonts: list[dict]  # what Chromium actually rendered `text` with (CDP CSS.getPlatformFontsForNode)
    glyphs: list[dict]  # per character: ink pixels, bitmap signature, advance width
    missing: list[dict]  # the same for code points no font has (what a missing glyph looks like here)

    def problems(self) -> list[str]:
        """Why the text does not look rendered; empty when every character drew its own, real glyph."""
        found = []
        blank = [g["ch"] for g in self.glyphs if g["ink"] == 0 or g["width"] <= 0]
        if blank:
            found.append(f"characters drew nothing: {''.join(blank)}")
        signatures = [g["signature"] for g in self.glyphs]
        if len(set(signatures)) != len(signatures):
            found.append("different characters drew identical bitmaps (tofu boxes)")
        missing = {m["signature"] for m in self.missing}
        tofu = [g["ch"] for g in self.glyphs if g["signature"] in missing]
        if tofu:
            found.append(f"characters drew the missing-glyph box: {''.join(tofu)}")
        if not any(f.get("glyphCount", 0) for f in self.platform_fonts):
            found.append("Chromium reports no platform font for the text")
        return found


def glyph_report(page, selector: str, text: str) -> GlyphReport:
    """Draw each character of `text` in the font of the element at `selector` on a canvas and ask Chromium which
    platform font renders it.

    A font without the glyphs renders every character as the same .notdef box (tofu): equal bitmaps for different
    characters, equal to the bitmap of a code point nobody has a glyph for. Real glyphs have ink and differ.
    """
    data = page.evaluate(_GLYPHS_JS, {"selector": selector, "text": text, "missing": ["\uffff", "\U0010fffd"]})
    if data is None:
        raise AssertionError(f"no element matches {selector!r}")
    return GlyphReport(font_family=data["fontFamily"], platform_fonts=platform_fonts_for(page, selector, text),
                       glyphs=data["glyphs"], missing=data["missing"])


def platform_fonts_for(page, selector: str, text: str) -> list[dict]:
    """The platform fonts Chromium uses for `text` set in the style of the element at `selector`.

    A probe span holding only `text` is appended to the element (so it inherits its font), measured through the
    DevTools protocol, and removed again.
    """
    probe_id = "yaofang-font-probe"
    page.evaluate("""({selector, text, id}) => {
        const span = document.createElement('span'); span.id = id; span.textContent = text;
        document.querySelector(selector).appendChild(span);
    }""", {"selector": selector, "text": text, "id": probe_id})
    cdp = page.context.new_cdp_session(page)
    try:
        cdp.send("DOM.enable")
        cdp.send("CSS.enable")
        root = cdp.send("DOM.getDocument", {"depth": 0})["root"]["nodeId"]
        node = cdp.send("DOM.querySelector", {"nodeId": root, "selector": f"#{probe_id}"})["nodeId"]
        return cdp.send("CSS.getPlatformFontsForNode", {"nodeId": node})["fonts"]
    finally:
        cdp.detach()
        page.evaluate("id => document.getElementById(id)?.remove()", probe_id)
