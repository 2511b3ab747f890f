"""Core use cases: audit, stores, users and roles, login with lockout, API tokens, staff licences, idempotency."""
from __future__ import annotations

import hashlib
import json
import secrets
from dataclasses import dataclass, field
from datetime import date, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask_babel import lazy_gettext as _l
from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from core import clock
from core.db import transaction
from core.errors import AccountLocked, AuthenticationRequired, Conflict, InvalidInput, NotFound
from core.models import (ApiToken, AuditEvent, IdempotentRequest, LicenceKind, Notification, StaffLicence, Store,
                         User, UserRole)
from core.permissions import Perm, Role, permissions_for

_hasher = PasswordHasher()  # argon2id with the library's current recommended parameters
MIN_PASSWORD_LENGTH = 8


@dataclass(frozen=True)
class Actor:
    """Who is acting, stamped by the server (never taken from a form)."""

    user_id: int | None
    name: str
    store_id: int | None
    roles: frozenset[str] = field(default_factory=frozenset)
    ip: str | None = None

    @property
    def permissions(self) -> frozenset[Perm]:
        return permissions_for(self.roles)

    def can(self, perm: Perm) -> bool:
        return perm in self.permissions

    @classmethod
    def system(cls, name: str = "system", store_id: int | None = None) -> "Actor":
        return cls(user_id=None, name=name, store_id=store_id, roles=frozenset({Role.ADMIN}))


def _json(value) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)


def record_audit(session: Session, actor: Actor, action: str, entity_type: str, entity_id=None, *,
                 before: dict | None = None, after: dict | None = None, reason: str = "",
                 store_id: int | None = None) -> AuditEvent:
    """Write an audit event inside the caller's transaction (so it commits or rolls back with the change)."""
    event = AuditEvent(**audit_values(actor, action, entity_type, entity_id, before=before, after=after,
                                      reason=reason, store_id=store_id))
    session.add(event)
    return event


def audit_values(actor: Actor, action: str, entity_type: str, entity_id=None, *, before: dict | None = None,
                 after: dict | None = None, reason: str = "", store_id: int | None = None) -> dict:
    """The columns of one audit event (record_audit adds it to the session; hot paths insert it with Core)."""
    summary = {}
    if before is not None:
        summary["before"] = before
    if after is not None:
        summary["after"] = after
    return {"store_id": store_id if store_id is not None else actor.store_id, "actor_id": actor.user_id,
            "actor_name": actor.name, "action": action, "entity_type": entity_type,
            "entity_id": None if entity_id is None else str(entity_id), "summary": _json(summary),
            "reason": reason or "", "ip_address": actor.ip, "at": clock.now()}


# --- stores -----------------------------------------------------------------------------------------------------

def create_store(session: Session, actor: Actor, *, code: str, name: str, timezone: str = "Asia/Shanghai",
                 **fields) -> Store:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    code = (code or "").strip()
    if not code or len(code) > 20:
        raise InvalidInput(_l("Store code is required (at most 20 characters)."))
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidInput(_l("Unknown time zone: %(tz)s", tz=timezone))
    with transaction(session):
        if session.exec(select(Store).where(Store.code == code)).first():
            raise Conflict(_l("Store code %(code)s is already in use.", code=code))
        store = Store(code=code, name=name, timezone=timezone, created_at=clock.now(), **fields)
        session.add(store)
        session.flush()
        record_audit(session, actor, "store.create", "store", store.id, after={"code": code, "name": name},
                     store_id=store.id)
    return store


def get_store(session: Session, store_id: int) -> Store:
    store = session.get(Store, store_id)
    if store is None:
        raise NotFound(_l("Store not found."))
    return store


# --- users ------------------------------------------------------------------------------------------------------

def hash_password(password: str) -> str:
    return _hasher.hash(password)


def _check_password_rules(password: str) -> None:
    if not password or len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidInput(_l("Passwords need at least %(n)d characters.", n=MIN_PASSWORD_LENGTH))


def create_user(session: Session, actor: Actor, *, username: str, display_name: str, password: str,
                store_id: int, roles: list[str] | tuple[str, ...]) -> User:
    username = (username or "").strip()
    if not username or len(username) > 64:
        raise InvalidInput(_l("User name is required (at most 64 characters)."))
    _check_password_rules(password)
    try:
        role_values = sorted({Role(r).value for r in roles})
    except ValueError:
        raise InvalidInput(_l("Unknown role in %(roles)s.", roles=", ".join(roles)))
    if not role_values:
        raise InvalidInput(_l("A user needs at least one role."))
    with transaction(session):
        get_store(session, store_id)
        if session.exec(select(User).where(User.username == username)).first():
            raise Conflict(_l("User name %(name)s is already taken.", name=username))
        user = User(username=username, display_name=display_name or username, password_hash=hash_password(password),
                    store_id=store_id, created_at=clock.now())
        session.add(user)
        session.flush()
        for role in role_values:
            session.add(UserRole(user_id=user.id, role=role))
        record_audit(session, actor, "user.create", "user", user.id,
                     after={"username": username, "roles": role_values, "store_id": store_id}, store_id=store_id)
    return user


def user_roles(session: Session, user_id: int) -> frozenset[str]:
    return frozenset(session.exec(select(UserRole.role).where(UserRole.user_id == user_id)).all())


def set_roles(session: Session, actor: Actor, user_id: int, roles: list[str]) -> None:
    try:
        new = sorted({Role(r).value for r in roles})
    except ValueError:
        raise InvalidInput(_l("Unknown role in %(roles)s.", roles=", ".join(roles)))
    if not new:
        raise InvalidInput(_l("A user needs at least one role."))
    with transaction(session):
        user = session.get(User, user_id)
        if user is None:
            raise NotFound(_l("User not found."))
        old = sorted(user_roles(session, user_id))
        for row in session.exec(select(UserRole).where(UserRole.user_id == user_id)):
            session.delete(row)
        session.flush()
        for role in new:
            session.add(UserRole(user_id=user_id, role=role))
        record_audit(session, actor, "user.roles", "user", user_id, before={"roles": old}, after={"roles": new},
                     store_id=user.store_id)


def actor_for(session: Session, user: User, ip: str | None = None) -> Actor:
    return Actor(user_id=user.id, name=user.username, store_id=user.store_id, roles=user_roles(session, user.id),
                 ip=ip)


def authenticate(session: Session, username: str, password: str, *, max_failures: int = 5,
                 lockout_minutes: int = 15, ip: str | None = None) -> User:
    """Check a login. Repeated failures lock the account for a while; the lock holds even for the right password."""
    invalid = AuthenticationRequired(_l("Wrong user name or password."), code="invalid_credentials")
    with transaction(session):
        user = session.exec(select(User).where(User.username == (username or "").strip())).first()
        if user is None:
            _hasher.hash(password or "x")  # same cost either way, so timing does not reveal user names
            raise invalid
        now = clock.now()
        if user.locked_until and user.locked_until > now:
            minutes = max(1, int((user.locked_until - now).total_seconds() // 60) + 1)
            raise AccountLocked(_l("Too many failed logins: this account is locked for %(m)d more minutes. "
                                   "Ask an administrator if you need it sooner.", m=minutes))
        actor = Actor(user_id=user.id, name=user.username, store_id=user.store_id, ip=ip)
        ok = False
        try:
            ok = user.active and _hasher.verify(user.password_hash, password or "")
        except (VerificationError, InvalidHashError):
            ok = False
        if not ok:
            user.failed_logins += 1
            locked = user.failed_logins >= max_failures
            if locked:
                user.locked_until = now + timedelta(minutes=lockout_minutes)
                user.failed_logins = 0
            session.add(user)
            record_audit(session, actor, "auth.locked" if locked else "auth.login_failed", "user", user.id)
        else:
            if _hasher.check_needs_rehash(user.password_hash):
                user.password_hash = hash_password(password)
            user.failed_logins = 0
            user.locked_until = None
            user.last_login_at = now
            session.add(user)
            record_audit(session, actor, "auth.login", "user", user.id)
    if not ok:
        # Raised after the commit, so the failure count and the audit row are kept.
        raise invalid
    return user


def change_password(session: Session, actor: Actor, user_id: int, new_password: str) -> None:
    _check_password_rules(new_password)
    with transaction(session):
        user = session.get(User, user_id)
        if user is None:
            raise NotFound(_l("User not found."))
        user.password_hash = hash_password(new_password)
        user.failed_logins = 0
        user.locked_until = None
        session.add(user)
        record_audit(session, actor, "user.password", "user", user_id, store_id=user.store_id)


def unlock_user(session: Session, actor: Actor, user_id: int) -> None:
    with transaction(session):
        user = session.get(User, user_id)
        if user is None:
            raise NotFound(_l("User not found."))
        user.failed_logins = 0
        user.locked_until = None
        session.add(user)
        record_audit(session, actor, "user.unlock", "user", user_id, store_id=user.store_id)


# --- staff licences -------------------------------------------------------------------------------------------

def add_licence(session: Session, actor: Actor, user_id: int, *, kind: str, number: str, valid_until: date,
                valid_from: date | None = None, issuer: str = "") -> StaffLicence:
    try:
        kind = LicenceKind(kind).value
    except ValueError:
        raise InvalidInput(_l("Unknown licence kind: %(kind)s", kind=kind))
    number = (number or "").strip()
    if not number or len(number) > 64:
        raise InvalidInput(_l("Licence number is required (at most 64 characters)."))
    if valid_from and valid_until <= valid_from:
        raise InvalidInput(_l("A licence must end after it starts."))
    with transaction(session):
        user = session.get(User, user_id)
        if user is None:
            raise NotFound(_l("User not found."))
        lic = StaffLicence(user_id=user_id, kind=kind, number=number, valid_from=valid_from,
                           valid_until=valid_until, issuer=issuer)
        session.add(lic)
        session.flush()
        record_audit(session, actor, "licence.add", "staff_licence", lic.id,
                     after={"user_id": user_id, "kind": kind, "number": number, "valid_until": valid_until},
                     store_id=user.store_id)
    return lic


def valid_licence(session: Session, user_id: int, kind: str, on: date) -> StaffLicence | None:
    return session.exec(select(StaffLicence).where(StaffLicence.user_id == user_id, StaffLicence.kind == kind,
                                                   StaffLicence.valid_until >= on)
                        .order_by(StaffLicence.valid_until.desc())).first()


def expiring_licences(session: Session, store_id: int, today: date, within_days: int = 30):
    """Staff licences of a store's users that end within the warning window (or have ended)."""
    limit = today + timedelta(days=within_days)
    stmt = (select(StaffLicence, User).join(User, User.id == StaffLicence.user_id)
            .where(User.store_id == store_id, StaffLicence.valid_until <= limit)
            .order_by(StaffLicence.valid_until))
    return session.exec(stmt).all()


# --- API tokens --------------------------------------------------------------------------------------------------

TOKEN_PREFIX = "yf_"


def _token_hash(plain: str) -> str:
    # Tokens carry 256 random bits, so a plain SHA-256 is enough: there is nothing to brute-force.
    return hashlib.sha256(plain.encode()).hexdigest()


def create_token(session: Session, actor: Actor, user_id: int, name: str = "api") -> tuple[str, ApiToken]:
    """Returns the token once, in plain text; only its hash is stored."""
    plain = TOKEN_PREFIX + secrets.token_urlsafe(32)
    with transaction(session):
        user = session.get(User, user_id)
        if user is None:
            raise NotFound(_l("User not found."))
        token = ApiToken(user_id=user_id, name=(name or "api")[:64], prefix=plain[:10], token_hash=_token_hash(plain),
                         created_at=clock.now())
        session.add(token)
        session.flush()
        record_audit(session, actor, "token.create", "api_token", token.id, after={"user_id": user_id, "name": name},
                     store_id=user.store_id)
    return plain, token


def user_for_token(session: Session, plain: str) -> User | None:
    if not plain or not plain.startswith(TOKEN_PREFIX) or len(plain) > 128:
        return None
    row = session.exec(select(ApiToken, User).join(User, User.id == ApiToken.user_id)
                       .where(ApiToken.token_hash == _token_hash(plain), ApiToken.revoked_at.is_(None))).first()
    if row is None:
        return None
    token, user = row
    return user if user.active else None


def revoke_token(session: Session, actor: Actor, token_id: int) -> None:
    with transaction(session):
        token = session.get(ApiToken, token_id)
        if token is None:
            raise NotFound(_l("Token not found."))
        token.revoked_at = clock.now()
        session.add(token)
        record_audit(session, actor, "token.revoke", "api_token", token_id)


# --- idempotency -------------------------------------------------------------------------------------------------

def validate_client_key(key) -> str:
    import uuid

    try:
        return str(uuid.UUID(str(key)))
    except (ValueError, TypeError, AttributeError):
        raise InvalidInput(_l("client_uuid must be a UUID generated by the client."), code="invalid_client_uuid")


def idempotent_result(session: Session, store_id: int, key: str, action: str) -> dict | None:
    row = session.exec(select(IdempotentRequest).where(IdempotentRequest.store_id == store_id,
                                                       IdempotentRequest.key == key)).first()
    if row is None:
        return None
    if row.action != action:
        raise Conflict(_l("This client_uuid was already used for another request."), code="client_uuid_reused")
    return json.loads(row.result)


def remember_result(session: Session, store_id: int, key: str, action: str, result: dict) -> None:
    session.add(IdempotentRequest(store_id=store_id, key=key, action=action, result=_json(result),
                                  created_at=clock.now()))


def is_unique_violation(exc: IntegrityError) -> bool:
    text = str(exc.orig).lower()
    return "unique" in text or "duplicate key" in text


# --- notifications -----------------------------------------------------------------------------------------------------

def notify(session: Session, *, kind: str, dedupe_key: str, permission: Perm, title: str, body: str = "",
           store_id: int | None = None, entity_type: str = "", entity_id=None) -> bool:
    """Add a notification unless one with this dedupe_key exists (INSERT … ON CONFLICT DO NOTHING on both engines),
    so re-running a job notifies nothing new. Returns True when it was new. Runs in the caller's transaction."""
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    stmt = insert(Notification).values(
        kind=kind, dedupe_key=dedupe_key, permission=str(permission), title=str(title)[:200], body=str(body),
        store_id=store_id, entity_type=entity_type, entity_id=None if entity_id is None else str(entity_id),
        created_at=clock.now()).on_conflict_do_nothing(index_elements=["dedupe_key"])
    # RETURNING, not rowcount: SQLAlchemy 2.1 reports rowcount -1 for INSERTs on psycopg unless told to keep it.
    return session.execute(stmt.returning(Notification.id)).first() is not None


def close_notifications(session: Session, *dedupe_keys: str, kind: str | None = None, entity_id=None) -> int:
    """The step these notifications announced is done: they leave everyone's list (the rows stay, with the time).
    Chosen by dedupe key, or by kind and entity. Runs in the caller's transaction; returns how many were open."""
    if kind is not None:
        which = (Notification.kind == kind) & (Notification.entity_id == str(entity_id))
    else:
        which = Notification.dedupe_key.in_(dedupe_keys)
    result = session.execute(update(Notification).where(which, Notification.done_at.is_(None))
                             .values(done_at=clock.now()).execution_options(synchronize_session=False))
    return result.rowcount


def notifications_for(session: Session, actor: Actor, store_id: int | None, limit: int = 20) -> list[Notification]:
    """The newest open notifications meant for a permission the actor holds, in their store or chain-wide."""
    perms = [str(p) for p in actor.permissions]
    if not perms:
        return []
    stmt = select(Notification).where(Notification.permission.in_(perms), Notification.done_at.is_(None))
    if store_id is not None:
        stmt = stmt.where((Notification.store_id == store_id) | (Notification.store_id.is_(None)))
    return list(session.exec(stmt.order_by(Notification.created_at.desc(), Notification.id.desc()).limit(limit)))
