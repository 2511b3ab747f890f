"""Inventory: drug master, lots, locations, the stock ledger (movements + balances), FEFO allocation."""


def register(app):
    from inventory import api, cli, jobs, views

    app.register_blueprint(views.bp)
    from inventory.services import label

    app.jinja_env.filters["label"] = label
    app.register_blueprint(api.bp)
    cli.register(app)
    jobs.register()
    from core.api import register_openapi

    register_openapi(app, api.OPENAPI)
