"""Jinja filters and template globals shared by every area."""
from __future__ import annotations

from zoneinfo import ZoneInfo

from flask import current_app

from core.auth import current_actor
from core.money import format_fen
from core.permissions import ROLE_LABELS, Perm


def init_app(app) -> None:
    app.jinja_env.filters["money"] = format_fen

    @app.template_filter("localtime")
    def localtime(value, fmt: str = "%Y-%m-%d %H:%M"):
        if value is None:
            return ""
        return value.astimezone(ZoneInfo(current_app.config["TIMEZONE"])).strftime(fmt)

    @app.template_filter("licence_label")
    def licence_label(kind: str):
        from flask_babel import lazy_gettext as _l

        labels = {"pharmacist": _l("Licensed pharmacist certificate"), "pharmacy_technician": _l("Pharmacy title"),
                  "health_certificate": _l("Health certificate"), "training": _l("Training certificate")}
        return labels.get(kind, kind)

    @app.template_filter("role_label")
    def role_label(role: str):
        return ROLE_LABELS.get(role, role)

    @app.context_processor
    def _globals():
        actor = current_actor()

        def can(perm: str) -> bool:
            return actor is not None and Perm(perm) in actor.permissions

        from flask_babel import get_locale

        locale = str(get_locale() or "zh_CN")  # Babel names it zh_Hans_CN
        return {"actor": actor, "can": can, "current_locale": "zh_CN" if locale.startswith("zh") else "en"}
