"""Inventory pages: drug search, drug and lot detail with the movement ledger, locations, transfers."""
from __future__ import annotations

import uuid

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from core.auth import current_actor, requires
from core.db import get_session
from core.errors import YaofangError
from core.permissions import Perm
from core.services import get_store
from core.web import int_arg
from inventory import services as inv
from inventory.forms import TransferForm
from inventory.models import Location

bp = Blueprint("inventory", __name__)


@bp.route("/drugs")
@requires(Perm.DRUG_READ)
def drugs():
    q = (request.args.get("q") or "").strip()
    page = int_arg("page", 1, minimum=1, maximum=10000)
    results = inv.search_drugs(get_session(), q, limit=50, offset=(page - 1) * 50)
    template = "inventory/_drug_results.html" if request.headers.get("HX-Request") else "inventory/drugs.html"
    return render_template(template, q=q, results=results, page=page)


def _drug_page(drug_id: int, form: TransferForm | None = None, status: int = 200):
    actor = current_actor()
    db = get_session()
    store = get_store(db, actor.store_id)
    drug = inv.get_drug(db, drug_id)
    lots = inv.lots_of_drug(db, store.id, drug_id)
    balances = inv.balances_of_drug(db, store.id, drug_id)
    page = int_arg("page", 1, minimum=1, maximum=100000)
    ledger = inv.movements(db, store.id, drug_id=drug_id, limit=50, offset=(page - 1) * 50)
    today = inv.store_today(store)
    tiers = tuple(current_app.config["EXPIRY_TIERS_DAYS"])
    if form is None and actor.can(Perm.STOCK_TRANSFER):
        form = TransferForm(formdata=None, client_uuid=str(uuid.uuid4()))
    if form is not None:
        _fill_transfer_choices(form, lots, inv.store_locations(db, store.id))
    return render_template("inventory/drug_detail.html", drug=drug, lots=lots, balances=balances, ledger=ledger,
                           barcodes=inv.drug_barcodes(db, drug_id), today=today, tiers=tiers, form=form, page=page,
                           store=store, sellability=inv.sellability, describe=inv.describe_reasons,
                           tier_of=lambda d: inv.expiry_tier(d, today, tiers),
                           status_label=inv.lot_status_label), status


def _fill_transfer_choices(form: TransferForm, lots, locations: list[Location]) -> None:
    form.lot_id.choices = [(lot.id, f"{lot.lot_no} · {lot.expiry_date or '—'} · {qty}") for lot, qty in lots if qty]
    choices = [(loc.id, f"{loc.code} {loc.name}") for loc in locations if loc.active]
    form.from_location_id.choices = choices
    form.to_location_id.choices = choices


@bp.route("/drugs/<int:drug_id>")
@requires(Perm.DRUG_READ)
def drug_detail(drug_id: int):
    return _drug_page(drug_id)


@bp.route("/drugs/<int:drug_id>/transfer", methods=["POST"])
@requires(Perm.STOCK_TRANSFER)
def transfer(drug_id: int):
    actor = current_actor()
    db = get_session()
    store = get_store(db, actor.store_id)
    form = TransferForm()
    _fill_transfer_choices(form, inv.lots_of_drug(db, store.id, drug_id), inv.store_locations(db, store.id))
    if not form.validate():
        flash(_("Please correct the transfer: %(errors)s",
                errors="; ".join(f"{form[k].label.text}: {', '.join(v)}" for k, v in form.errors.items())), "error")
        return _drug_page(drug_id, form, 422)
    lot = inv.get_lot(db, form.lot_id.data, store.id)
    if lot.drug_id != drug_id:
        flash(_("That lot belongs to another drug."), "error")
        return _drug_page(drug_id, form, 422)
    try:
        inv.transfer_stock(db, actor, store=store, lot_id=lot.id, from_location_id=form.from_location_id.data,
                           to_location_id=form.to_location_id.data, quantity=form.quantity.data,
                           reason=form.reason.data or "", client_uuid=form.client_uuid.data or None)
    except YaofangError as exc:
        flash(str(exc.message), "error")
        return _drug_page(drug_id, form, exc.status)
    flash(_("Moved %(q)d of lot %(lot)s.", q=form.quantity.data, lot=lot.lot_no), "success")
    return redirect(url_for("inventory.drug_detail", drug_id=drug_id))


@bp.route("/lots/<int:lot_id>")
@requires(Perm.STOCK_READ)
def lot_detail(lot_id: int):
    actor = current_actor()
    db = get_session()
    store = get_store(db, actor.store_id)
    lot = inv.get_lot(db, lot_id, store.id)
    drug = inv.get_drug(db, lot.drug_id)
    today = inv.store_today(store)
    balances = [(b, loc) for b, l, loc in inv.balances_of_drug(db, store.id, drug.id) if l.id == lot.id]
    return render_template("inventory/lot_detail.html", lot=lot, drug=drug, balances=balances,
                           events=inv.lot_events(db, lot.id), ledger=inv.movements(db, store.id, lot_id=lot.id),
                           status_label=inv.lot_status_label,
                           reasons=inv.sellability(drug, lot, None, today), describe=inv.describe_reasons,
                           tier=inv.expiry_tier(lot.expiry_date, today,
                                                tuple(current_app.config["EXPIRY_TIERS_DAYS"])))


@bp.route("/locations")
@requires(Perm.LOCATION_READ)
def locations():
    from sqlmodel import func, select

    from inventory.models import StockBalance

    actor = current_actor()
    db = get_session()
    totals = dict(db.exec(select(StockBalance.location_id, func.sum(StockBalance.quantity))
                          .where(StockBalance.store_id == actor.store_id).group_by(StockBalance.location_id)).all())
    lots = dict(db.exec(select(StockBalance.location_id, func.count(StockBalance.id))
                        .where(StockBalance.store_id == actor.store_id, StockBalance.quantity > 0)
                        .group_by(StockBalance.location_id)).all())
    return render_template("inventory/locations.html", locations=inv.store_locations(db, actor.store_id),
                           totals=totals, lots=lots)


@bp.route("/locations/<int:location_id>")
@requires(Perm.LOCATION_READ)
def location_detail(location_id: int):
    from sqlmodel import select

    from inventory.models import Drug, Lot, StockBalance

    actor = current_actor()
    db = get_session()
    location = inv.get_location(db, location_id, actor.store_id)
    rows = db.exec(select(StockBalance, Lot, Drug).join(Lot, Lot.id == StockBalance.lot_id)
                   .join(Drug, Drug.id == Lot.drug_id)
                   .where(StockBalance.location_id == location.id, StockBalance.quantity > 0)
                   .order_by(Drug.generic_name, Lot.expiry_date)).all()
    return render_template("inventory/location_detail.html", location=location, rows=rows,
                           status_label=inv.lot_status_label)
