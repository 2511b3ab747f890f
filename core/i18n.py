"""Simplified Chinese first, English second (Flask-Babel). The language is chosen per session."""
from __future__ import annotations

from flask import request, session
from flask_babel import Babel

SUPPORTED_LOCALES = ("zh_CN", "en")
babel = Babel()


def select_locale() -> str:
    from flask import current_app, has_request_context

    if not has_request_context():  # CLI, jobs, tests at the service layer
        return current_app.config.get("DEFAULT_LOCALE", "zh_CN")
    chosen = session.get("locale")
    if chosen in SUPPORTED_LOCALES:
        return chosen
    # API clients may ask with Accept-Language; pages default to Chinese.
    if request.path.startswith("/api/"):
        best = request.accept_languages.best_match(["zh", "zh_CN", "en"])
        if best == "en":
            return "en"
    return current_app.config.get("DEFAULT_LOCALE", "zh_CN")


def init_app(app) -> None:
    from core.config import REPO_ROOT

    app.config.setdefault("BABEL_TRANSLATION_DIRECTORIES", str(REPO_ROOT / "core" / "translations"))
    app.config.setdefault("BABEL_DEFAULT_LOCALE", "zh_CN")
    compile_catalogs()
    babel.init_app(app, locale_selector=select_locale)


def compile_catalogs() -> None:
    """Compile .po to .mo when the .mo is missing or older, so a fresh checkout serves Chinese at once."""
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    from core.config import REPO_ROOT

    for po_path in (REPO_ROOT / "core" / "translations").glob("*/LC_MESSAGES/messages.po"):
        mo_path = po_path.with_suffix(".mo")
        if mo_path.exists() and mo_path.stat().st_mtime >= po_path.stat().st_mtime:
            continue
        with po_path.open("rb") as fh:
            catalog = read_po(fh)
        tmp = mo_path.with_suffix(".mo.tmp")
        with tmp.open("wb") as fh:
            write_mo(fh, catalog)
        tmp.replace(mo_path)
