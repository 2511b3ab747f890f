"""POS tables: registers, shifts, carts (working state), and the sales journal (append-only, hash-chained)."""
from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Optional

from sqlalchemy import CheckConstraint, Index, String, Text, UniqueConstraint, text
from flask_babel import lazy_gettext as _l
from sqlmodel import Field, SQLModel

from core.models import ts_field
from core.types import UtcDateTime


class Register(SQLModel, table=True):
    __table_args__ = (UniqueConstraint("store_id", "code"),)
    id: Optional[int] = Field(default=None, primary_key=True)
    store_id: int = Field(foreign_key="store.id", index=True)
    code: str = Field(max_length=16)  # also the prefix of this register's sale numbers
    name: str = Field(max_length=64)  # counter name, e.g. 1号收银台
    printer_url: str = Field(default="dummy:", max_length=255)
    printer_profile: str = Field(default="gbk-80mm", max_length=32)
    active: bool = True


class RegisterJournal(SQLModel, table=True):
    """Head of each register's sale chain: the last number and hash, updated in the sale's own transaction
    (its row lock serialises a register's sales, which keeps the numbering gapless)."""

    __tablename__ = "register_journal"
    register_id: int = Field(foreign_key="register.id", primary_key=True)
    last_seq: int = 0
    last_hash: str = Field(default="0" * 64, max_length=64)


class Shift(SQLModel, table=True):
    __table_args__ = (
        # One open shift per register.
        Index("uq_shift_open_per_register", "register_id", unique=True,
              sqlite_where=text("closed_at IS NULL"), postgresql_where=text("closed_at IS NULL")),
    )
    id: Optional[int] = Field(default=None, primary_key=True)
    store_id: int = Field(foreign_key="store.id", index=True)
    register_id: int = Field(foreign_key="register.id")
    cashier_id: int = Field(foreign_key="user.id")
    opened_at: datetime = ts_field()
    opening_float_fen: int = 0
    closed_at: Optional[datetime] = Field(default=None, sa_type=UtcDateTime)
    closed_by_id: Optional[int] = Field(default=None, foreign_key="user.id")
    counted_cash_fen: Optional[int] = None
    expected_cash_fen: Optional[int] = None
    over_short_fen: Optional[int] = None


class CartStatus(StrEnum):
    OPEN = "open"
    HELD = "held"
    COMMITTED = "committed"
    CANCELLED = "cancelled"


class Cart(SQLModel, table=True):
    """Working state at the counter (mutable). Everything is checked again on the server at commit."""

    id: Optional[int] = Field(default=None, primary_key=True)
    store_id: int = Field(foreign_key="store.id", index=True)
    register_id: int = Field(foreign_key="register.id", index=True)
    shift_id: int = Field(foreign_key="shift.id")
    cashier_id: int = Field(foreign_key="user.id")
    status: str = Field(default=CartStatus.OPEN, sa_type=String(16), index=True)
    buyer_name: str = Field(default="", max_length=64)
    buyer_id_number: str = Field(default="", max_length=18)
    created_at: datetime = ts_field()
    sale_id: Optional[int] = None


class CartLine(SQLModel, table=True):
    __tablename__ = "cart_line"
    id: Optional[int] = Field(default=None, primary_key=True)
    cart_id: int = Field(foreign_key="cart.id", index=True)
    drug_id: int = Field(foreign_key="drug.id")
    lot_id: int = Field(foreign_key="lot.id")
    location_id: int = Field(foreign_key="location.id")
    split_pack: bool = False  # 拆零: quantity counts smallest units and the price is the unit price
    pack_quantity: int = 1  # in the sale unit (package, or smallest unit when split-pack)
    unit_price_fen: int = 0  # per sale unit
    price_override_reason: str = Field(default="", max_length=200)
    trace_code: Optional[str] = Field(default=None, max_length=30)
    added_at: datetime = ts_field()


class Prescription(SQLModel, table=True):
    """A prescription entered at the counter for a cart's Rx lines; reviewed once by a pharmacist (audited)."""

    id: Optional[int] = Field(default=None, primary_key=True)
    store_id: int = Field(foreign_key="store.id", index=True)
    register_id: int = Field(foreign_key="register.id")
    cart_id: int = Field(foreign_key="cart.id", index=True)
    number: str = Field(max_length=40)
    prescriber: str = Field(max_length=64)
    institution: str = Field(max_length=120)
    issued_on: date
    diagnosis: str = Field(max_length=200)
    image_ref: str = Field(default="", max_length=255)
    entered_by_id: int = Field(foreign_key="user.id")
    reviewed_by_id: Optional[int] = Field(default=None, foreign_key="user.id")  # the pharmacist who approved
    review_note: str = Field(default="", sa_type=Text)
    decision: str = Field(default="", sa_type=String(16))  # "", approved, rejected
    created_at: datetime = ts_field()


class SaleKind(StrEnum):
    SALE = "sale"
    RETURN = "return"


class Tender(StrEnum):
    CASH = "cash"
    CARD = "card"  # 银联 bank card
    WECHAT = "wechat"
    ALIPAY = "alipay"
    INSURANCE_ACCOUNT = "insurance_account"  # 个人账户 (insurance issue)
    INSURANCE_FUND = "insurance_fund"  # 统筹 (insurance issue)


TENDER_LABELS = {Tender.CASH: _l("Cash"), Tender.CARD: _l("Bank card"), Tender.WECHAT: _l("WeChat Pay"),
                 Tender.ALIPAY: _l("Alipay"), Tender.INSURANCE_ACCOUNT: _l("Insurance personal account"),
                 Tender.INSURANCE_FUND: _l("Insurance fund")}


class Sale(SQLModel, table=True):
    """Append-only: triggers reject UPDATE and DELETE. Numbered per register without gaps, hash-chained."""

    __table_args__ = (
        UniqueConstraint("register_id", "seq"),
        UniqueConstraint("store_id", "client_uuid"),
        CheckConstraint("seq >= 1", name="seq_positive"),
        Index("ix_sale_store_day", "store_id", "business_date"),
    )
    id: Optional[int] = Field(default=None, primary_key=True)
    store_id: int = Field(foreign_key="store.id")
    register_id: int = Field(foreign_key="register.id")
    shift_id: int = Field(foreign_key="shift.id")
    seq: int
    sale_number: str = Field(max_length=32, unique=True)
    kind: str = Field(default=SaleKind.SALE, sa_type=String(16))
    original_sale_id: Optional[int] = Field(default=None, foreign_key="sale.id")
    business_date: date
    cashier_id: int = Field(foreign_key="user.id")
    pharmacist_id: Optional[int] = Field(default=None, foreign_key="user.id")  # Rx reviewer or return approver
    prescription_id: Optional[int] = Field(default=None, foreign_key="prescription.id")
    client_uuid: str = Field(max_length=36)
    total_fen: int  # negative for returns
    paid_fen: int
    change_fen: int = 0
    buyer_name: str = Field(default="", max_length=64)
    buyer_id_number: str = Field(default="", max_length=18)
    reason: str = Field(default="", sa_type=Text)  # return reason
    created_at: datetime = ts_field()
    prev_hash: str = Field(max_length=64)
    hash: str = Field(max_length=64)


class SaleLine(SQLModel, table=True):
    __tablename__ = "sale_line"
    __table_args__ = (
        UniqueConstraint("sale_id", "line_no"),
        # A trace code is sold once per "generation": a return bumps the generation, so it can be sold again.
        UniqueConstraint("trace_code", "trace_generation"),
        Index("ix_sale_line_lot", "lot_id"),
    )
    id: Optional[int] = Field(default=None, primary_key=True)
    sale_id: int = Field(foreign_key="sale.id", index=True)
    line_no: int
    drug_id: int = Field(foreign_key="drug.id")
    lot_id: int = Field(foreign_key="lot.id")
    location_id: int = Field(foreign_key="location.id")
    quantity: int  # smallest units, negative on returns
    pack_quantity: int  # in the sale unit, negative on returns
    split_pack: bool = False
    unit_price_fen: int
    list_price_fen: int
    amount_fen: int
    price_override_reason: str = Field(default="", max_length=200)
    rx: bool = False
    valuable: bool = False  # over the valuables threshold: counted at every shift change
    trace_code: Optional[str] = Field(default=None, max_length=30)
    trace_generation: Optional[int] = None
    returned_trace_code: Optional[str] = Field(default=None, max_length=30, index=True)
    original_line_id: Optional[int] = Field(default=None, foreign_key="sale_line.id")
    # Payer split, filled by insurance settlement; a cash sale is all personal money.
    hi_code: Optional[str] = Field(default=None, max_length=30)
    fund_pay_fen: int = 0
    personal_pay_fen: int = 0


class SalePayment(SQLModel, table=True):
    __tablename__ = "sale_payment"
    id: Optional[int] = Field(default=None, primary_key=True)
    sale_id: int = Field(foreign_key="sale.id", index=True)
    tender: str = Field(sa_type=String(24))
    amount_fen: int  # negative on refunds
    reference: str = Field(default="", max_length=64)


class SpecialDrugRecord(SQLModel, table=True):
    """含麻黄碱类复方制剂 register: drug, spec, quantity, maker, lot, buyer and ID (append-only)."""

    __tablename__ = "special_drug_record"
    id: Optional[int] = Field(default=None, primary_key=True)
    store_id: int = Field(foreign_key="store.id", index=True)
    sale_id: int = Field(foreign_key="sale.id")
    sale_line_id: int = Field(foreign_key="sale_line.id")
    buyer_name: str = Field(max_length=64)
    buyer_id_number: str = Field(max_length=18, index=True)
    quantity: int
    at: datetime = ts_field()


class SplitPackRecord(SQLModel, table=True):
    """拆零 record per split-pack sale line (append-only)."""

    __tablename__ = "split_pack_record"
    id: Optional[int] = Field(default=None, primary_key=True)
    store_id: int = Field(foreign_key="store.id", index=True)
    sale_line_id: int = Field(foreign_key="sale_line.id")
    lot_id: int = Field(foreign_key="lot.id")
    quantity: int
    splitter_id: int = Field(foreign_key="user.id")
    at: datetime = ts_field()


class DayClose(SQLModel, table=True):
    """日结 / Z report, per register and business day (append-only)."""

    __tablename__ = "day_close"
    __table_args__ = (UniqueConstraint("register_id", "business_date"),)
    id: Optional[int] = Field(default=None, primary_key=True)
    store_id: int = Field(foreign_key="store.id", index=True)
    register_id: int = Field(foreign_key="register.id")
    business_date: date
    first_sale_number: str = Field(default="", max_length=32)
    last_sale_number: str = Field(default="", max_length=32)
    sale_count: int = 0
    return_count: int = 0
    prescription_count: int = 0
    net_total_fen: int = 0
    grand_total_fen: int = 0  # running total of every sale ever on this register
    chain_head_hash: str = Field(max_length=64)
    totals_json: str = Field(default="{}", sa_type=Text)  # by tender and by cashier
    closed_by_id: int = Field(foreign_key="user.id")
    closed_at: datetime = ts_field()


class PrintJob(SQLModel, table=True):
    """Durable print queue: a sale never waits for a printer."""

    __tablename__ = "print_job"
    id: Optional[int] = Field(default=None, primary_key=True)
    store_id: int = Field(foreign_key="store.id")
    register_id: int = Field(foreign_key="register.id", index=True)
    kind: str = Field(max_length=16)  # receipt, reprint, z_report
    sale_id: Optional[int] = Field(default=None, foreign_key="sale.id")
    day_close_id: Optional[int] = Field(default=None, foreign_key="day_close.id")
    kick_drawer: bool = False
    status: str = Field(default="pending", max_length=16, index=True)  # pending, done
    attempts: int = 0
    next_attempt_at: datetime = ts_field()
    last_error: str = Field(default="", sa_type=Text)
    created_at: datetime = ts_field()
    printed_at: Optional[datetime] = Field(default=None, sa_type=UtcDateTime)
