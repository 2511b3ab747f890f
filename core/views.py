"""Core pages: login and logout, the per-role dashboard, the audit log, users, job runs, language switch."""
from __future__ import annotations

import json
from datetime import datetime, time, timedelta, timezone

from flask import Blueprint, current_app, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_login import login_user, logout_user
from sqlmodel import func, select

from core import clock
from core.auth import AUTHENTICATED, PUBLIC, SessionUser, current_actor, requires
from core.db import get_session
from core.errors import AccountLocked, AuthenticationRequired, InvalidInput
from core.forms import LoginForm
from core.i18n import SUPPORTED_LOCALES
from core.models import AuditEvent, JobRun, StaffLicence, Store, User, UserRole
from core.permissions import Perm, Role
from core.services import actor_for, authenticate, expiring_licences, get_store, notifications_for

bp = Blueprint("core", __name__)


def _safe_next(target: str | None) -> str:
    if target and target.startswith("/") and not target.startswith("//"):
        return target
    return url_for("core.dashboard")


@bp.route("/login", methods=["GET", "POST"])
@requires(PUBLIC)
def login():
    form = LoginForm()
    status = 200
    if form.validate_on_submit():
        cfg = current_app.config
        try:
            user = authenticate(get_session(), form.username.data, form.password.data,
                                max_failures=cfg["LOGIN_MAX_FAILURES"], lockout_minutes=cfg["LOGIN_LOCKOUT_MINUTES"],
                                ip=request.remote_addr)
        except (AuthenticationRequired, AccountLocked) as exc:
            flash(str(exc.message), "error")
            status = exc.status
        else:
            locale = session.get("locale")
            session.clear()  # a fresh session on login; keep only the language the user picked
            if locale:
                session["locale"] = locale
            login_user(SessionUser(user, actor_for(get_session(), user)))
            return redirect(_safe_next(request.args.get("next")))
    elif request.method == "POST":
        status = 400
    return render_template("core/login.html", form=form), status


@bp.route("/logout", methods=["POST"])
@requires(AUTHENTICATED)
def logout():
    logout_user()
    session.clear()
    flash(_("You have logged out."), "info")
    return redirect(url_for("core.login"))


@bp.route("/lang/<code>")
@requires(PUBLIC)
def set_language(code: str):
    if code not in SUPPORTED_LOCALES:
        raise InvalidInput(_("Unsupported language."))
    session["locale"] = code
    return redirect(_safe_next(request.args.get("next")))


@bp.route("/")
@requires(Perm.DASHBOARD_VIEW)
def dashboard():
    from inventory.services import attention_counts, near_expiry_lots

    actor = current_actor()
    db = get_session()
    store = get_store(db, actor.store_id)
    tiers = tuple(current_app.config["EXPIRY_TIERS_DAYS"])
    today = clock.today(store.timezone)
    context = {
        "store": store,
        "today": today,
        "counts": attention_counts(db, store, tiers),
        "near_expiry": near_expiry_lots(db, store, within_days=max(tiers), limit=10),
        "licences": expiring_licences(db, store.id, today, 30) if actor.can(Perm.USER_READ)
        or Role.PHARMACIST in actor.roles else [],
        "last_verify": db.exec(select(JobRun).where(JobRun.job == "stock_verify")
                               .order_by(JobRun.started_at.desc())).first() if actor.can(Perm.JOB_READ) else None,
        "tiers": tiers,
        "notifications": notifications_for(db, actor, store.id, limit=15),
        # Domain packages add what waits on this user (curing plans, stocktakes, locks…): each panel function
        # returns None or (template name, context) and is rendered in turn.
        "panels": [p for p in (panel(db, actor, store, today) for panel in
                               current_app.extensions.get("yaofang.dashboard_panels", [])) if p],
    }
    return render_template("core/dashboard.html", **context)


@bp.route("/store")
@requires(Perm.STORE_READ)
def store_profile():
    store = get_store(get_session(), current_actor().store_id)
    return render_template("core/store.html", store=store,
                           scope=[line for line in store.business_scope.splitlines() if line.strip()])


@bp.route("/audit")
@requires(Perm.AUDIT_READ)
def audit_log():
    from core.web import int_arg

    actor = current_actor()
    db = get_session()
    page = int_arg("page", 1, minimum=1, maximum=100000)
    per_page = 50
    stmt = select(AuditEvent).where(AuditEvent.store_id == actor.store_id)
    filters = {k: (request.args.get(k) or "").strip() for k in ("action", "entity_type", "entity_id", "actor",
                                                                  "date_from", "date_to")}
    if filters["action"]:
        stmt = stmt.where(AuditEvent.action.startswith(filters["action"]))
    if filters["entity_type"]:
        stmt = stmt.where(AuditEvent.entity_type == filters["entity_type"])
    if filters["entity_id"]:
        stmt = stmt.where(AuditEvent.entity_id == filters["entity_id"])
    if filters["actor"]:
        stmt = stmt.where(AuditEvent.actor_name == filters["actor"])
    store = get_store(db, actor.store_id)
    for key, op in (("date_from", "ge"), ("date_to", "lt")):
        if filters[key]:
            try:
                day = datetime.strptime(filters[key], "%Y-%m-%d").date()
            except ValueError:
                raise InvalidInput(_("Dates are written as YYYY-MM-DD."))
            if op == "lt":
                day = day + timedelta(days=1)
            from zoneinfo import ZoneInfo

            bound = datetime.combine(day, time(0), tzinfo=ZoneInfo(store.timezone)).astimezone(timezone.utc)
            stmt = stmt.where(AuditEvent.at >= bound if op == "ge" else AuditEvent.at < bound)
    total = db.exec(select(func.count()).select_from(stmt.subquery())).one()
    events = db.exec(stmt.order_by(AuditEvent.at.desc(), AuditEvent.id.desc())
                     .limit(per_page).offset((page - 1) * per_page)).all()
    rows = [(e, json.loads(e.summary or "{}")) for e in events]
    actions = db.exec(select(AuditEvent.action).where(AuditEvent.store_id == actor.store_id).distinct()
                      .order_by(AuditEvent.action)).all()
    return render_template("core/audit.html", rows=rows, filters=filters, page=page, total=total,
                           pages=max(1, (total + per_page - 1) // per_page), actions=actions)


@bp.route("/users")
@requires(Perm.USER_READ)
def users():
    actor = current_actor()
    db = get_session()
    people = db.exec(select(User).where(User.store_id == actor.store_id).order_by(User.username)).all()
    roles: dict[int, list[str]] = {}
    for row in db.exec(select(UserRole).join(User, User.id == UserRole.user_id)
                       .where(User.store_id == actor.store_id)).all():
        roles.setdefault(row.user_id, []).append(row.role)
    licences: dict[int, list[StaffLicence]] = {}
    for lic in db.exec(select(StaffLicence).join(User, User.id == StaffLicence.user_id)
                       .where(User.store_id == actor.store_id)).all():
        licences.setdefault(lic.user_id, []).append(lic)
    store = db.get(Store, actor.store_id)
    return render_template("core/users.html", people=people, roles=roles, licences=licences,
                           today=clock.today(store.timezone), now=clock.now())


@bp.route("/jobs")
@requires(Perm.JOB_READ)
def jobs():
    from core.scheduler import JOBS

    runs = get_session().exec(select(JobRun).order_by(JobRun.started_at.desc()).limit(100)).all()
    return render_template("core/jobs.html", runs=runs, jobs=JOBS)


@bp.route("/jobs/<name>/run", methods=["POST"])
@requires(Perm.JOB_RUN)
def run_job(name: str):
    from core.scheduler import run_job_now

    run = run_job_now(current_app._get_current_object(), name, triggered_by=current_actor().name)
    flash(_("Job %(name)s finished: %(status)s %(message)s", name=name, status=run.status, message=run.message),
          "info" if run.status == "ok" else "error")
    return redirect(url_for("core.jobs"))
