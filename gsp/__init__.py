"""GSP: quality locks, non-conforming stock, destruction, recall, stop-sale notices, expiry tiers (quality.py);
storage conditions, curing (养护) and temperature/humidity readings (curing.py); qualified suppliers and drugs
(qualification.py); purchase orders, receiving, acceptance and purchase returns (purchasing.py)."""


def register(app):
    from core.api import register_openapi
    from gsp import api, jobs, views

    app.register_blueprint(views.bp)
    app.register_blueprint(api.bp)
    register_openapi(app, api.OPENAPI)
    jobs.register()
    from gsp.demo import load_quality_demo
    from gsp.quality import dashboard_panel

    app.extensions.setdefault("yaofang.dashboard_panels", []).append(dashboard_panel)
    app.extensions.setdefault("yaofang.demo_loaders", []).append(load_quality_demo)
    from gsp.demo_procurement import load_procurement_demo  # after the quality demo, before the counter's

    app.extensions["yaofang.demo_loaders"].append(load_procurement_demo)
    from gsp import api_curing, curing, views_curing  # curing (养护) and temperature/humidity
    app.register_blueprint(views_curing.bp)
    app.register_blueprint(api_curing.bp)
    register_openapi(app, api_curing.OPENAPI)
    app.extensions.setdefault("yaofang.dashboard_panels", []).append(curing.dashboard_panel)
    from gsp import api_procurement, purchasing, qualification, views_procurement  # noqa: F401 (licence source)
    app.register_blueprint(views_procurement.bp)
    app.register_blueprint(api_procurement.bp)
    register_openapi(app, api_procurement.OPENAPI)
    app.extensions.setdefault("yaofang.dashboard_panels", []).append(purchasing.dashboard_panel)
