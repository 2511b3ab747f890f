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


# --- procurement: qualified suppliers and drugs (首营), purchase orders, receiving, acceptance, returns -----------------
# Suppliers and drugs are chain-wide master data (a chain's quality manager qualifies them once, as for the drug
# master); orders, receipts, inspections and returns belong to one store.

class QualificationStatus(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"


class Supplier(SQLModel, table=True):
    """首营企业: submitted by a purchaser, approved or rejected by a quality manager (never the same person)."""

    __tablename__ = "supplier"
    id: Optional[int] = Field(default=None, primary_key=True)
    code: str = Field(max_length=32, unique=True)
    name: str = Field(max_length=160)
    credit_code: str = Field(max_length=18, unique=True)  # 统一社会信用代码
    kind: str = Field(default="wholesaler", sa_type=String(16))  # wholesaler / manufacturer
    address: str = Field(default="", max_length=255)
    contact: str = Field(default="", max_length=120)
    business_scope: str = Field(default="", sa_type=Text)  # 经营范围, one item per line
    status: str = Field(default=QualificationStatus.PENDING, sa_type=String(16), index=True)
    spler_pmtno: str = Field(default="", max_length=64)  # NHSA 3503 supplier licence number
    submitted_by_id: Optional[int] = Field(default=None, foreign_key="user.id")
    submitted_at: datetime = ts_field()
    decided_by_id: Optional[int] = Field(default=None, foreign_key="user.id")
    decided_at: Optional[datetime] = Field(default=None, sa_type=UtcDateTime)
    decision_note: str = Field(default="", sa_type=Text)


class SupplierLicenceKind(StrEnum):
    TRADE = "trade"  # 药品经营许可证
    MANUFACTURING = "manufacturing"  # 药品生产许可证
    BUSINESS = "business"  # 营业执照
    GSP = "gsp"  # GSP 证书 (or its equivalent since 2019: the trade licence's inspection record)
    GMP = "gmp"  # GMP 证书
    QUALITY_AGREEMENT = "quality_agreement"  # 质量保证协议


class SupplierLicence(SQLModel, table=True):
    """A licence on file. A renewal is a new row of the same kind; the latest one counts."""

    __tablename__ = "supplier_licence"
    __table_args__ = (CheckConstraint("valid_until IS NULL OR valid_from IS NULL OR valid_until >= valid_from",
                                      name="validity"),)
    id: Optional[int] = Field(default=None, primary_key=True)
    supplier_id: int = Field(foreign_key="supplier.id", index=True)
    kind: str = Field(sa_type=String(24))
    number: str = Field(max_length=64)
    scope: str = Field(default="", sa_type=Text)
    valid_from: Optional[date] = None
    valid_until: Optional[date] = None  # None: no end date (e.g. a business licence 长期)
    added_by_id: Optional[int] = Field(default=None, foreign_key="user.id")
    added_at: datetime = ts_field()


class SupplierRep(SQLModel, table=True):
    """An authorised sales representative (销售人员授权委托书) of a supplier."""

    __tablename__ = "supplier_rep"
    id: Optional[int] = Field(default=None, primary_key=True)
    supplier_id: int = Field(foreign_key="supplier.id", index=True)
    name: str = Field(max_length=64)
    id_number: str = Field(max_length=18)
    authorisation_no: str = Field(default="", max_length=64)
    scope: str = Field(default="", sa_type=Text)
    valid_until: date
    added_by_id: Optional[int] = Field(default=None, foreign_key="user.id")
    added_at: datetime = ts_field()


class DrugRequestKind(StrEnum):
    NEW = "new"  # 首营品种
    CHANGE = "change"  # a change to approved master data


class DrugRequest(SQLModel, table=True):
    """A drug's first-time qualification or a change to its master data, waiting for a quality manager. `changes`
    holds the new values (JSON), `before` the values they replace; both stay as the record of the change."""

    __tablename__ = "drug_request"
    id: Optional[int] = Field(default=None, primary_key=True)
    drug_id: int = Field(foreign_key="drug.id", index=True)
    kind: str = Field(sa_type=String(16))
    changes: str = Field(default="{}", sa_type=Text)
    before: str = Field(default="{}", sa_type=Text)
    documents: str = Field(default="", sa_type=Text)  # papers on file: 注册证/批件, 质量标准, 检验报告, 说明书 …
    reason: str = Field(default="", sa_type=Text)
    status: str = Field(default=QualificationStatus.PENDING, sa_type=String(16), index=True)
    submitted_by_id: Optional[int] = Field(default=None, foreign_key="user.id")
    submitted_at: datetime = ts_field()
    decided_by_id: Optional[int] = Field(default=None, foreign_key="user.id")
    decided_at: Optional[datetime] = Field(default=None, sa_type=UtcDateTime)
    decision_note: str = Field(default="", sa_type=Text)


class OrderStatus(StrEnum):
    DRAFT = "draft"
    CONFIRMED = "confirmed"  # the purchase plan (采购计划) receiving works against
    CLOSED = "closed"  # everything received, or closed by the purchaser
    CANCELLED = "cancelled"


class PurchaseOrder(SQLModel, table=True):
    __tablename__ = "purchase_order"
    id: Optional[int] = Field(default=None, primary_key=True)
    store_id: int = Field(foreign_key="store.id", index=True)
    number: str = Field(max_length=32, unique=True)
    supplier_id: int = Field(foreign_key="supplier.id", index=True)
    rep_id: Optional[int] = Field(default=None, foreign_key="supplier_rep.id")
    status: str = Field(default=OrderStatus.DRAFT, sa_type=String(16), index=True)
    note: str = Field(default="", sa_type=Text)
    created_by_id: Optional[int] = Field(default=None, foreign_key="user.id")
    created_at: datetime = ts_field()
    confirmed_by_id: Optional[int] = Field(default=None, foreign_key="user.id")
    confirmed_at: Optional[datetime] = Field(default=None, sa_type=UtcDateTime)
    closed_by_id: Optional[int] = Field(default=None, foreign_key="user.id")
    closed_at: Optional[datetime] = Field(default=None, sa_type=UtcDateTime)
    close_note: str = Field(default="", sa_type=Text)


class PurchaseOrderLine(SQLModel, table=True):
    """Quantities in smallest units (entered as packages); cost per package in fen."""

    __tablename__ = "purchase_order_line"
    __table_args__ = (UniqueConstraint("order_id", "drug_id"), CheckConstraint("quantity > 0", name="quantity"),
                      CheckConstraint("unit_cost_fen >= 0", name="unit_cost"))
    id: Optional[int] = Field(default=None, primary_key=True)
    order_id: int = Field(foreign_key="purchase_order.id", index=True)
    store_id: int = Field(foreign_key="store.id")
    drug_id: int = Field(foreign_key="drug.id")
    quantity: int
    unit_cost_fen: int = 0


class Receipt(SQLModel, table=True):
    """收货: one delivery against a confirmed order. Lines are GSP records (append-only)."""

    __tablename__ = "receipt"
    __table_args__ = (UniqueConstraint("store_id", "client_uuid"),
                      UniqueConstraint("supplier_id", "delivery_note_no"))
    id: Optional[int] = Field(default=None, primary_key=True)
    store_id: int = Field(foreign_key="store.id", index=True)
    number: str = Field(max_length=32, unique=True)
    order_id: int = Field(foreign_key="purchase_order.id", index=True)
    supplier_id: int = Field(foreign_key="supplier.id")
    delivery_note_no: str = Field(max_length=64)  # 随货同行单号
    client_uuid: str = Field(max_length=64)
    received_by_id: Optional[int] = Field(default=None, foreign_key="user.id")
    received_at: datetime = ts_field()


class ReceiptLine(SQLModel, table=True):
    """One lot as it arrived: quantities in smallest units. Arrival temperature in tenths of a degree (cold chain).
    A line that needs a quality manager's decision (short remaining shelf life) waits for a ReceiptDecision."""

    __tablename__ = "receipt_line"
    __table_args__ = (CheckConstraint("quantity_received >= 0", name="received"),
                      CheckConstraint("quantity_refused >= 0", name="refused"),
                      CheckConstraint("quantity_received + quantity_refused > 0", name="something"),
                      CheckConstraint("lot_id IS NOT NULL OR quantity_received = 0", name="lot_when_received"),
                      CheckConstraint("expiry_date > production_date", name="dates"))
    id: Optional[int] = Field(default=None, primary_key=True)
    receipt_id: int = Field(foreign_key="receipt.id", index=True)
    store_id: int = Field(foreign_key="store.id", index=True)
    order_line_id: int = Field(foreign_key="purchase_order_line.id", index=True)
    drug_id: int = Field(foreign_key="drug.id")
    lot_no: str = Field(max_length=40)  # as on the pack, kept for refused goods too
    production_date: date
    expiry_date: date
    lot_id: Optional[int] = Field(default=None, foreign_key="lot.id", index=True)  # None: everything refused
    quantity_received: int
    quantity_refused: int = 0
    refuse_reason: str = Field(default="", sa_type=Text)
    cases: int = 0  # whole cases (件) received, for the sampling rule
    part_cases: int = 0  # opened / mixed cases (零货、拼箱)
    arrival_temp_dc: Optional[int] = None
    waiting_location_id: int = Field(foreign_key="location.id")  # pending (yellow) area, or cold for cold chain
    needs_decision: str = Field(default="", max_length=32)  # "short_shelf_life" or ""
    gtin: str = Field(default="", max_length=14)
    trace_code: str = Field(default="", max_length=20)


class ReceiptDecision(SQLModel, table=True):
    """A quality manager's decision on a receipt line that needed one (append-only)."""

    __tablename__ = "receipt_decision"
    id: Optional[int] = Field(default=None, primary_key=True)
    store_id: int = Field(foreign_key="store.id")
    receipt_line_id: int = Field(foreign_key="receipt_line.id", unique=True)
    approved: bool
    note: str = Field(sa_type=Text)
    decided_by_id: Optional[int] = Field(default=None, foreign_key="user.id")
    decided_at: datetime = ts_field()


class Inspection(SQLModel, table=True):
    """验收记录 (append-only): one per receipt line. Sample quantity in minimum packs."""

    __tablename__ = "inspection"
    __table_args__ = (CheckConstraint("accepted_qty >= 0 AND rejected_qty >= 0", name="quantities"),
                      CheckConstraint("conclusion IN ('accepted', 'partly_accepted', 'rejected')",
                                      name="conclusion"))
    id: Optional[int] = Field(default=None, primary_key=True)
    store_id: int = Field(foreign_key="store.id", index=True)
    receipt_line_id: int = Field(foreign_key="receipt_line.id", unique=True)
    lot_id: int = Field(foreign_key="lot.id", index=True)
    required_sample: int
    sampled: int
    appearance_ok: bool
    packaging_ok: bool
    label_ok: bool  # label and leaflet (标签、说明书)
    report_ok: bool  # test report (检验报告) on file for the lot
    accepted_qty: int
    rejected_qty: int
    reject_reason: str = Field(default="", sa_type=Text)
    conclusion: str = Field(sa_type=String(16))
    location_id: Optional[int] = Field(default=None, foreign_key="location.id")  # where the accepted stock went
    note: str = Field(default="", sa_type=Text)
    inspector_id: Optional[int] = Field(default=None, foreign_key="user.id")
    at: datetime = ts_field()


class ReturnStatus(StrEnum):
    REQUESTED = "requested"
    DONE = "done"  # both approvals given: stock has left by return movements
    REJECTED = "rejected"


class PurchaseReturn(SQLModel, table=True):
    """采购退回: requested by a purchaser, approved by the quality manager and by finance (two different people,
    neither the requester); the second approval posts the return movements."""

    __tablename__ = "purchase_return"
    id: Optional[int] = Field(default=None, primary_key=True)
    store_id: int = Field(foreign_key="store.id", index=True)
    number: str = Field(max_length=32, unique=True)
    supplier_id: int = Field(foreign_key="supplier.id")
    reason: str = Field(sa_type=Text)
    status: str = Field(default=ReturnStatus.REQUESTED, sa_type=String(16), index=True)
    requested_by_id: Optional[int] = Field(default=None, foreign_key="user.id")
    requested_at: datetime = ts_field()
    quality_by_id: Optional[int] = Field(default=None, foreign_key="user.id")
    quality_at: Optional[datetime] = Field(default=None, sa_type=UtcDateTime)
    finance_by_id: Optional[int] = Field(default=None, foreign_key="user.id")
    finance_at: Optional[datetime] = Field(default=None, sa_type=UtcDateTime)
    rejected_by_id: Optional[int] = Field(default=None, foreign_key="user.id")
    rejected_at: Optional[datetime] = Field(default=None, sa_type=UtcDateTime)
    reject_note: str = Field(default="", sa_type=Text)


class PurchaseReturnLine(SQLModel, table=True):
    __tablename__ = "purchase_return_line"
    __table_args__ = (CheckConstraint("quantity > 0", name="quantity"),)
    id: Optional[int] = Field(default=None, primary_key=True)
    return_id: int = Field(foreign_key="purchase_return.id", index=True)
    store_id: int = Field(foreign_key="store.id")
    lot_id: int = Field(foreign_key="lot.id", index=True)
    location_id: int = Field(foreign_key="location.id")  # where the goods wait to leave (the pending area)
    # Where the goods were taken from when the return was asked for; they go back there if it is rejected.
    # None: they were already in the pending or red area.
    from_location_id: Optional[int] = Field(default=None, foreign_key="location.id")
    quantity: int
