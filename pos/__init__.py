"""Point of sale: registers, shifts, carts, the append-only sales journal, receipts, day close."""


def register(app):
    from pos import views

    app.register_blueprint(views.bp)
