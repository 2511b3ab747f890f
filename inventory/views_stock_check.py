"""The stock check page: the latest reorder suggestions, overstock and slow movers of the user's store, and the
reorder points and maximum levels behind them."""
from __future__ import annotations

from flask import Blueprint, current_app, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from sqlmodel import select

from core.auth import current_actor, requires
from core.db import get_session
from core.errors import YaofangError
from core.permissions import Perm
from core.services import get_store
from inventory import stock_check as sc
from inventory.forms import StockLevelForm
from inventory.models import Drug
from inventory.services import drug_by_barcode

bp = Blueprint("stock_check", __name__)


def _page(form: StockLevelForm | None = None, status: int = 200):
    actor = current_actor()
    db = get_session()
    store = get_store(db, actor.store_id)
    day, findings = sc.latest_findings(db, store)
    if form is None and actor.can(Perm.STOCK_TRANSFER):
        form = StockLevelForm(formdata=None)
    return render_template("inventory/stock_check.html", store=store, day=day, findings=findings,
                           labels=sc.FINDING_LABELS, levels=sc.store_levels(db, store.id), form=form,
                           slow_days=current_app.config.get("SLOW_MOVER_DAYS") or sc.DEFAULT_SLOW_MOVER_DAYS), status


@bp.route("/stock-check")
@requires(Perm.STOCK_READ)
def stock_check():
    return _page()


@bp.route("/stock-check/levels", methods=["POST"])
@requires(Perm.STOCK_TRANSFER)
def set_level():
    actor = current_actor()
    db = get_session()
    form = StockLevelForm()
    if not form.validate():
        flash(_("Please correct the levels: %(errors)s",
                errors="; ".join(f"{form[k].label.text}: {', '.join(map(str, v))}" for k, v in form.errors.items())),
              "error")
        return _page(form, 422)
    code = form.drug_code.data.strip()
    drug = db.exec(select(Drug).where(Drug.code == code)).first() or drug_by_barcode(db, code)
    if drug is None:
        flash(_("No drug with code or barcode %(code)s.", code=code), "error")
        return _page(form, 422)
    try:
        sc.set_stock_level(db, actor, store_id=actor.store_id, drug_id=drug.id,
                           reorder_point=form.reorder_point.data, max_level=form.max_level.data,
                           reorder_qty=form.reorder_qty.data, reason=form.reason.data or "")
    except YaofangError as exc:
        flash(str(exc.message), "error")
        return _page(form, exc.status)
    flash(_("Levels of %(drug)s saved.", drug=drug.display_name), "success")
    return redirect(url_for("stock_check.stock_check"))
