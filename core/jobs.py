"""Scheduled core jobs: the daily database backup and licence expiry warnings."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Callable, Iterable

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import and_, exists
from sqlalchemy.orm import aliased
from sqlmodel import Session, select

from core import clock
from core.db import get_session, transaction
from core.models import StaffLicence, User
from core.permissions import Perm
from core.scheduler import JobSpec, register_job
from core.services import notify


# --- database backup --------------------------------------------------------------------------------------------

def database_backup(app) -> str:
    """Back up the database into BACKUP_DIR and keep the BACKUP_KEEP newest backups."""
    from core.backup import backup_database, backup_dir, backup_keep

    cfg = app.config
    result = backup_database(cfg["DATABASE_URL"], backup_dir(cfg), keep=backup_keep(cfg), timezone=cfg["TIMEZONE"],
                             pg_bin_dir=cfg.get("PG_BIN_DIR"))
    return result.describe()


# --- licence expiry ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class LicenceWarning:
    """One licence that ends within the warning window (or has ended), as a notification to send once."""

    dedupe_key: str
    store_id: int | None
    permission: Perm
    title: str
    body: str
    entity_type: str
    entity_id: int


# A source finds the licences of one kind of holder that end by `until`: func(session, today, until) -> warnings.
# Staff licences are here; supplier licences (a later issue) add their own query with `register_licence_source`.
LicenceSource = Callable[[Session, date, date], Iterable[LicenceWarning]]
LICENCE_SOURCES: dict[str, LicenceSource] = {}


def register_licence_source(name: str, source: LicenceSource) -> None:
    LICENCE_SOURCES[name] = source


def _ends_text(valid_until: date, today: date) -> str:
    if valid_until < today:
        return _("ended on %(date)s", date=valid_until.isoformat())
    return _("ends on %(date)s (in %(days)d days)", date=valid_until.isoformat(), days=(valid_until - today).days)


def staff_licence_warnings(session: Session, today: date, until: date) -> list[LicenceWarning]:
    """Staff licences of active users ending by `until`, unless the same person already holds a later licence of
    the same kind (renewed). One query over every store."""
    newer = aliased(StaffLicence)
    renewed = exists().where(and_(newer.user_id == StaffLicence.user_id, newer.kind == StaffLicence.kind,
                                  newer.valid_until > StaffLicence.valid_until))
    rows = session.exec(select(StaffLicence, User).join(User, User.id == StaffLicence.user_id)
                        .where(StaffLicence.valid_until <= until, User.active.is_(True), ~renewed)
                        .order_by(StaffLicence.valid_until, StaffLicence.id)).all()
    label = current_app.jinja_env.filters["licence_label"]
    return [LicenceWarning(
        dedupe_key=f"licence:{lic.id}:{lic.valid_until.isoformat()}", store_id=user.store_id,
        permission=Perm.USER_READ,
        title=_("Licence of %(name)s: %(kind)s %(ends)s", name=user.display_name, kind=label(lic.kind),
                ends=_ends_text(lic.valid_until, today)),
        body=_("%(kind)s no. %(number)s of %(name)s (%(user)s). Renew it and record the new licence; an expired "
               "licence blocks the work it allows.", kind=label(lic.kind), number=lic.number,
               name=user.display_name, user=user.username),
        entity_type="staff_licence", entity_id=lic.id) for lic, user in rows]


register_licence_source("staff", staff_licence_warnings)


def licence_expiry(app) -> str:
    """Notify once per licence that ends within LICENCE_WARNING_DAYS (default 30) or has ended."""
    days = int(app.config.get("LICENCE_WARNING_DAYS", 30))
    today = clock.today(app.config["TIMEZONE"])
    until = today + timedelta(days=days)
    session = get_session()
    found = new = 0
    with transaction(session):
        for source in LICENCE_SOURCES.values():
            for w in source(session, today, until):
                found += 1
                new += notify(session, kind="licence_expiry", dedupe_key=w.dedupe_key, permission=w.permission,
                              title=w.title, body=w.body, store_id=w.store_id, entity_type=w.entity_type,
                              entity_id=w.entity_id)
    return f"{found} licences end by {until.isoformat()} ({days} days); {new} new notifications"


def register() -> None:
    register_job(JobSpec(name="database_backup", func=database_backup, cron={"hour": 1, "minute": 30},
                         slot_format="%Y-%m-%d", description="Database backup with retention (daily 01:30)"))
    register_job(JobSpec(name="licence_expiry", func=licence_expiry, cron={"hour": 6, "minute": 0},
                         slot_format="%Y-%m-%d", description="Licence expiry warnings (daily 06:00)"))
