"""Inventory: drug master, lots, locations, the stock ledger (movements + balances), FEFO allocation."""


def register(app):
    from inventory import api, cli, jobs, views

    app.register_blueprint(views.bp)
    from inventory import views_stock_check

    app.register_blueprint(views_stock_check.bp)
    from inventory import stocktake, views_stocktake

    app.register_blueprint(views_stocktake.bp)
    app.extensions.setdefault("yaofang.dashboard_panels", []).append(stocktake.dashboard_panel)
    from inventory.services import label

    app.jinja_env.filters["label"] = label
    app.register_blueprint(api.bp)
    cli.register(app)
    jobs.register()
    from core.api import register_openapi

    register_openapi(app, api.OPENAPI)
