"""Point of sale: registers, shifts, carts, the append-only sales journal, receipts, day close."""


def register(app):
    from pos import cli, views, views_reports
    from pos.models import TENDER_LABELS

    app.register_blueprint(views.bp)
    app.register_blueprint(views_reports.bp)
    from core.api import register_openapi
    from pos import api

    app.register_blueprint(api.bp)
    register_openapi(app, api.OPENAPI)
    app.jinja_env.filters["tender_label"] = lambda t: TENDER_LABELS.get(t, t)
    from pos.services import sales_of_lots

    app.extensions["yaofang.lot_sales"] = sales_of_lots  # what a recall must reach, for the quality pages
    cli.register(app)
    from pos.demo import load_pos_demo

    app.extensions.setdefault("yaofang.demo_loaders", []).append(load_pos_demo)

    def start_print_worker(app):
        if not app.config.get("PRINT_WORKER_IN_PROCESS", True):
            return
        from pos.printing import start_worker

        start_worker(app)

    app.extensions.setdefault("yaofang.background", []).append(start_print_worker)
