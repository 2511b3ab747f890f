"""Stocktake (盘点) pages: list, start, blind count (scan or type), verify, variance report (printable), approve."""
from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from core.auth import current_actor, requires
from core.db import get_session
from core.errors import InvalidInput, YaofangError
from core.permissions import Perm
from core.services import get_store
from core.web import int_arg
from inventory import services as inv
from inventory import stocktake as stk
from inventory.forms import (StartStocktakeForm, StocktakeCountForm, StocktakeNoteForm, StocktakeReasonForm,
                             StocktakeScanForm)
from inventory.models import StocktakeStatus

bp = Blueprint("stocktake", __name__, url_prefix="/stocktakes")

MAX_TYPED_LENGTH = 12


def _context():
    actor = current_actor()
    db = get_session()
    return actor, db, get_store(db, actor.store_id)


def _form_errors(form) -> InvalidInput:
    return InvalidInput(_l("Please correct: %(errors)s",
                           errors="; ".join(f"{form[k].label.text}: {', '.join(v)}" for k, v in form.errors.items())),
                        code="invalid_form")


def _location_choices(db, store_id: int):
    return [(0, _("All locations"))] + [(loc.id, f"{loc.code} {loc.name}")
                                        for loc in inv.store_locations(db, store_id) if loc.active]


def _common(db, st):
    names = stk.user_names(db, [st.started_by, st.submitted_by, st.verified_by, st.approved_by, st.cancelled_by])
    location = inv.get_location(db, st.location_id) if st.location_id else None
    return {"st": st, "names": names, "scope_location": location, "status_label": stk.status_label,
            "kind_label": stk.kind_label}


@bp.route("")
@requires(Perm.STOCK_READ)
def index():
    actor, db, store = _context()
    status = (request.args.get("status") or "").strip() or None
    page = int_arg("page", 1, minimum=1, maximum=10000)
    rows = stk.list_stocktakes(db, store.id, status=status, limit=50, offset=(page - 1) * 50)
    names = stk.user_names(db, {s.started_by for s in rows})
    tasks = {st.id: task for st, task in stk.tasks_for(db, actor, store.id)}
    return render_template("inventory/stocktake_list.html", rows=rows, names=names, tasks=tasks, status=status,
                           page=page, statuses=list(StocktakeStatus), status_label=stk.status_label,
                           kind_label=stk.kind_label, locations={l.id: l for l in inv.store_locations(db, store.id)})


@bp.route("/new", methods=["GET", "POST"])
@requires(Perm.STOCKTAKE_MANAGE)
def start():
    actor, db, store = _context()
    form = StartStocktakeForm()
    form.kind.choices = [(str(k), label) for k, label in stk.KIND_LABELS.items()]
    form.location_id.choices = _location_choices(db, store.id)
    status = 200
    if request.method == "POST":
        if not form.validate():
            raise _form_errors(form)
        try:
            st = stk.start_stocktake(db, actor, store=store, kind=form.kind.data,
                                     location_id=form.location_id.data or None, note=form.note.data or "")
        except YaofangError as exc:
            flash(str(exc.message), "error")
            status = exc.status
        else:
            flash(_("Stocktake #%(id)s started: expected quantities are frozen. Counting is blind.", id=st.id),
                  "success")
            return redirect(url_for("stocktake.count", stocktake_id=st.id))
    return render_template("inventory/stocktake_start.html", form=form), status


# --- counting ---------------------------------------------------------------------------------------------------------

def _count_page(stocktake_id: int, scan_form=None, status: int = 200, last_scan=None):
    actor, db, store = _context()
    st = stk.get_stocktake(db, stocktake_id, store.id)
    if scan_form is None:
        scan_form = StocktakeScanForm(formdata=None)
    scan_form.location_id.choices = _location_choices(db, store.id)
    # Blind: line_views without expected quantities; the template has no way to show them.
    lines = stk.line_views(db, st, with_expected=False)
    return render_template("inventory/stocktake_count.html", lines=lines, scan_form=scan_form,
                           count_form=StocktakeCountForm(formdata=None), last_scan=last_scan,
                           counted=sum(1 for v in lines if v.counted is not None), **_common(db, st)), status


@bp.route("/<int:stocktake_id>/count", methods=["GET"])
@requires(Perm.STOCKTAKE_COUNT)
def count(stocktake_id: int):
    return _count_page(stocktake_id)


def _typed_counts() -> list[tuple[int, int]]:
    counts = []
    for key, raw in request.form.items():
        if not key.startswith("qty-"):
            continue
        raw = (raw or "").strip()
        if not raw:
            continue
        try:
            line_id = int(key[4:])
        except ValueError:
            raise InvalidInput(_l("Unknown field %(name)s.", name=key[:20]), code="invalid_line")
        if len(raw) > MAX_TYPED_LENGTH or not raw.lstrip("-").isdigit():
            raise InvalidInput(_l("Counts are whole numbers of smallest units; %(raw)s is not.", raw=raw[:20]),
                               code="invalid_quantity")
        counts.append((line_id, int(raw)))
    return counts


@bp.route("/<int:stocktake_id>/count", methods=["POST"])
@requires(Perm.STOCKTAKE_COUNT)
def record_counts(stocktake_id: int):
    actor, db, store = _context()
    form = StocktakeCountForm()
    if not form.validate():
        raise _form_errors(form)
    try:
        rows = stk.record_counts(db, actor, stocktake_id, store, _typed_counts())
    except YaofangError as exc:
        flash(str(exc.message), "error")
        return _count_page(stocktake_id, status=exc.status)
    flash(_("%(n)d counts recorded.", n=len(rows)), "success")
    return redirect(url_for("stocktake.count", stocktake_id=stocktake_id))


@bp.route("/<int:stocktake_id>/scan", methods=["POST"])
@requires(Perm.STOCKTAKE_COUNT)
def scan(stocktake_id: int):
    actor, db, store = _context()
    form = StocktakeScanForm()
    form.location_id.choices = _location_choices(db, store.id)
    if not form.validate():
        flash(str(_form_errors(form).message), "error")
        return _count_page(stocktake_id, form, 422)
    try:
        result = stk.count_by_scan(db, actor, stocktake_id, store, form.code.data, packs=form.packs.data,
                                   location_id=form.location_id.data or None)
    except YaofangError as exc:
        flash(str(exc.message), "error")
        return _count_page(stocktake_id, form, exc.status)
    flash(_("%(drug)s lot %(lot)s at %(loc)s: +%(add)d, counted %(total)d so far.", drug=result.drug_name,
            lot=result.lot_no, loc=result.location_code, add=result.added, total=result.quantity), "success")
    return redirect(url_for("stocktake.count", stocktake_id=stocktake_id))


@bp.route("/<int:stocktake_id>/submit", methods=["POST"])
@requires(Perm.STOCKTAKE_COUNT)
def submit(stocktake_id: int):
    actor, db, store = _context()
    form = StocktakeCountForm()
    if not form.validate():
        raise _form_errors(form)
    try:
        stk.submit_counts(db, actor, stocktake_id, store)
    except YaofangError as exc:
        flash(str(exc.message), "error")
        return _count_page(stocktake_id, status=exc.status)
    flash(_("Counts submitted: a second person verifies them now."), "success")
    return redirect(url_for("stocktake.index"))


# --- verify, report, approve, cancel ----------------------------------------------------------------------------------

def _review_page(template: str, stocktake_id: int, status: int = 200, **extra):
    actor, db, store = _context()
    st = stk.get_stocktake(db, stocktake_id, store.id)
    report = None
    if st.status != StocktakeStatus.OPEN and stk.can_see_expected(actor, st):
        report = stk.variance_report(db, actor, st)
    return render_template(template, report=report, counters=stk.user_names(db, stk.counters_of(db, st.id)),
                           note_form=StocktakeNoteForm(formdata=None), reason_form=StocktakeReasonForm(formdata=None),
                           **_common(db, st), **extra), status


@bp.route("/<int:stocktake_id>/verify", methods=["GET"])
@requires(Perm.STOCKTAKE_MANAGE)
def verify_page(stocktake_id: int):
    return _review_page("inventory/stocktake_verify.html", stocktake_id)


def _review_action(template: str, stocktake_id: int, form, action, success: str, target: str):
    actor, db, store = _context()
    if not form.validate():
        raise _form_errors(form)
    try:
        action(db, actor, store, form)
    except YaofangError as exc:
        flash(str(exc.message), "error")
        return _review_page(template, stocktake_id, exc.status)
    flash(success, "success")
    return redirect(url_for(target, stocktake_id=stocktake_id))


@bp.route("/<int:stocktake_id>/verify", methods=["POST"])
@requires(Perm.STOCKTAKE_MANAGE)
def verify(stocktake_id: int):
    return _review_action("inventory/stocktake_verify.html", stocktake_id, StocktakeNoteForm(),
                          lambda db, actor, store, form: stk.verify_stocktake(db, actor, stocktake_id, store,
                                                                              form.note.data or ""),
                          _("Stocktake verified: it waits for approval."), "stocktake.report")


@bp.route("/<int:stocktake_id>/recount", methods=["POST"])
@requires(Perm.STOCKTAKE_MANAGE)
def recount(stocktake_id: int):
    return _review_action("inventory/stocktake_verify.html", stocktake_id, StocktakeReasonForm(),
                          lambda db, actor, store, form: stk.return_for_recount(db, actor, stocktake_id, store,
                                                                                form.reason.data),
                          _("Sent back for recount."), "stocktake.count")


@bp.route("/<int:stocktake_id>/cancel", methods=["POST"])
@requires(Perm.STOCKTAKE_MANAGE)
def cancel(stocktake_id: int):
    return _review_action("inventory/stocktake_verify.html", stocktake_id, StocktakeReasonForm(),
                          lambda db, actor, store, form: stk.cancel_stocktake(db, actor, stocktake_id, store,
                                                                              form.reason.data),
                          _("Stocktake cancelled."), "stocktake.report")


@bp.route("/<int:stocktake_id>/report")
@requires(Perm.STOCK_READ)
def report(stocktake_id: int):
    actor, db, store = _context()
    st = stk.get_stocktake(db, stocktake_id, store.id)
    variance = stk.variance_report(db, actor, st)  # refuses while counting (blind) and, until verified, non-verifiers
    return render_template("inventory/stocktake_report.html", report=variance, store=store,
                           counters=stk.user_names(db, stk.counters_of(db, st.id)), **_common(db, st))


@bp.route("/<int:stocktake_id>/approve", methods=["GET"])
@requires(Perm.STOCKTAKE_APPROVE)
def approve_page(stocktake_id: int):
    return _review_page("inventory/stocktake_approve.html", stocktake_id)


@bp.route("/<int:stocktake_id>/approve", methods=["POST"])
@requires(Perm.STOCKTAKE_APPROVE)
def approve(stocktake_id: int):
    return _review_action("inventory/stocktake_approve.html", stocktake_id, StocktakeCountForm(),
                          lambda db, actor, store, form: stk.approve_stocktake(db, actor, stocktake_id, store),
                          _("Stocktake approved: gains and losses are posted to the stock ledger."),
                          "stocktake.report")
