"""The store manager's sales view (first cut): a business day by hour, tender, cashier and drug."""
from __future__ import annotations

from datetime import datetime

from flask import Blueprint, render_template, request
from flask_babel import gettext as _

from core.auth import current_actor, requires
from core.db import get_session
from core.errors import InvalidInput
from core.permissions import Perm
from core.services import get_store
from inventory.services import store_today
from pos.reports import day_report, hour_chart_svg

bp = Blueprint("pos_reports", __name__)


@bp.route("/reports/sales")
@requires(Perm.SALES_READ)
def sales_day():
    db = get_session()
    store = get_store(db, current_actor().store_id)
    raw = (request.args.get("date") or "").strip()
    try:
        day = datetime.strptime(raw, "%Y-%m-%d").date() if raw else store_today(store)
    except ValueError:
        raise InvalidInput(_("Dates are written as YYYY-MM-DD."))
    report = day_report(db, store, day)
    return render_template("pos/sales_report.html", report=report, store=store, chart=hour_chart_svg(report),
                           today=store_today(store))
