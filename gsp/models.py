"""GSP tables. Quality records (lot events, destruction, recall, expiry marks) and curing/environment records are
append-only GSP records: corrections are new rows with a reason (DESIGN.md invariant 4)."""
from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Optional

from sqlalchemy import CheckConstraint, Index, String, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from core.models import ts_field
from core.types import UtcDateTime

# --- quality: locks, non-conforming, destruction, recall, stop-sale, expiry tiers ----------------------------------------

class FoundWhere(StrEnum):
    DISPLAY = "display"  # 陈列检查
    CURING = "curing"  # 养护
    RECEIVING = "receiving"  # 收货/验收
    COUNTER = "counter"  # 销售/柜台
    CUSTOMER = "customer"  # 顾客投诉
    OTHER = "other"


class LockReason(StrEnum):
    """Why a quality manager locks a lot (GSP 质量疑问药品)."""

    SUSPECTED_QUALITY = "suspected_quality"
    SUSPECTED_COUNTERFEIT = "suspected_counterfeit"
    FOUND_IN_CURING = "found_in_curing"
    FOUND_ON_DISPLAY = "found_on_display"
    RECALL = "recall"
    STOP_SALE = "stop_sale"
    EXPIRED = "expired"


class SuspectReport(SQLModel, table=True):
    """Any post reports a suspect lot to the quality manager (append-only)."""

    __tablename__ = "suspect_report"
    id: Optional[int] = Field(default=None, primary_key=True)
    store_id: int = Field(foreign_key="store.id", index=True)
    lot_id: int = Field(foreign_key="lot.id", index=True)
    found_where: str = Field(sa_type=String(16))
    note: str = Field(sa_type=Text)
    # The lot's latest status event when reported: the report is open until a newer one (a decision) exists.
    seen_event_id: Optional[int] = None
    reported_by_id: int = Field(foreign_key="user.id")
    at: datetime = ts_field()


class NonconformingRecord(SQLModel, table=True):
    """不合格药品记录: the quality manager's finding; the stock went to the red area by movements (append-only)."""

    __tablename__ = "nonconforming_record"
    id: Optional[int] = Field(default=None, primary_key=True)
    store_id: int = Field(foreign_key="store.id", index=True)
    lot_id: int = Field(foreign_key="lot.id", index=True)
    quantity: int  # smallest units moved to the red area
    reason_category: str = Field(sa_type=String(32))
    counterfeit: bool = False  # to be reported to the drug regulator
    note: str = Field(sa_type=Text)
    decided_by_id: int = Field(foreign_key="user.id")
    at: datetime = ts_field()


class DestructionStatus(StrEnum):
    REQUESTED = "requested"
    APPROVED = "approved"  # the stock left by a destruction movement
    REJECTED = "rejected"


class Destruction(SQLModel, table=True):
    """销毁: requested by the quality manager, approved by another person, done before a witness."""

    __table_args__ = (CheckConstraint("quantity > 0", name="quantity"),)
    id: Optional[int] = Field(default=None, primary_key=True)
    store_id: int = Field(foreign_key="store.id", index=True)
    lot_id: int = Field(foreign_key="lot.id", index=True)
    location_id: int = Field(foreign_key="location.id")
    quantity: int
    method: str = Field(max_length=120)  # e.g. 焚烧, 深埋, 交有资质单位
    reason: str = Field(sa_type=Text)
    status: str = Field(default=DestructionStatus.REQUESTED, sa_type=String(16), index=True)
    requested_by_id: int = Field(foreign_key="user.id")
    requested_at: datetime = ts_field()
    decided_by_id: Optional[int] = Field(default=None, foreign_key="user.id")
    decided_at: Optional[datetime] = Field(default=None, sa_type=UtcDateTime)
    witness_id: Optional[int] = Field(default=None, foreign_key="user.id")
    decision_note: str = Field(default="", sa_type=Text)


class SaleStop(SQLModel, table=True):
    """停售 / 解除停售 notice for a drug or one lot number, across every store of the chain."""

    __tablename__ = "sale_stop"
    id: Optional[int] = Field(default=None, primary_key=True)
    store_id: int = Field(foreign_key="store.id", index=True)  # the issuing store
    drug_id: int = Field(foreign_key="drug.id", index=True)
    lot_no: Optional[str] = Field(default=None, max_length=40)  # None: every lot of the drug
    reason: str = Field(sa_type=Text)
    issued_by_id: int = Field(foreign_key="user.id")
    issued_at: datetime = ts_field()
    lifted_by_id: Optional[int] = Field(default=None, foreign_key="user.id")
    lifted_at: Optional[datetime] = Field(default=None, sa_type=UtcDateTime)
    lift_note: str = Field(default="", sa_type=Text)


class SaleStopLot(SQLModel, table=True):
    """A lot this notice locked; resuming releases exactly these (if nothing else locked them since)."""

    __tablename__ = "sale_stop_lot"
    __table_args__ = (UniqueConstraint("stop_id", "lot_id"),)
    id: Optional[int] = Field(default=None, primary_key=True)
    stop_id: int = Field(foreign_key="sale_stop.id")
    store_id: int = Field(foreign_key="store.id")
    lot_id: int = Field(foreign_key="lot.id", index=True)


class RecallStatus(StrEnum):
    OPEN = "open"
    CLOSED = "closed"


class Recall(SQLModel, table=True):
    """召回 level 1 (most serious) to 3, for a drug or some of its lot numbers, across every store."""

    __table_args__ = (CheckConstraint("level IN (1, 2, 3)", name="level"),)
    id: Optional[int] = Field(default=None, primary_key=True)
    store_id: int = Field(foreign_key="store.id", index=True)  # the issuing store
    number: str = Field(max_length=24, unique=True)
    level: int
    drug_id: int = Field(foreign_key="drug.id", index=True)
    lot_nos: str = Field(default="", sa_type=Text)  # comma-separated; empty: every lot of the drug
    reason: str = Field(sa_type=Text)
    measure: str = Field(default="return", max_length=16)  # return to supplier, destroy, repackage
    status: str = Field(default=RecallStatus.OPEN, sa_type=String(16), index=True)
    issued_by_id: int = Field(foreign_key="user.id")
    issued_at: datetime = ts_field()
    closed_by_id: Optional[int] = Field(default=None, foreign_key="user.id")
    closed_at: Optional[datetime] = Field(default=None, sa_type=UtcDateTime)
    close_note: str = Field(default="", sa_type=Text)


class RecallLot(SQLModel, table=True):
    __tablename__ = "recall_lot"
    __table_args__ = (UniqueConstraint("recall_id", "lot_id"),)
    id: Optional[int] = Field(default=None, primary_key=True)
    recall_id: int = Field(foreign_key="recall.id", index=True)
    store_id: int = Field(foreign_key="store.id")
    lot_id: int = Field(foreign_key="lot.id", index=True)
    previous_status: str = Field(sa_type=String(24))
    on_hand_at_recall: int = 0


class RecallRecovery(SQLModel, table=True):
    """Units brought back from customers for a recall (append-only)."""

    __tablename__ = "recall_recovery"
    __table_args__ = (CheckConstraint("quantity > 0", name="quantity"),)
    id: Optional[int] = Field(default=None, primary_key=True)
    recall_id: int = Field(foreign_key="recall.id", index=True)
    store_id: int = Field(foreign_key="store.id")
    lot_id: int = Field(foreign_key="lot.id")
    sale_number: str = Field(default="", max_length=32)
    quantity: int
    note: str = Field(default="", sa_type=Text)
    recorded_by_id: int = Field(foreign_key="user.id")
    at: datetime = ts_field()


class ExpiryTierMark(SQLModel, table=True):
    """A lot entered an expiry tier (days before expiry): one row per lot and tier, written once by the daily job."""

    __tablename__ = "expiry_tier_mark"
    __table_args__ = (UniqueConstraint("lot_id", "tier_days"), Index("ix_expiry_tier_mark_store_on", "store_id",
                                                                        "marked_on"))
    id: Optional[int] = Field(default=None, primary_key=True)
    # No foreign keys, deliberately: the rows are written only by the job's INSERT … SELECT from the lot table
    # itself (lots are never deleted), and on PostgreSQL the per-row FK checks were 60 % of the first night's run.
    store_id: int
    lot_id: int
    tier_days: int
    expiry_date: date
    marked_on: date  # the store's business date when the job saw it


# --- curing (养护), storage conditions, temperature and humidity ----------------------------------------------------------


class CuringPlanKind(StrEnum):
    KEY = "key"  # 重点养护品种: monthly by default
    NORMAL = "normal"  # 一般养护: quarterly by default


class CuringPlan(SQLModel, table=True):
    """养护计划 for one store and period, generated by the curing-plan job (never edited; progress is derived from
    its records)."""

    __tablename__ = "curing_plan"
    __table_args__ = (UniqueConstraint("store_id", "kind", "period_start"),)
    id: Optional[int] = Field(default=None, primary_key=True)
    store_id: int = Field(foreign_key="store.id", index=True)
    kind: str = Field(sa_type=String(16))
    period_start: date
    due_date: date = Field(index=True)  # last day of the period
    created_at: datetime = ts_field()


class CuringPlanItem(SQLModel, table=True):
    """One lot at one location with stock when the plan was generated; `key_reasons` says why it is key curing."""

    __tablename__ = "curing_plan_item"
    __table_args__ = (UniqueConstraint("plan_id", "lot_id", "location_id"),)
    id: Optional[int] = Field(default=None, primary_key=True)
    store_id: int = Field(foreign_key="store.id", index=True)
    plan_id: int = Field(foreign_key="curing_plan.id", index=True)
    lot_id: int = Field(foreign_key="lot.id")
    location_id: int = Field(foreign_key="location.id")
    quantity: int  # on hand when planned, smallest units
    key_reasons: str = Field(default="", max_length=120)  # comma-separated KeyReason codes


class CuringResult(StrEnum):
    OK = "ok"
    PROBLEM = "problem"


class CuringRecord(SQLModel, table=True):
    """养护记录 (append-only): a correction is a new record for the same item."""

    __tablename__ = "curing_record"
    __table_args__ = (CheckConstraint("result IN ('ok', 'problem')", name="result"),)
    id: Optional[int] = Field(default=None, primary_key=True)
    store_id: int = Field(foreign_key="store.id", index=True)
    plan_item_id: int = Field(foreign_key="curing_plan_item.id", index=True)
    lot_id: int = Field(foreign_key="lot.id", index=True)
    location_id: int = Field(foreign_key="location.id")
    appearance_ok: bool
    packaging_ok: bool
    storage_ok: bool
    result: str = Field(sa_type=String(16))
    measures: str = Field(default="", sa_type=Text)
    note: str = Field(default="", sa_type=Text)
    follow_up: str = Field(default="", max_length=32)  # locked / reported / already_<status>
    actor_id: Optional[int] = Field(default=None, foreign_key="user.id")
    at: datetime = ts_field()


class EnvironmentReading(SQLModel, table=True):
    """温湿度记录 (append-only, never edited or back-imported): the server stamps the time. Temperature in tenths
    of a degree Celsius, relative humidity in tenths of a percent; `out_of_range` is judged against the location's
    storage class at the time of the reading."""

    __tablename__ = "environment_reading"
    __table_args__ = (
        CheckConstraint("temperature_dc BETWEEN -400 AND 600", name="temperature"),
        CheckConstraint("humidity_dpct BETWEEN 0 AND 1000", name="humidity"),
        Index("ix_environment_reading_location_at", "location_id", "at"),
    )
    id: Optional[int] = Field(default=None, primary_key=True)
    store_id: int = Field(foreign_key="store.id", index=True)
    location_id: int = Field(foreign_key="location.id")
    temperature_dc: int
    humidity_dpct: int
    storage_class: str = Field(sa_type=String(16))
    out_of_range: bool = False
    source: str = Field(default="manual", sa_type=String(16))  # manual / sensor
    sensor: str = Field(default="", max_length=64)
    actor_id: Optional[int] = Field(default=None, foreign_key="user.id")
    at: datetime = ts_field()


class EnvironmentMeasure(SQLModel, table=True):
    """The measure taken for an out-of-range reading (append-only). It answers that reading and every earlier
    out-of-range reading at the same location."""

    __tablename__ = "environment_measure"
    id: Optional[int] = Field(default=None, primary_key=True)
    store_id: int = Field(foreign_key="store.id", index=True)
    location_id: int = Field(foreign_key="location.id", index=True)
    reading_id: int = Field(foreign_key="environment_reading.id", index=True)
    measure: str = Field(sa_type=Text)
    actor_id: Optional[int] = Field(default=None, foreign_key="user.id")
    at: datetime = ts_field()
