"""Point of sale: registers, shifts, carts, the append-only sales journal, receipts, day close."""


def register(app):
    from pos import cli, views

    app.register_blueprint(views.bp)
    cli.register(app)

    def start_print_worker(app):
        if not app.config.get("PRINT_WORKER_IN_PROCESS", True):
            return
        from pos.printing import start_worker

        start_worker(app)

    app.extensions.setdefault("yaofang.background", []).append(start_print_worker)
