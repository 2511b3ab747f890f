"""The app factory."""
from __future__ import annotations

import importlib
import logging

from flask import Flask
from flask_wtf.csrf import CSRFProtect

from core import i18n
from core.auth import login_manager
from core.config import REPO_ROOT, load_config
from core.db import close_session, make_engine
from core.models_registry import DOMAIN_PACKAGES, import_all_models
from core.web import register_error_handlers

csrf = CSRFProtect()


def create_app(overrides: dict | None = None) -> Flask:
    config = load_config(overrides)
    app = Flask("yaofang", template_folder=str(REPO_ROOT / "templates"), static_folder=str(REPO_ROOT / "static"),
                instance_path=config["INSTANCE_DIR"])
    app.config.update(config)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    import_all_models()
    app.extensions["yaofang.engine"] = make_engine(app.config["DATABASE_URL"])
    app.teardown_appcontext(close_session)

    csrf.init_app(app)
    login_manager.init_app(app)
    i18n.init_app(app)
    register_error_handlers(app)

    from core import api, cli, filters, jobs, views

    filters.init_app(app)
    app.register_blueprint(views.bp)
    app.register_blueprint(api.bp)
    csrf.exempt(api.bp)
    cli.register(app)
    jobs.register()
    # Domain packages plug themselves in (imports point from them to core, never back).
    for package in DOMAIN_PACKAGES:
        module = importlib.import_module(package)
        if hasattr(module, "register"):
            module.register(app)
    for name, blueprint in app.blueprints.items():
        if name.endswith("api"):
            csrf.exempt(blueprint)
    return app
