"""Core tables: stores, users and roles, licences, API tokens, audit events, job runs, idempotent requests."""
from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Optional

from sqlalchemy import Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from core.types import UtcDateTime

# Named constraints, so batch migrations on SQLite can find and keep them.
SQLModel.metadata.naming_convention = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def ts_field(nullable: bool = False, index: bool = False):
    return Field(sa_type=UtcDateTime, nullable=nullable, index=index)


class Store(SQLModel, table=True):
    id: Optional[int] = Field(default=None, primary_key=True)
    code: str = Field(max_length=20, unique=True)
    name: str = Field(max_length=120)
    timezone: str = Field(default="Asia/Shanghai", max_length=64)
    address: str = Field(default="", max_length=255)
    drug_trade_licence_no: str = Field(default="", max_length=64)  # 药品经营许可证
    drug_trade_licence_valid_until: Optional[date] = None
    business_licence_no: str = Field(default="", max_length=64)  # 营业执照 / 统一社会信用代码
    business_scope: str = Field(default="", sa_type=Text)  # 经营范围, one item per line
    fixmedins_code: Optional[str] = Field(default=None, max_length=12)  # 定点医药机构编码
    hi_designated: bool = False
    created_at: datetime = ts_field()


class User(SQLModel, table=True):
    id: Optional[int] = Field(default=None, primary_key=True)
    username: str = Field(max_length=64, unique=True)
    display_name: str = Field(max_length=64)
    password_hash: str = Field(max_length=255)
    store_id: int = Field(foreign_key="store.id", index=True)
    active: bool = True
    failed_logins: int = 0
    locked_until: Optional[datetime] = Field(default=None, sa_type=UtcDateTime)
    last_login_at: Optional[datetime] = Field(default=None, sa_type=UtcDateTime)
    id_number: Optional[str] = Field(default=None, max_length=18)
    created_at: datetime = ts_field()


class UserRole(SQLModel, table=True):
    __tablename__ = "user_role"
    __table_args__ = (UniqueConstraint("user_id", "role"),)
    id: Optional[int] = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="user.id", index=True)
    role: str = Field(max_length=32)


class LicenceKind(StrEnum):
    PHARMACIST = "pharmacist"  # 执业药师注册证
    PHARMACY_TECHNICIAN = "pharmacy_technician"  # 药学专业技术职称
    HEALTH_CERTIFICATE = "health_certificate"  # 健康证
    TRAINING = "training"  # 岗位培训


class StaffLicence(SQLModel, table=True):
    __tablename__ = "staff_licence"
    id: Optional[int] = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="user.id", index=True)
    kind: str = Field(max_length=32)
    number: str = Field(max_length=64)
    issuer: str = Field(default="", max_length=120)
    valid_from: Optional[date] = None
    valid_until: date


class ApiToken(SQLModel, table=True):
    __tablename__ = "api_token"
    id: Optional[int] = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="user.id", index=True)
    name: str = Field(max_length=64)
    prefix: str = Field(max_length=12)
    token_hash: str = Field(max_length=64, unique=True)  # sha256 hex of a 256-bit random token
    created_at: datetime = ts_field()
    last_used_at: Optional[datetime] = Field(default=None, sa_type=UtcDateTime)
    revoked_at: Optional[datetime] = Field(default=None, sa_type=UtcDateTime)


class AuditEvent(SQLModel, table=True):
    """Append-only (database triggers reject UPDATE and DELETE)."""

    __tablename__ = "audit_event"
    id: Optional[int] = Field(default=None, primary_key=True)
    store_id: Optional[int] = Field(default=None, foreign_key="store.id", index=True)
    actor_id: Optional[int] = Field(default=None, foreign_key="user.id", index=True)
    actor_name: str = Field(default="", max_length=64)
    action: str = Field(max_length=64, index=True)
    entity_type: str = Field(max_length=48, index=True)
    entity_id: Optional[str] = Field(default=None, max_length=64)
    summary: str = Field(default="{}", sa_type=Text)  # JSON: before/after
    reason: str = Field(default="", sa_type=Text)
    ip_address: Optional[str] = Field(default=None, max_length=45)
    at: datetime = ts_field(index=True)


class JobRun(SQLModel, table=True):
    """One row per scheduled slot; the unique (job, slot) claim makes a slot run once across schedulers."""

    __tablename__ = "job_run"
    __table_args__ = (UniqueConstraint("job", "slot"),)
    id: Optional[int] = Field(default=None, primary_key=True)
    job: str = Field(max_length=64)
    slot: str = Field(max_length=40)
    started_at: datetime = ts_field()
    finished_at: Optional[datetime] = Field(default=None, sa_type=UtcDateTime)
    status: str = Field(default="running", max_length=16)  # running, ok, failed
    message: str = Field(default="", sa_type=Text)
    triggered_by: str = Field(default="schedule", max_length=64)


class IdempotentRequest(SQLModel, table=True):
    """The first result of a request that carried a client UUID; a replay returns it instead of acting twice."""

    __tablename__ = "idempotent_request"
    __table_args__ = (UniqueConstraint("store_id", "key"),)
    id: Optional[int] = Field(default=None, primary_key=True)
    store_id: int = Field(foreign_key="store.id")
    key: str = Field(max_length=64)
    action: str = Field(max_length=64)
    result: str = Field(default="{}", sa_type=Text)
    created_at: datetime = ts_field()


class Notification(SQLModel, table=True):
    """Something a role must act on (an expiry tier entered, a licence about to expire, an out-of-range reading).
    `dedupe_key` is unique, so a job that re-runs notifies nothing new."""

    __tablename__ = "notification"
    id: Optional[int] = Field(default=None, primary_key=True)
    store_id: Optional[int] = Field(default=None, foreign_key="store.id", index=True)
    kind: str = Field(max_length=48, index=True)
    dedupe_key: str = Field(max_length=160, unique=True)
    permission: str = Field(max_length=48)  # who should see it: holders of this permission in the store
    title: str = Field(max_length=200)
    body: str = Field(default="", sa_type=Text)
    entity_type: str = Field(default="", max_length=48)
    entity_id: Optional[str] = Field(default=None, max_length=64)
    created_at: datetime = ts_field(index=True)
    done_at: Optional[datetime] = Field(default=None, sa_type=UtcDateTime)  # the step it announced was done
