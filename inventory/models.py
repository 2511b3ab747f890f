"""Drug master, lots, locations, stock balances and the append-only stock movement ledger."""
from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Optional

from sqlalchemy import CheckConstraint, Index, String, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from core.models import ts_field
from core.types import UtcDateTime


class RxClass(StrEnum):
    RX = "rx"  # 处方药
    OTC_A = "otc_a"  # 甲类非处方药
    OTC_B = "otc_b"  # 乙类非处方药
    DUAL = "dual"  # 双跨
    NONE = "none"  # 非药品


class SpecialClass(StrEnum):
    NONE = "none"
    EPHEDRINE_COMBINATION = "ephedrine_combination"  # 含麻黄碱类复方制剂
    PSYCHOTROPIC_II = "psychotropic_ii"  # 第二类精神药品
    TOXIC = "toxic"  # 医疗用毒性药品


class StorageClass(StrEnum):
    ROOM = "room"  # 常温 10–30 °C
    COOL = "cool"  # 阴凉 ≤ 20 °C
    COLD = "cold"  # 冷藏 2–10 °C
    FROZEN = "frozen"  # 冷冻


STORAGE_RANGES_C = {
    StorageClass.ROOM: (10, 30),
    StorageClass.COOL: (None, 20),
    StorageClass.COLD: (2, 10),
    StorageClass.FROZEN: (None, -10),
}


class DrugCategory(StrEnum):
    WESTERN = "western"  # 西药
    PATENT = "patent"  # 中成药
    TCM_PIECES = "tcm_pieces"  # 中药饮片
    DEVICE = "device"  # 医疗器械
    HEALTH_FOOD = "health_food"  # 保健食品
    DAILY = "daily"  # 日用品
    OTHER = "other"


class ApprovalStatus(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    SUSPENDED = "suspended"


class Drug(SQLModel, table=True):
    """Chain-wide master data (quality-approved once for every store); stock rows carry the store."""

    id: Optional[int] = Field(default=None, primary_key=True)
    code: str = Field(max_length=32, unique=True)  # internal item code
    generic_name: str = Field(max_length=120, index=True)
    trade_name: str = Field(default="", max_length=120)
    pinyin: str = Field(default="", max_length=240, index=True)  # initials of generic and trade name, for search
    dosage_form: str = Field(default="", max_length=40)
    specification: str = Field(default="", max_length=120)
    package_unit: str = Field(default="盒", max_length=16)
    smallest_unit: str = Field(default="盒", max_length=16)
    units_per_package: int = Field(default=1)
    manufacturer: str = Field(default="", max_length=160)
    approval_no: str = Field(default="", max_length=64)  # 批准文号
    nmpa_code: Optional[str] = Field(default=None, max_length=14)  # 药品本位码
    hi_code: Optional[str] = Field(default=None, max_length=30, index=True)  # 医保药品分类与代码
    hi_class: str = Field(default="", max_length=8)  # 甲/乙/丙 (insurance class, not OTC class)
    rx_class: str = Field(default=RxClass.OTC_B, sa_type=String(16))
    special_class: str = Field(default=SpecialClass.NONE, sa_type=String(32))
    storage_class: str = Field(default=StorageClass.ROOM, sa_type=String(16))
    storage_min_c: Optional[int] = None
    storage_max_c: Optional[int] = None
    key_curing: bool = False
    category: str = Field(default=DrugCategory.WESTERN, sa_type=String(16))
    scope_item: str = Field(default="", max_length=32)  # 经营范围 item, e.g. 生物制品; "" = the category's own
    approval_status: str = Field(default=ApprovalStatus.PENDING, sa_type=String(16), index=True)
    active: bool = True
    retail_price_fen: int = 0  # per package
    unit_price_fen: Optional[int] = None  # per smallest unit, when split-pack (拆零) sale is allowed
    price_cap_fen: Optional[int] = None
    valuable: bool = False  # retail price above the valuables threshold: counted every shift
    created_at: datetime = ts_field()

    __table_args__ = (
        CheckConstraint("units_per_package >= 1", name="units_per_package"),
        CheckConstraint("retail_price_fen >= 0", name="retail_price"),
    )

    @property
    def display_name(self) -> str:
        return f"{self.trade_name}（{self.generic_name}）" if self.trade_name else self.generic_name


class BarcodeKind(StrEnum):
    EAN13 = "ean13"  # product's own GS1 EAN-13
    GTIN14 = "gtin14"
    IN_STORE = "in_store"  # in-store code from the GS1 restricted-circulation range 20–29


class DrugBarcode(SQLModel, table=True):
    __tablename__ = "drug_barcode"
    id: Optional[int] = Field(default=None, primary_key=True)
    drug_id: int = Field(foreign_key="drug.id", index=True)
    barcode: str = Field(max_length=32, unique=True)
    kind: str = Field(default=BarcodeKind.EAN13, sa_type=String(16))


class LocationKind(StrEnum):
    SELLABLE = "sellable"  # 合格区 on the shelf / counter
    WAREHOUSE = "warehouse"  # 合格区 in the back store
    PENDING = "pending"  # 待验区 (yellow)
    NONCONFORMING = "nonconforming"  # 不合格区 (red)
    COLD = "cold"  # 冷藏区


class Location(SQLModel, table=True):
    __table_args__ = (
        UniqueConstraint("store_id", "code"),
        # Yellow and red areas can never hold sellable stock.
        CheckConstraint("NOT (sellable AND kind IN ('pending', 'nonconforming'))", name="sellable_kind"),
    )
    id: Optional[int] = Field(default=None, primary_key=True)
    store_id: int = Field(foreign_key="store.id", index=True)
    code: str = Field(max_length=20)
    name: str = Field(max_length=80)
    kind: str = Field(sa_type=String(16))
    sellable: bool = False
    storage_class: str = Field(default=StorageClass.ROOM, sa_type=String(16))
    active: bool = True


class LotStatus(StrEnum):
    PENDING_INSPECTION = "pending_inspection"
    RELEASED = "released"
    LOCKED = "locked"
    NONCONFORMING = "nonconforming"
    RECALLED = "recalled"
    DESTROYED = "destroyed"
    RETURNED = "returned"


class Lot(SQLModel, table=True):
    __table_args__ = (
        UniqueConstraint("store_id", "drug_id", "lot_no"),
        CheckConstraint("expiry_date IS NULL OR production_date IS NULL OR expiry_date > production_date",
                        name="dates"),
        Index("ix_lot_drug_store", "drug_id", "store_id"),
    )
    id: Optional[int] = Field(default=None, primary_key=True)
    store_id: int = Field(foreign_key="store.id", index=True)
    drug_id: int = Field(foreign_key="drug.id")
    lot_no: str = Field(max_length=40)  # 批号
    production_date: Optional[date] = None
    expiry_date: Optional[date] = Field(default=None, index=True)  # 有效期至; NULL only for goods without one
    status: str = Field(default=LotStatus.PENDING_INSPECTION, sa_type=String(24), index=True)
    created_at: datetime = ts_field()


class LotStatusEvent(SQLModel, table=True):
    """Append-only history of lot status changes (who, when, why)."""

    __tablename__ = "lot_status_event"
    id: Optional[int] = Field(default=None, primary_key=True)
    store_id: int = Field(foreign_key="store.id", index=True)
    lot_id: int = Field(foreign_key="lot.id", index=True)
    from_status: Optional[str] = Field(default=None, sa_type=String(24))
    to_status: str = Field(sa_type=String(24))
    reason_category: str = Field(default="", max_length=48)
    note: str = Field(default="", sa_type=Text)
    actor_id: Optional[int] = Field(default=None, foreign_key="user.id")
    at: datetime = ts_field()


class MovementKind(StrEnum):
    OPENING = "opening"  # opening balance when a store starts on Yaofang
    RECEIPT = "receipt"  # purchase in after acceptance
    TRANSFER_IN = "transfer_in"
    TRANSFER_OUT = "transfer_out"
    COUNT_GAIN = "count_gain"
    COUNT_LOSS = "count_loss"
    DESTRUCTION = "destruction"
    OTHER_IN = "other_in"
    OTHER_OUT = "other_out"
    PURCHASE_RETURN = "purchase_return"
    DONATION_IN = "donation_in"
    DONATION_RETURN = "donation_return"
    SALE = "sale"
    SALE_RETURN = "sale_return"


# NHSA 3502 inv_chg_type for each kind; sales and sale returns are reported by 3505/3506 instead.
PLATFORM_CHANGE_CODES: dict[MovementKind, str | None] = {
    MovementKind.TRANSFER_IN: "101",
    MovementKind.TRANSFER_OUT: "102",
    MovementKind.COUNT_GAIN: "103",
    MovementKind.COUNT_LOSS: "104",
    MovementKind.DESTRUCTION: "105",
    MovementKind.OTHER_IN: "106",
    MovementKind.OPENING: "106",
    MovementKind.OTHER_OUT: "107",
    MovementKind.RECEIPT: "108",
    MovementKind.PURCHASE_RETURN: "109",
    MovementKind.DONATION_IN: "110",
    MovementKind.DONATION_RETURN: "111",
    MovementKind.SALE: None,
    MovementKind.SALE_RETURN: None,
}

INBOUND_KINDS = frozenset({MovementKind.OPENING, MovementKind.RECEIPT, MovementKind.TRANSFER_IN,
                           MovementKind.COUNT_GAIN, MovementKind.OTHER_IN, MovementKind.DONATION_IN,
                           MovementKind.SALE_RETURN})


class StockBalance(SQLModel, table=True):
    __tablename__ = "stock_balance"
    __table_args__ = (
        UniqueConstraint("lot_id", "location_id"),
        CheckConstraint("quantity >= 0", name="nonnegative"),
        Index("ix_stock_balance_store_location", "store_id", "location_id"),
    )
    id: Optional[int] = Field(default=None, primary_key=True)
    store_id: int = Field(foreign_key="store.id")
    lot_id: int = Field(foreign_key="lot.id")
    location_id: int = Field(foreign_key="location.id")
    quantity: int = 0  # smallest units


class StockMovement(SQLModel, table=True):
    """Append-only ledger row (database triggers reject UPDATE and DELETE). Quantity is signed, smallest units."""

    __tablename__ = "stock_movement"
    __table_args__ = (
        CheckConstraint("quantity <> 0", name="nonzero"),
        CheckConstraint("balance_after >= 0", name="balance_after"),
        Index("ix_stock_movement_lot_location", "lot_id", "location_id"),
        Index("ix_stock_movement_store_at", "store_id", "at"),
    )
    id: Optional[int] = Field(default=None, primary_key=True)
    store_id: int = Field(foreign_key="store.id")
    lot_id: int = Field(foreign_key="lot.id")
    location_id: int = Field(foreign_key="location.id")
    kind: str = Field(sa_type=String(24))
    quantity: int
    balance_after: int
    reference: str = Field(default="", max_length=64)  # e.g. "transfer:12", "sale:S0001-000123"
    reason: str = Field(default="", sa_type=Text)
    actor_id: Optional[int] = Field(default=None, foreign_key="user.id")
    at: datetime = ts_field()
    unit_cost_fen: Optional[int] = None  # purchase cost per smallest unit, for stock valuation


# --- stocktake (盘点) ---

class StocktakeKind(StrEnum):
    FULL = "full"  # monthly: every lot with stock in the store (expired and locked lots included)
    VALUABLES = "valuables"  # every shift: valuable drugs (flag, or retail price above the threshold)


class StocktakeStatus(StrEnum):
    OPEN = "open"  # counting (blind)
    SUBMITTED = "submitted"  # counts handed in, waiting for a second person to verify
    VERIFIED = "verified"  # waiting for approval
    APPROVED = "approved"  # gains and losses posted to the ledger
    CANCELLED = "cancelled"


class Stocktake(SQLModel, table=True):
    """One count of a store's stock (or of one location). Expected quantities are frozen on its lines at start."""

    id: Optional[int] = Field(default=None, primary_key=True)
    store_id: int = Field(foreign_key="store.id", index=True)
    kind: str = Field(sa_type=String(16))
    status: str = Field(default=StocktakeStatus.OPEN, sa_type=String(16), index=True)
    location_id: Optional[int] = Field(default=None, foreign_key="location.id")  # None: every location
    note: str = Field(default="", sa_type=Text)
    started_by: Optional[int] = Field(default=None, foreign_key="user.id")
    started_at: datetime = ts_field()
    submitted_by: Optional[int] = Field(default=None, foreign_key="user.id")
    submitted_at: Optional[datetime] = Field(default=None, sa_type=UtcDateTime)
    verified_by: Optional[int] = Field(default=None, foreign_key="user.id")
    verified_at: Optional[datetime] = Field(default=None, sa_type=UtcDateTime)
    approved_by: Optional[int] = Field(default=None, foreign_key="user.id")
    approved_at: Optional[datetime] = Field(default=None, sa_type=UtcDateTime)
    cancelled_by: Optional[int] = Field(default=None, foreign_key="user.id")
    cancelled_at: Optional[datetime] = Field(default=None, sa_type=UtcDateTime)
    cancel_reason: str = Field(default="", sa_type=Text)


class StocktakeLine(SQLModel, table=True):
    """One lot at one location: the expected quantity (balance at start) and the price used to value the variance."""

    __tablename__ = "stocktake_line"
    __table_args__ = (
        UniqueConstraint("stocktake_id", "lot_id", "location_id"),
        CheckConstraint("expected_qty >= 0", name="expected_qty"),
    )
    id: Optional[int] = Field(default=None, primary_key=True)
    stocktake_id: int = Field(foreign_key="stocktake.id", index=True)
    store_id: int = Field(foreign_key="store.id")
    drug_id: int = Field(foreign_key="drug.id")
    lot_id: int = Field(foreign_key="lot.id")
    location_id: int = Field(foreign_key="location.id")
    expected_qty: int  # smallest units, frozen at start
    retail_price_fen: int = 0  # per package, frozen at start
    units_per_package: int = 1
    added: bool = False  # found during counting (not in the snapshot): expected 0


class StocktakeCount(SQLModel, table=True):
    """Append-only (database triggers reject UPDATE and DELETE): every count of a line; the latest one counts."""

    __tablename__ = "stocktake_count"
    __table_args__ = (
        CheckConstraint("quantity >= 0 AND quantity <= 1000000", name="quantity"),
        Index("ix_stocktake_count_stocktake_line", "stocktake_id", "line_id"),
    )
    id: Optional[int] = Field(default=None, primary_key=True)
    store_id: int = Field(foreign_key="store.id")
    stocktake_id: int = Field(foreign_key="stocktake.id")
    line_id: int = Field(foreign_key="stocktake_line.id")
    quantity: int  # smallest units counted
    source: str = Field(default="typed", sa_type=String(16))  # typed, scan, api
    scan_code: str = Field(default="", max_length=64)
    counted_by: Optional[int] = Field(default=None, foreign_key="user.id")
    counted_at: datetime = ts_field()


# --- stock check: reorder levels and findings ---

class StockLevel(SQLModel, table=True):
    """A store's reorder point and maximum level for one drug, in smallest units (set by staff who manage stock).

    Below the reorder point the stock check suggests an order: `reorder_qty` when set (a fixed order quantity),
    otherwise enough to reach the maximum level (or the reorder point when no maximum is set)."""

    __tablename__ = "stock_level"
    __table_args__ = (
        UniqueConstraint("store_id", "drug_id"),
        CheckConstraint("reorder_point IS NULL OR reorder_point >= 0", name="reorder_point"),
        CheckConstraint("max_level IS NULL OR max_level >= 1", name="max_level"),
        CheckConstraint("max_level IS NULL OR reorder_point IS NULL OR max_level >= reorder_point",
                        name="max_above_reorder"),
        CheckConstraint("reorder_qty IS NULL OR reorder_qty >= 1", name="reorder_qty"),
    )
    id: Optional[int] = Field(default=None, primary_key=True)
    store_id: int = Field(foreign_key="store.id")
    drug_id: int = Field(foreign_key="drug.id", index=True)
    reorder_point: Optional[int] = None
    max_level: Optional[int] = None
    reorder_qty: Optional[int] = None
    updated_by: Optional[int] = Field(default=None, foreign_key="user.id")
    updated_at: datetime = ts_field()


class FindingKind(StrEnum):
    REORDER = "reorder"  # usable stock below the reorder point
    OVERSTOCK = "overstock"  # above the maximum level (积压)
    SLOW = "slow"  # stock on hand, no sale or issue within the slow-mover window (滞销)


class StockCheckFinding(SQLModel, table=True):
    """What the daily stock check found, one row per (store, drug, kind, day): re-running a day adds nothing."""

    __tablename__ = "stock_check_finding"
    __table_args__ = (
        UniqueConstraint("store_id", "drug_id", "kind", "check_date"),
        Index("ix_stock_check_finding_store_date", "store_id", "check_date"),
    )
    id: Optional[int] = Field(default=None, primary_key=True)
    store_id: int = Field(foreign_key="store.id")
    drug_id: int = Field(foreign_key="drug.id")
    kind: str = Field(sa_type=String(16))
    check_date: date  # the store's calendar day of the check
    on_hand: int  # usable stock (released, unexpired, sellable or warehouse/cold locations), smallest units
    threshold: int  # reorder point, maximum level, or the slow-mover window in days
    suggested_qty: Optional[int] = None  # reorder: how much to order, smallest units
    last_out_at: Optional[datetime] = Field(default=None, sa_type=UtcDateTime)  # slow: last sale or issue, if any
    job_slot: str = Field(default="", max_length=40)
    created_at: datetime = ts_field()
