"""Quality pages: suspect and locked lots, non-conforming stock, destruction, stop-sale notices, recalls and the
near-expiry push list (近效期催销表)."""
from __future__ import annotations

from flask import Blueprint, current_app, render_template, request, url_for
from flask_babel import gettext as _
from sqlmodel import select

from core.auth import current_actor, requires
from core.db import get_session
from core.errors import NotFound
from core.models import User
from core.permissions import Perm
from core.services import get_store
from core.web import int_arg, run_form
from gsp import quality as q
from gsp.forms import (DestructionDecisionForm, DestructionRequestForm, FlagForm, LockForm, NonconformingForm,
                       NoteForm, RecallForm, RecoveryForm, SaleStopForm, UnlockForm)
from gsp.models import DestructionStatus, RecallStatus
from inventory import services as inv
from inventory.models import Drug, LotStatus

bp = Blueprint("gsp", __name__, url_prefix="/quality")


# --- overview -------------------------------------------------------------------------------------------------------------

@bp.route("/")
@requires(Perm.QUALITY_READ)
def overview():
    actor = current_actor()
    db = get_session()
    return render_template(
        "gsp/quality.html", reports=q.open_suspect_reports(db, actor.store_id),
        locked=q.lots_in_status(db, actor.store_id, [LotStatus.LOCKED, LotStatus.RECALLED]),
        nonconforming=q.lots_in_status(db, actor.store_id, [LotStatus.NONCONFORMING]),
        destructions=q.pending_destructions(db, actor.store_id),
        stops=q.sale_stops(db, active_only=True),
        recalls=[(r, d) for r, d in q.recalls(db) if r.status == RecallStatus.OPEN],
        status_label=inv.lot_status_label, found_labels=q.FOUND_WHERE_LABELS)


# --- one lot --------------------------------------------------------------------------------------------------------------

def _lot_page(lot_id: int, status: int = 200, **forms):
    actor = current_actor()
    db = get_session()
    info = q.lot_quality(db, lot_id, actor.store_id)
    staff = db.exec(select(User).where(User.store_id == actor.store_id, User.active.is_(True))
                    .order_by(User.display_name)).all()
    decision = forms.get("decision") or DestructionDecisionForm(formdata=None)
    decision.witness_id.choices = [(0, "—")] + [(u.id, u.display_name) for u in staff]
    today = inv.store_today(info.store)
    return render_template(
        "gsp/lot.html", info=info, today=today, status_label=inv.lot_status_label,
        lock_labels=q.LOCK_REASON_LABELS, found_labels=q.FOUND_WHERE_LABELS, users={u.id: u for u in staff},
        reasons=inv.sellability(info.drug, info.lot, None, today), describe=inv.describe_reasons,
        flag_form=forms.get("flag") or FlagForm(formdata=None),
        lock_form=forms.get("lock") or LockForm(formdata=None),
        unlock_form=forms.get("unlock") or UnlockForm(formdata=None),
        nonconforming_form=forms.get("nonconforming") or NonconformingForm(formdata=None),
        destruction_form=forms.get("destruction") or DestructionRequestForm(formdata=None),
        decision_form=decision, requested=DestructionStatus.REQUESTED,
        destruction_labels=q.DESTRUCTION_STATUS_LABELS), status


@bp.route("/lots/<int:lot_id>")
@requires(Perm.QUALITY_READ)
def lot(lot_id: int):
    return _lot_page(lot_id)


@bp.route("/lots/<int:lot_id>/flag", methods=["POST"])
@requires(Perm.QUALITY_FLAG)
def flag(lot_id: int):
    form = FlagForm()
    return run_form(form, lambda: q.flag_suspect(get_session(), current_actor(), lot_id,
                                             found_where=form.found_where.data, note=form.note.data),
                _("Reported: the quality manager has been told."), lambda s: _lot_page(lot_id, s, flag=form),
                lambda r: url_for("gsp.lot", lot_id=lot_id))


@bp.route("/lots/<int:lot_id>/lock", methods=["POST"])
@requires(Perm.QUALITY_LOCK)
def lock(lot_id: int):
    form = LockForm()
    return run_form(form, lambda: q.lock_lot(get_session(), current_actor(), lot_id, reason=form.reason.data,
                                          note=form.note.data),
                _("Lot locked: no counter or issuing path can take it now."),
                lambda s: _lot_page(lot_id, s, lock=form),
                lambda r: url_for("gsp.lot", lot_id=lot_id))


@bp.route("/lots/<int:lot_id>/unlock", methods=["POST"])
@requires(Perm.QUALITY_LOCK)
def unlock(lot_id: int):
    form = UnlockForm()
    return run_form(form, lambda: q.unlock_lot(get_session(), current_actor(), lot_id, conclusion=form.conclusion.data),
                _("Lot unlocked: it is on sale again."), lambda s: _lot_page(lot_id, s, unlock=form),
                lambda r: url_for("gsp.lot", lot_id=lot_id))


@bp.route("/lots/<int:lot_id>/nonconforming", methods=["POST"])
@requires(Perm.QUALITY_LOCK)
def nonconforming(lot_id: int):
    form = NonconformingForm()
    return run_form(form, lambda: q.declare_nonconforming(get_session(), current_actor(), lot_id,
                                                       reason=form.reason.data, note=form.note.data,
                                                       counterfeit=bool(form.counterfeit.data)),
                _("Recorded as non-conforming; its stock is now in the red area."),
                lambda s: _lot_page(lot_id, s, nonconforming=form),
                lambda r: url_for("gsp.lot", lot_id=lot_id))


@bp.route("/lots/<int:lot_id>/destruction", methods=["POST"])
@requires(Perm.QUALITY_LOCK)
def request_destruction(lot_id: int):
    form = DestructionRequestForm()
    return run_form(form, lambda: q.request_destruction(get_session(), current_actor(), lot_id,
                                                     quantity=form.quantity.data, method=form.method.data,
                                                     reason=form.reason.data),
                _("Destruction requested: another person approves it before a witness."),
                lambda s: _lot_page(lot_id, s, destruction=form),
                lambda r: url_for("gsp.lot", lot_id=lot_id))


@bp.route("/destructions/<int:destruction_id>/decide", methods=["POST"])
@requires(Perm.QUALITY_DESTROY)
def decide_destruction(destruction_id: int):
    from gsp.models import Destruction

    db = get_session()
    item = db.get(Destruction, destruction_id)
    if item is None or item.store_id != current_actor().store_id:
        raise NotFound(_("Destruction %(id)s not found.", id=destruction_id))
    form = DestructionDecisionForm()
    form.witness_id.choices = [(0, "—")] + [(u.id, u.display_name) for u in db.exec(
        select(User).where(User.store_id == item.store_id)).all()]
    approve = form.decision.data == "approve"
    return run_form(form, lambda: q.decide_destruction(db, current_actor(), destruction_id, approve=approve,
                                                    witness_id=form.witness_id.data or None, note=form.note.data),
                _("Destruction approved: the stock left the red area.") if approve else _("Destruction rejected."),
                lambda s: _lot_page(item.lot_id, s, decision=form),
                lambda r: url_for("gsp.lot", lot_id=item.lot_id))


# --- stop-sale notices ----------------------------------------------------------------------------------------------------

def _stops_page(status: int = 200, form=None):
    return render_template("gsp/stops.html", stops=q.sale_stops(get_session()),
                           form=form or SaleStopForm(formdata=None), lift_form=NoteForm(formdata=None)), status


@bp.route("/stops")
@requires(Perm.QUALITY_READ)
def stops():
    return _stops_page()


@bp.route("/stops", methods=["POST"])
@requires(Perm.QUALITY_LOCK)
def issue_stop():
    form = SaleStopForm()

    def action():
        db = get_session()
        return q.issue_sale_stop(db, current_actor(), drug_id=inv.drug_by_code_or_barcode(db, form.drug_code.data).id,
                                 lot_no=form.lot_no.data, reason=form.reason.data)
    return run_form(form, action, _("Stop-sale notice issued: the lots are locked in every store."),
                lambda s: _stops_page(s, form),
                lambda r: url_for("gsp.stops"))


@bp.route("/stops/<int:stop_id>/lift", methods=["POST"])
@requires(Perm.QUALITY_LOCK)
def lift_stop(stop_id: int):
    form = NoteForm()
    return run_form(form, lambda: q.lift_sale_stop(get_session(), current_actor(), stop_id, note=form.note.data),
                _("Sale resumed: the lots this notice locked are released."), lambda s: _stops_page(s),
                lambda r: url_for("gsp.stops"))


# --- recalls --------------------------------------------------------------------------------------------------------------

def _recalls_page(status: int = 200, form=None):
    return render_template("gsp/recalls.html", recalls=q.recalls(get_session()),
                           form=form or RecallForm(formdata=None)), status


@bp.route("/recalls")
@requires(Perm.QUALITY_READ)
def recalls():
    return _recalls_page()


@bp.route("/recalls", methods=["POST"])
@requires(Perm.QUALITY_LOCK)
def issue_recall():
    form = RecallForm()

    def action():
        db = get_session()
        return q.issue_recall(db, current_actor(), drug_id=inv.drug_by_code_or_barcode(db, form.drug_code.data).id,
                              lot_nos=form.lot_nos.data, level=form.level.data, reason=form.reason.data,
                              measure=form.measure.data)
    return run_form(form, action, _("Recall issued: the lots are recalled in every store."),
                lambda s: _recalls_page(s, form),
                lambda recall: url_for("gsp.recall_detail", recall_id=recall.id))


def _recall_page(recall_id: int, status: int = 200, form=None):
    actor = current_actor()
    db = get_session()
    recall = q.get_recall(db, recall_id)
    lots = q.recall_lots(db, recall.id)
    form = form or RecoveryForm(formdata=None)
    form.lot_id.choices = [(lot.id, lot.lot_no) for link, lot, store in lots if store.id == actor.store_id]
    sales = q.recall_sales(db, recall.id, finder=current_app.extensions.get("yaofang.lot_sales"))
    return render_template("gsp/recall.html", recall=recall, drug=db.get(Drug, recall.drug_id), lots=lots,
                           sales=sales, form=form, close_form=NoteForm(formdata=None),
                           measures=q.RECALL_MEASURES, status_label=inv.lot_status_label), status


@bp.route("/recalls/<int:recall_id>")
@requires(Perm.QUALITY_READ)
def recall_detail(recall_id: int):
    return _recall_page(recall_id)


@bp.route("/recalls/<int:recall_id>/recovery", methods=["POST"])
@requires(Perm.QUALITY_LOCK)
def recall_recovery(recall_id: int):
    form = RecoveryForm()
    db = get_session()
    form.lot_id.choices = [(lot.id, lot.lot_no) for _link, lot, _store in q.recall_lots(db, recall_id)]
    return run_form(form, lambda: q.record_recovery(db, current_actor(), recall_id, lot_id=form.lot_id.data,
                                                 quantity=form.quantity.data, sale_number=form.sale_number.data,
                                                 note=form.note.data,
                                                 finder=current_app.extensions.get("yaofang.lot_sales")),
                _("Recovered quantity recorded."), lambda s: _recall_page(recall_id, s, form),
                lambda r: url_for("gsp.recall_detail", recall_id=recall_id))


@bp.route("/recalls/<int:recall_id>/close", methods=["POST"])
@requires(Perm.QUALITY_LOCK)
def close_recall(recall_id: int):
    form = NoteForm()
    return run_form(form, lambda: q.close_recall(get_session(), current_actor(), recall_id, note=form.note.data),
                _("Recall closed."), lambda s: _recall_page(recall_id, s),
                lambda r: url_for("gsp.recall_detail", recall_id=recall_id))


# --- near-expiry push list ------------------------------------------------------------------------------------------------

@bp.route("/near-expiry")
@requires(Perm.QUALITY_READ)
def near_expiry():
    actor = current_actor()
    db = get_session()
    store = get_store(db, actor.store_id)
    tiers = tuple(current_app.config["EXPIRY_TIERS_DAYS"])
    days = int_arg("days", max(tiers), minimum=1, maximum=3650)
    location_id = int_arg("location_id", 0, minimum=0, maximum=2**31 - 1) or None
    rows = q.near_expiry_push_list(db, store, within_days=days, location_id=location_id, tiers_days=tiers)
    return render_template("gsp/near_expiry.html", rows=rows, days=days, tiers=sorted(tiers), store=store,
                           location_id=location_id, locations=inv.store_locations(db, store.id),
                           today=inv.store_today(store), total_fen=sum(r.value_fen for r in rows),
                           printable=request.args.get("print") == "1")
