"""`yaofang stock …` and `yaofang demo`."""
from __future__ import annotations

import sys

import click
from flask import current_app
from flask.cli import with_appcontext

from core.db import get_session


@click.group("stock")
def stock_group():
    """The stock ledger."""


@stock_group.command("verify")
@click.option("--store", "store_code", default=None, help="Only this store (code).")
@with_appcontext
def stock_verify(store_code):
    """Check that every balance equals the sum of its movements. Exit code 1 names the differences."""
    from sqlmodel import select

    from core.models import Store
    from inventory.services import verify_ledger

    db = get_session()
    store_id = None
    if store_code:
        store = db.exec(select(Store).where(Store.code == store_code)).first()
        if store is None:
            click.echo(f"error: no store {store_code}", err=True)
            sys.exit(2)
        store_id = store.id
    problems = verify_ledger(db, store_id)
    if not problems:
        click.echo("ledger OK: every balance equals the sum of its movements")
        return
    for p in problems:
        click.echo(f"MISMATCH lot {p['lot_id']} location {p['location_id']}: balance {p['balance']}, "
                   f"movements total {p['movements_total']}")
    sys.exit(1)


@click.command("demo")
@with_appcontext
def demo_command():
    """Load the demo store (real catalogue rows and barcodes from the shared data) into an empty database."""
    from sqlmodel import select

    from core.models import User

    db = get_session()
    if db.exec(select(User.id)).first() is not None:
        click.echo("error: the database already has users; the demo loads only into an empty database", err=True)
        sys.exit(2)
    for loader in current_app.extensions.get("yaofang.demo_loaders", []):
        click.echo(loader(db, current_app.config))


def register(app) -> None:
    from inventory.demo import load_demo

    app.extensions.setdefault("yaofang.demo_loaders", []).insert(0, load_demo)
    app.cli.add_command(stock_group)
    app.cli.add_command(demo_command)
