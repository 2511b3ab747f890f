"""GSP: quality locks, non-conforming stock, destruction, recall, stop-sale notices, expiry tiers (quality.py);
storage conditions, curing (养护) and temperature/humidity readings (curing.py). Procurement comes later."""


def register(app):
    from core.api import register_openapi
    from gsp import api, jobs, views

    app.register_blueprint(views.bp)
    app.register_blueprint(api.bp)
    register_openapi(app, api.OPENAPI)
    jobs.register()
