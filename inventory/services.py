"""Inventory use cases: drug master, lots, locations, the stock ledger, sellability and FEFO allocation.

Invariant: stock moves only through `post_movement`, which writes the append-only movement and updates the
per-lot-per-location balance in the same transaction. The balance update is one conditional statement
(`UPDATE … SET quantity = quantity + d WHERE … AND quantity + d >= 0 RETURNING quantity`): it takes the row lock on
PostgreSQL and can never drive a balance below zero; on SQLite the write transaction holds `BEGIN IMMEDIATE`.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date, timedelta
from enum import StrEnum
from typing import NamedTuple

from flask_babel import lazy_gettext as _l
from pypinyin import Style, lazy_pinyin
from sqlalchemy import bindparam, func, insert, literal, or_, update
from sqlalchemy import select as sa_select
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, select

from core import clock
from core.db import in_write_transaction, is_postgres, transaction
from core.errors import Conflict, InsufficientStock, InvalidInput, NotFound, NotSellable
from core.models import Store
from core.services import (Actor, idempotent_result, record_audit, remember_result, validate_client_key)
from hardware.codes import is_valid_gtin
from inventory.models import (ApprovalStatus, BarcodeKind, Drug, DrugBarcode, DrugCategory, Location, LocationKind,
                              Lot, LotStatus, LotStatusEvent, MovementKind, RxClass, SpecialClass, StockBalance,
                              StockMovement, StorageClass)

MAX_MOVEMENT_QUANTITY = 1_000_000  # smallest units; anything larger is a typing or scanning mistake
MAX_LOT_NO_LENGTH = 40


# --- pinyin and search ---------------------------------------------------------------------------------------------

def pinyin_initials(text: str) -> str:
    """拼音首字母: 连花清瘟胶囊 -> lhqwjn. Latin letters and digits are kept, lower-cased."""
    if not text:
        return ""
    parts = lazy_pinyin(text, style=Style.FIRST_LETTER, errors="default", strict=False)
    return "".join(ch for ch in "".join(parts).lower() if ch.isascii() and ch.isalnum())


def _drug_pinyin(generic_name: str, trade_name: str) -> str:
    keys = [pinyin_initials(generic_name)]
    if trade_name:
        keys.append(pinyin_initials(trade_name))
    return " ".join(k for k in keys if k)


def search_drugs(session: Session, query: str, *, limit: int = 50, offset: int = 0) -> list[Drug]:
    """By name (generic or trade), pinyin initials, barcode, internal code or approval number."""
    q = (query or "").strip()
    stmt = select(Drug)
    if q:
        like = f"%{q.lower()}%"
        by_barcode = select(DrugBarcode.drug_id).where(DrugBarcode.barcode == q)
        stmt = stmt.where(or_(Drug.generic_name.contains(q), Drug.trade_name.contains(q), Drug.pinyin.like(like),
                              Drug.code == q, Drug.approval_no.contains(q), Drug.hi_code == q,
                              Drug.id.in_(by_barcode)))
    stmt = stmt.order_by(Drug.generic_name, Drug.id).limit(max(1, min(limit, 200))).offset(max(0, offset))
    return list(session.exec(stmt).all())


def drug_by_barcode(session: Session, code: str) -> Drug | None:
    return session.exec(select(Drug).join(DrugBarcode, DrugBarcode.drug_id == Drug.id)
                        .where(DrugBarcode.barcode == code)).first()


def drug_by_code_or_barcode(session: Session, code: str) -> Drug:
    """A drug by its internal code or one of its barcodes (the forms where staff type or scan either)."""
    code = (code or "").strip()
    drug = session.exec(select(Drug).where(Drug.code == code)).first() or drug_by_barcode(session, code)
    if drug is None:
        raise NotFound(_l("No drug with code or barcode %(code)s.", code=code))
    return drug


def get_drug(session: Session, drug_id: int) -> Drug:
    drug = session.get(Drug, drug_id)
    if drug is None:
        raise NotFound(_l("Drug %(id)s not found.", id=drug_id))
    return drug


def drug_barcodes(session: Session, drug_id: int) -> list[DrugBarcode]:
    return list(session.exec(select(DrugBarcode).where(DrugBarcode.drug_id == drug_id)).all())


# --- drug master -----------------------------------------------------------------------------------------------------


def _enum_value(enum, value, label):
    try:
        return enum(value).value
    except ValueError:
        raise InvalidInput(_l("Unknown %(field)s: %(value)s", field=label, value=value))


DRUG_TEXT_LIMITS = {"generic_name": 120, "trade_name": 120, "dosage_form": 40, "specification": 120,
                    "package_unit": 16, "smallest_unit": 16, "manufacturer": 160, "approval_no": 64, "hi_class": 8,
                    "scope_item": 32, "hi_code": 30, "nmpa_code": 14}
DRUG_ENUMS = {"rx_class": RxClass, "special_class": SpecialClass, "storage_class": StorageClass,
              "category": DrugCategory, "approval_status": ApprovalStatus}


def check_drug_fields(fields: dict) -> dict:
    """Validate master-data fields (as given to create_drug or update_drug); returns them with enums normalised."""
    fields = dict(fields)
    if "generic_name" in fields:
        fields["generic_name"] = (fields["generic_name"] or "").strip()
        if not fields["generic_name"]:
            raise InvalidInput(_l("Generic name is required."))
    for name, limit in DRUG_TEXT_LIMITS.items():
        if name in fields and fields[name] is not None and len(str(fields[name])) > limit:
            raise InvalidInput(_l("%(field)s is longer than %(n)d characters.", field=name, n=limit))
    units = fields.get("units_per_package", 1)
    if isinstance(units, bool) or not isinstance(units, int) or not 1 <= units <= 10000:
        raise InvalidInput(_l("Units per package must be a whole number from 1 to 10000."))
    price = fields.get("retail_price_fen", 0)
    if isinstance(price, bool) or not isinstance(price, int) or not 0 <= price <= 100_000_000:
        raise InvalidInput(_l("Retail price must be between 0 and 1,000,000 yuan."))
    for key, enum in DRUG_ENUMS.items():
        if key in fields:
            fields[key] = _enum_value(enum, fields[key], key)
    for name in DRUG_TEXT_LIMITS:
        if name in fields and fields[name] is not None and not isinstance(fields[name], str):
            raise InvalidInput(_l("%(field)s must be text.", field=name))
    nmpa = fields.get("nmpa_code")
    if nmpa and (len(nmpa) != 14 or not nmpa.isdigit()):
        raise InvalidInput(_l("本位码 must be 14 digits."))
    return fields


def create_drug(session: Session, actor: Actor, *, code: str, generic_name: str, barcodes: list[tuple[str, str]] = (),
                valuable_threshold_fen: int = 10000, **fields) -> Drug:
    """Enter a drug into the master data. It stays PENDING (unsellable) until quality approves it."""
    code = (code or "").strip()
    if not code or len(code) > 32:
        raise InvalidInput(_l("Drug code is required (at most 32 characters)."))
    fields = check_drug_fields({**fields, "generic_name": generic_name})
    generic_name = fields.pop("generic_name")
    checked_codes = []
    for barcode, kind in barcodes:
        kind = _enum_value(BarcodeKind, kind, "barcode kind")
        if not is_valid_gtin(barcode):
            raise InvalidInput(_l("Barcode %(code)s has a wrong check digit or length.", code=barcode),
                               code="invalid_barcode")
        checked_codes.append((barcode, kind))
    if len({barcode for barcode, _kind in checked_codes}) != len(checked_codes):
        raise InvalidInput(_l("A barcode is listed twice."), code="invalid_barcode")
    with transaction(session):
        if session.exec(select(Drug.id).where(Drug.code == code)).first():
            raise Conflict(_l("Drug code %(code)s is already in use.", code=code))
        for barcode, _kind in checked_codes:
            if session.exec(select(DrugBarcode.id).where(DrugBarcode.barcode == barcode)).first():
                raise Conflict(_l("Barcode %(code)s already belongs to another drug.", code=barcode))
        drug = Drug(code=code, generic_name=generic_name, created_at=clock.now(), **fields)
        drug.pinyin = _drug_pinyin(drug.generic_name, drug.trade_name)
        drug.valuable = drug.retail_price_fen > valuable_threshold_fen
        session.add(drug)
        session.flush()
        for barcode, kind in checked_codes:
            session.add(DrugBarcode(drug_id=drug.id, barcode=barcode, kind=kind))
        record_audit(session, actor, "drug.create", "drug", drug.id,
                     after={"code": code, "generic_name": generic_name, "approval_no": drug.approval_no,
                            "barcodes": [b for b, _ in checked_codes]})
    return drug


# Master-data fields a change request may touch (code and barcodes identify the drug and stay).
EDITABLE_DRUG_FIELDS = ("generic_name", "trade_name", "dosage_form", "specification", "package_unit",
                        "smallest_unit", "units_per_package", "manufacturer", "approval_no", "nmpa_code", "hi_code",
                        "rx_class", "special_class", "storage_class", "key_curing", "category", "scope_item",
                        "retail_price_fen")


def update_drug(session: Session, actor: Actor, drug_id: int, changes: dict, *, reason: str,
                valuable_threshold_fen: int = 10000) -> tuple[dict, dict]:
    """Apply approved changes to a drug's master data; returns (before, after) of the fields that changed, which
    the audit event keeps."""
    unknown = sorted(set(changes) - set(EDITABLE_DRUG_FIELDS))
    if unknown:
        raise InvalidInput(_l("These fields cannot be changed: %(fields)s", fields=", ".join(unknown)))
    with transaction(session):
        drug = get_drug(session, drug_id)
        merged = check_drug_fields({**{k: getattr(drug, k) for k in EDITABLE_DRUG_FIELDS}, **changes})
        before = {k: getattr(drug, k) for k in changes if getattr(drug, k) != merged[k]}
        after = {k: merged[k] for k in before}
        for key, value in after.items():
            setattr(drug, key, value)
        drug.pinyin = _drug_pinyin(drug.generic_name, drug.trade_name)
        drug.valuable = drug.retail_price_fen > valuable_threshold_fen
        session.add(drug)
        record_audit(session, actor, "drug.update", "drug", drug.id, before=before, after=after, reason=reason)
    return before, after


def set_drug_approval(session: Session, actor: Actor, drug_id: int, status: str, reason: str = "") -> Drug:
    status = _enum_value(ApprovalStatus, status, "approval status")
    with transaction(session):
        drug = get_drug(session, drug_id)
        before = drug.approval_status
        drug.approval_status = status
        session.add(drug)
        record_audit(session, actor, "drug.approval", "drug", drug_id, before={"approval_status": before},
                     after={"approval_status": status}, reason=reason)
    return drug


# --- locations ----------------------------------------------------------------------------------------------------

def create_location(session: Session, actor: Actor, *, store_id: int, code: str, name: str, kind: str,
                    sellable: bool | None = None, storage_class: str = StorageClass.ROOM) -> Location:
    kind = _enum_value(LocationKind, kind, "location kind")
    storage_class = _enum_value(StorageClass, storage_class, "storage class")
    if sellable is None:
        sellable = kind == LocationKind.SELLABLE
    if sellable and kind in (LocationKind.PENDING, LocationKind.NONCONFORMING):
        raise InvalidInput(_l("Pending (yellow) and non-conforming (red) areas can never be sellable."))
    code = (code or "").strip()
    if not code or len(code) > 20:
        raise InvalidInput(_l("Location code is required (at most 20 characters)."))
    with transaction(session):
        if session.get(Store, store_id) is None:
            raise NotFound(_l("Store not found."))
        if session.exec(select(Location.id).where(Location.store_id == store_id, Location.code == code)).first():
            raise Conflict(_l("Location code %(code)s is already in use in this store.", code=code))
        loc = Location(store_id=store_id, code=code, name=name, kind=kind, sellable=sellable,
                       storage_class=storage_class)
        session.add(loc)
        session.flush()
        record_audit(session, actor, "location.create", "location", loc.id,
                     after={"code": code, "kind": kind, "sellable": sellable}, store_id=store_id)
    return loc


def store_locations(session: Session, store_id: int) -> list[Location]:
    return list(session.exec(select(Location).where(Location.store_id == store_id).order_by(Location.code)).all())


def get_location(session: Session, location_id: int, store_id: int | None = None) -> Location:
    loc = session.get(Location, location_id)
    if loc is None or (store_id is not None and loc.store_id != store_id):
        raise NotFound(_l("Location %(id)s not found.", id=location_id))
    return loc


# --- lots ---------------------------------------------------------------------------------------------------------

def create_lot(session: Session, actor: Actor, *, store_id: int, drug_id: int, lot_no: str,
               expiry_date: date | None, production_date: date | None = None,
               status: str = LotStatus.PENDING_INSPECTION) -> Lot:
    lot_no = (lot_no or "").strip()
    if not lot_no:
        raise InvalidInput(_l("Lot number (批号) is required."), code="invalid_lot_no")
    if len(lot_no) > MAX_LOT_NO_LENGTH:
        raise InvalidInput(_l("Lot number is longer than %(n)d characters.", n=MAX_LOT_NO_LENGTH),
                           code="invalid_lot_no")
    if expiry_date and production_date and expiry_date <= production_date:
        raise InvalidInput(_l("Expiry date must be after the production date."), code="invalid_dates")
    status = _enum_value(LotStatus, status, "lot status")
    with transaction(session):
        get_drug(session, drug_id)
        if session.exec(select(Lot.id).where(Lot.store_id == store_id, Lot.drug_id == drug_id,
                                             Lot.lot_no == lot_no)).first():
            raise Conflict(_l("Lot %(lot)s of this drug already exists in this store.", lot=lot_no))
        lot = Lot(store_id=store_id, drug_id=drug_id, lot_no=lot_no, production_date=production_date,
                  expiry_date=expiry_date, status=status, created_at=clock.now())
        session.add(lot)
        session.flush()
        session.add(LotStatusEvent(store_id=store_id, lot_id=lot.id, from_status=None, to_status=status,
                                   reason_category="created", actor_id=actor.user_id, at=clock.now()))
        record_audit(session, actor, "lot.create", "lot", lot.id,
                     after={"drug_id": drug_id, "lot_no": lot_no, "expiry_date": expiry_date, "status": status},
                     store_id=store_id)
    return lot


def get_lot(session: Session, lot_id: int, store_id: int | None = None, *, for_update: bool = False) -> Lot:
    lot = session.get(Lot, lot_id, with_for_update=for_update or None)
    if lot is None or (store_id is not None and lot.store_id != store_id):
        raise NotFound(_l("Lot %(id)s not found.", id=lot_id))
    return lot


# Allowed lot status changes; the quality flows (lock, non-conforming, recall, destruction) use these.
LOT_TRANSITIONS: dict[str, frozenset[str]] = {
    LotStatus.PENDING_INSPECTION: frozenset({LotStatus.RELEASED, LotStatus.NONCONFORMING, LotStatus.RETURNED,
                                             LotStatus.LOCKED}),
    LotStatus.RELEASED: frozenset({LotStatus.LOCKED, LotStatus.RECALLED, LotStatus.NONCONFORMING,
                                   LotStatus.RETURNED}),  # returned: all of it went back to the supplier
    LotStatus.LOCKED: frozenset({LotStatus.RELEASED, LotStatus.NONCONFORMING, LotStatus.RECALLED,
                                 LotStatus.RETURNED}),
    LotStatus.NONCONFORMING: frozenset({LotStatus.DESTROYED, LotStatus.RETURNED}),
    LotStatus.RECALLED: frozenset({LotStatus.RELEASED, LotStatus.NONCONFORMING, LotStatus.DESTROYED,
                                   LotStatus.RETURNED}),
    LotStatus.DESTROYED: frozenset(),
    LotStatus.RETURNED: frozenset(),
}


def change_lot_status(session: Session, actor: Actor, lot_id: int, to_status: str, *, reason_category: str,
                      note: str = "") -> Lot:
    to_status = _enum_value(LotStatus, to_status, "lot status")
    if not (reason_category or "").strip():
        raise InvalidInput(_l("A reason is required to change a lot's status."), code="reason_required")
    with transaction(session):
        lot = get_lot(session, lot_id, for_update=True)
        if to_status not in LOT_TRANSITIONS[lot.status]:
            raise Conflict(_l("Lot %(lot)s cannot go from %(a)s to %(b)s.", lot=lot.lot_no,
                              a=lot_status_label(lot.status), b=lot_status_label(to_status)),
                           code="invalid_transition")
        before = lot.status
        lot.status = to_status
        session.add(lot)
        session.add(LotStatusEvent(store_id=lot.store_id, lot_id=lot.id, from_status=before, to_status=to_status,
                                   reason_category=reason_category.strip(), note=note or "",
                                   actor_id=actor.user_id, at=clock.now()))
        record_audit(session, actor, "lot.status", "lot", lot.id, before={"status": before},
                     after={"status": to_status}, reason=f"{reason_category}: {note}".strip(": "),
                     store_id=lot.store_id)
    return lot


def lot_events(session: Session, lot_id: int) -> list[LotStatusEvent]:
    return list(session.exec(select(LotStatusEvent).where(LotStatusEvent.lot_id == lot_id)
                             .order_by(LotStatusEvent.at, LotStatusEvent.id)).all())


LOT_STATUS_LABELS = {
    LotStatus.PENDING_INSPECTION: _l("Pending inspection"),
    LotStatus.RELEASED: _l("Released"),
    LotStatus.LOCKED: _l("Locked"),
    LotStatus.NONCONFORMING: _l("Non-conforming"),
    LotStatus.RECALLED: _l("Recalled"),
    LotStatus.DESTROYED: _l("Destroyed"),
    LotStatus.RETURNED: _l("Returned to supplier"),
}


def lot_status_label(status: str):
    return LOT_STATUS_LABELS.get(status, status)


# Display labels for stored codes (the codes stay English in the database and the API).
LABELS = {
    "movement_kind": {
        MovementKind.OPENING: _l("Opening balance"), MovementKind.RECEIPT: _l("Purchase receipt"),
        MovementKind.TRANSFER_IN: _l("Transfer in"), MovementKind.TRANSFER_OUT: _l("Transfer out"),
        MovementKind.COUNT_GAIN: _l("Count gain"), MovementKind.COUNT_LOSS: _l("Count loss"),
        MovementKind.DESTRUCTION: _l("Destruction"), MovementKind.OTHER_IN: _l("Other in"),
        MovementKind.OTHER_OUT: _l("Other out"), MovementKind.PURCHASE_RETURN: _l("Return to supplier"),
        MovementKind.DONATION_IN: _l("Donation in"), MovementKind.DONATION_RETURN: _l("Donation return"),
        MovementKind.SALE: _l("Sale"), MovementKind.SALE_RETURN: _l("Customer return"),
    },
    "storage_class": {StorageClass.ROOM: _l("Room temperature 10–30 °C"), StorageClass.COOL: _l("Cool ≤ 20 °C"),
                      StorageClass.COLD: _l("Refrigerated 2–10 °C"), StorageClass.FROZEN: _l("Frozen")},
    "location_kind": {LocationKind.SELLABLE: _l("Sellable area"), LocationKind.WAREHOUSE: _l("Warehouse"),
                      LocationKind.PENDING: _l("Pending area (yellow)"),
                      LocationKind.NONCONFORMING: _l("Non-conforming area (red)"), LocationKind.COLD: _l("Cold store")},
    "rx_class": {RxClass.RX: _l("Rx"), RxClass.OTC_A: _l("OTC class A"), RxClass.OTC_B: _l("OTC class B"),
                 RxClass.DUAL: _l("Rx/OTC dual"), RxClass.NONE: _l("Non-drug")},
    "lot_status": LOT_STATUS_LABELS,
}


def label(value, kind: str):
    return LABELS.get(kind, {}).get(value, value)


# --- sellability and FEFO ---------------------------------------------------------------------------------------------

class SkipReason(StrEnum):
    DRUG_NOT_APPROVED = "drug_not_approved"
    DRUG_INACTIVE = "drug_inactive"
    EXPIRED = "expired"
    LOCKED = "locked"
    PENDING_INSPECTION = "pending_inspection"
    NONCONFORMING = "nonconforming"
    RECALLED = "recalled"
    DESTROYED = "destroyed"
    RETURNED = "returned"
    WRONG_LOCATION = "wrong_location"
    NOT_ENOUGH = "not_enough"


SKIP_REASON_LABELS = {
    SkipReason.DRUG_NOT_APPROVED: _l("drug not approved by quality"),
    SkipReason.DRUG_INACTIVE: _l("drug is inactive"),
    SkipReason.EXPIRED: _l("expired"),
    SkipReason.LOCKED: _l("locked by quality, ask the quality manager"),
    SkipReason.PENDING_INSPECTION: _l("pending acceptance inspection"),
    SkipReason.NONCONFORMING: _l("non-conforming"),
    SkipReason.RECALLED: _l("recalled"),
    SkipReason.DESTROYED: _l("destroyed"),
    SkipReason.RETURNED: _l("returned to supplier"),
    SkipReason.WRONG_LOCATION: _l("not in a sellable location"),
    SkipReason.NOT_ENOUGH: _l("not enough stock"),
}

_STATUS_REASON = {
    LotStatus.LOCKED: SkipReason.LOCKED,
    LotStatus.PENDING_INSPECTION: SkipReason.PENDING_INSPECTION,
    LotStatus.NONCONFORMING: SkipReason.NONCONFORMING,
    LotStatus.RECALLED: SkipReason.RECALLED,
    LotStatus.DESTROYED: SkipReason.DESTROYED,
    LotStatus.RETURNED: SkipReason.RETURNED,
}


def sellability(drug: Drug, lot: Lot, location: Location | None, today: date) -> list[SkipReason]:
    """The one sellability rule (DESIGN invariant 3). Empty list = sellable; otherwise every reason that applies.

    Sellable = drug approved and active, lot RELEASED, expiry date ≥ today in the store's time zone (a lot expiring
    today is still sellable today), in a sellable location. Stock > 0 is checked where quantities are known.
    """
    reasons: list[SkipReason] = []
    if drug.approval_status != ApprovalStatus.APPROVED:
        reasons.append(SkipReason.DRUG_NOT_APPROVED)
    if not drug.active:
        reasons.append(SkipReason.DRUG_INACTIVE)
    if lot.status != LotStatus.RELEASED:
        reasons.append(_STATUS_REASON.get(lot.status, SkipReason.LOCKED))
    if lot.expiry_date is not None and lot.expiry_date < today:
        reasons.append(SkipReason.EXPIRED)
    if location is not None and not (location.sellable and location.active):
        reasons.append(SkipReason.WRONG_LOCATION)
    return reasons


def describe_reasons(reasons) -> str:
    return "、".join(str(SKIP_REASON_LABELS[r]) for r in reasons)


@dataclass(frozen=True)
class Pick:
    lot_id: int
    lot_no: str
    location_id: int
    expiry_date: date | None
    quantity: int


@dataclass(frozen=True)
class Skipped:
    lot_id: int
    lot_no: str
    location_id: int
    expiry_date: date | None
    available: int
    reasons: tuple[SkipReason, ...]


@dataclass
class Allocation:
    drug_id: int
    requested: int
    picks: list[Pick] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    shortage: int = 0

    @property
    def complete(self) -> bool:
        return self.shortage == 0

    def to_dict(self) -> dict:
        return {
            "drug_id": self.drug_id, "requested": self.requested, "shortage": self.shortage,
            "picks": [{"lot_id": p.lot_id, "lot_no": p.lot_no, "location_id": p.location_id,
                       "expiry_date": p.expiry_date.isoformat() if p.expiry_date else None,
                       "quantity": p.quantity} for p in self.picks],
            "skipped": [{"lot_id": s.lot_id, "lot_no": s.lot_no, "location_id": s.location_id,
                         "expiry_date": s.expiry_date.isoformat() if s.expiry_date else None,
                         "available": s.available, "reasons": [str(r) for r in s.reasons]} for s in self.skipped],
        }


def store_today(store: Store) -> date:
    return clock.today(store.timezone)


def allocate_fefo(session: Session, store: Store, drug_id: int, quantity: int, *, today: date | None = None) -> Allocation:
    """First-expiry-first-out over the sellable lots of a drug in a store.

    Returns the chosen lots and every lot with stock that was skipped, with its reasons; if the sellable stock is
    not enough, the shortage is reported with NOT_ENOUGH on the last pick's behalf (nothing is reserved here).
    """
    _check_quantity(quantity, allow_negative=False)
    today = today or store_today(store)
    drug = get_drug(session, drug_id)
    rows = session.exec(
        select(StockBalance, Lot, Location)
        .join(Lot, Lot.id == StockBalance.lot_id)
        .join(Location, Location.id == StockBalance.location_id)
        .where(Lot.drug_id == drug_id, StockBalance.store_id == store.id, StockBalance.quantity > 0)
        .order_by(Lot.expiry_date.is_(None), Lot.expiry_date, Lot.created_at, Lot.id, Location.code)
    ).all()
    result = Allocation(drug_id=drug_id, requested=quantity)
    remaining = quantity
    for balance, lot, location in rows:
        reasons = sellability(drug, lot, location, today)
        if reasons:
            result.skipped.append(Skipped(lot.id, lot.lot_no, location.id, lot.expiry_date, balance.quantity,
                                          tuple(reasons)))
            continue
        if remaining == 0:
            continue
        take = min(remaining, balance.quantity)
        result.picks.append(Pick(lot.id, lot.lot_no, location.id, lot.expiry_date, take))
        remaining -= take
    result.shortage = remaining
    if remaining:
        result.skipped.append(Skipped(0, "", 0, None, quantity - remaining, (SkipReason.NOT_ENOUGH,)))
    return result


@dataclass(frozen=True)
class ScanResult:
    drug: Drug
    price_fen: int
    lot: Lot | None
    location_id: int | None
    available: int


_BARCODE_LOOKUP = None


def _barcode_lookup_statement():
    """Barcode → drug and its first sellable FEFO balance, as one statement (built once, bound parameters)."""
    global _BARCODE_LOOKUP
    if _BARCODE_LOOKUP is None:
        from sqlalchemy import select as sa_select
        from sqlalchemy.orm import aliased

        lot2, bal2 = aliased(Lot), aliased(StockBalance)
        first_sellable = (
            sa_select(bal2.id).join(lot2, lot2.id == bal2.lot_id).join(Location, Location.id == bal2.location_id)
            .where(lot2.drug_id == Drug.id, lot2.store_id == bindparam("store_id"),
                   lot2.status == LotStatus.RELEASED,
                   or_(lot2.expiry_date.is_(None), lot2.expiry_date >= bindparam("today")), bal2.quantity > 0,
                   Location.sellable == True, Location.active == True)  # noqa: E712
            .order_by(lot2.expiry_date.is_(None), lot2.expiry_date, lot2.created_at, lot2.id)
            .limit(1).correlate(Drug).scalar_subquery())
        _BARCODE_LOOKUP = (sa_select(Drug, Lot, StockBalance.location_id, StockBalance.quantity)
                           .select_from(DrugBarcode).join(Drug, Drug.id == DrugBarcode.drug_id)
                           .outerjoin(StockBalance, StockBalance.id == first_sellable)
                           .outerjoin(Lot, Lot.id == StockBalance.lot_id)
                           .where(DrugBarcode.barcode == bindparam("barcode")))
    return _BARCODE_LOOKUP


def sellable_lot_for_barcode(session: Session, store: Store, barcode: str, *, today: date | None = None) -> ScanResult:
    """Barcode → drug, its first sellable FEFO lot and the price: what a counter scan needs (one query)."""
    today = today or store_today(store)
    row = session.execute(_barcode_lookup_statement(),
                          {"barcode": barcode, "store_id": store.id, "today": today}).first()
    if row is None:
        raise NotFound(_l("Unknown barcode %(code)s: search the drug by name or pinyin initials.", code=barcode),
                       code="unknown_barcode")
    drug, lot, location_id, qty = row
    if drug.approval_status != ApprovalStatus.APPROVED or not drug.active:
        raise NotSellable(_l("%(drug)s is not approved for sale by quality.", drug=drug.display_name),
                          code="drug_not_approved")
    if lot is None:
        return ScanResult(drug, drug.retail_price_fen, None, None, 0)
    return ScanResult(drug, drug.retail_price_fen, lot, location_id, qty)


# --- the ledger --------------------------------------------------------------------------------------------------

def _check_quantity(quantity, *, allow_negative: bool = True) -> None:
    if isinstance(quantity, bool) or not isinstance(quantity, int):
        raise InvalidInput(_l("Quantity must be a whole number of smallest units."), code="invalid_quantity")
    if quantity == 0 or (quantity < 0 and not allow_negative):
        raise InvalidInput(_l("Quantity must be greater than zero."), code="invalid_quantity")
    if abs(quantity) > MAX_MOVEMENT_QUANTITY:
        raise InvalidInput(_l("Quantity %(q)d is not plausible (at most %(max)d).", q=quantity,
                              max=MAX_MOVEMENT_QUANTITY), code="invalid_quantity")


_LEDGER_STATEMENTS: dict[str, tuple] = {}


def _ledger_statements(dialect: str) -> tuple:
    """Core statements for the ledger's hot path, built once per dialect (bound parameters, cached compiles)."""
    if dialect not in _LEDGER_STATEMENTS:
        balance, movement = StockBalance.__table__, StockMovement.__table__
        ins = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(balance).values(
            store_id=bindparam("b_store"), lot_id=bindparam("b_lot"), location_id=bindparam("b_location"),
            quantity=bindparam("b_delta"))
        add = ins.on_conflict_do_update(index_elements=["lot_id", "location_id"],
                                        set_={"quantity": balance.c.quantity + ins.excluded.quantity}
                                        ).returning(balance.c.quantity)
        # One conditional statement: it takes the row lock (PostgreSQL) and cannot go below zero.
        take = (update(balance).where(balance.c.lot_id == bindparam("b_lot"),
                                      balance.c.location_id == bindparam("b_location"),
                                      balance.c.quantity + bindparam("b_delta") >= 0)
                .values(quantity=balance.c.quantity + bindparam("b_delta")).returning(balance.c.quantity))
        write = insert(movement).returning(movement.c.id)
        if dialect == "postgresql":
            # One round trip per movement: the balance change as a data-modifying CTE, the movement inserted from
            # its RETURNING row. No row from the CTE (the conditional UPDATE refused) means no movement either.
            cols = [c for c in movement.c if c.name not in ("id", "balance_after")]
            both = []
            for change in (add, take):
                b = change.cte("b")
                both.append(insert(movement).from_select(
                    [c.name for c in cols] + ["balance_after"],
                    sa_select(*[bindparam("m_" + c.name, type_=c.type) for c in cols], b.c.quantity)
                ).returning(movement.c.id, movement.c.balance_after))
            add, take = both
            write = None
        _LEDGER_STATEMENTS[dialect] = (add, take, write)
    return _LEDGER_STATEMENTS[dialect]


def available_quantity(session: Session, lot_id: int, location_id: int) -> int:
    qty = session.exec(select(StockBalance.quantity).where(StockBalance.lot_id == lot_id,
                                                           StockBalance.location_id == location_id)).first()
    return qty or 0


_MOVEMENT_KINDS = frozenset(k.value for k in MovementKind)


class PostedMovement(NamedTuple):
    id: int
    lot_id: int
    location_id: int
    kind: str
    quantity: int
    balance_after: int


def post_movement(session: Session, actor: Actor, *, lot: Lot, location: Location, quantity: int, kind: str,
                  reference: str = "", reason: str = "", unit_cost_fen: int | None = None) -> PostedMovement:
    """Write one ledger movement and update the balance in the caller's write transaction.

    Raises InsufficientStock (nothing written) if the balance would go below zero.
    """
    if not in_write_transaction(session):
        raise RuntimeError("post_movement must run inside core.db.transaction()")
    _check_quantity(quantity)
    if kind not in _MOVEMENT_KINDS:
        raise InvalidInput(_l("Unknown %(field)s: %(value)s", field="movement kind", value=kind))
    kind = str(kind)
    if lot.store_id != location.store_id:
        raise InvalidInput(_l("Lot and location belong to different stores."))
    conn = session.connection()
    add, take, write = _ledger_statements(conn.dialect.name)
    keys = {"b_store": lot.store_id, "b_lot": lot.id, "b_location": location.id, "b_delta": quantity}
    row = {"store_id": lot.store_id, "lot_id": lot.id, "location_id": location.id, "kind": kind, "quantity": quantity,
           "reference": reference[:64], "reason": reason or "", "actor_id": actor.user_id, "unit_cost_fen": unit_cost_fen}
    if write is None:  # PostgreSQL: balance and movement in one statement
        keys.update({"m_" + k: v for k, v in row.items()}, m_at=clock.now())
        written = conn.execute(add if quantity > 0 else take, keys).first()
        movement_id, new_qty = written if written is not None else (None, None)
    else:
        new_qty = conn.execute(add if quantity > 0 else take, keys).scalar_one_or_none()
    if new_qty is None:
        have = available_quantity(session, lot.id, location.id)
        raise InsufficientStock(
            _l("Only %(have)d left of lot %(lot)s at %(loc)s; %(want)d asked.", have=have, lot=lot.lot_no,
               loc=location.name, want=-quantity), details={"available": have, "requested": -quantity})
    if write is not None:
        movement_id = conn.execute(write, {**row, "balance_after": new_qty, "at": clock.now()}).scalar_one()
    # Written with Core (no unit of work on the hot path); the caller gets a plain record of it.
    return PostedMovement(movement_id, lot.id, location.id, kind, quantity, new_qty)


def issue_sellable(session: Session, actor: Actor, *, store: Store, lot_id: int, location_id: int, quantity: int,
                   kind: str = MovementKind.SALE, reference: str = "") -> PostedMovement:
    """Every path that hands stock to a customer goes through here: the sellability rule is checked on the server,
    under a share lock on the lot (PostgreSQL) so a quality lock cannot slip in between check and write."""
    _check_quantity(quantity, allow_negative=False)
    with transaction(session):
        lot = session.get(Lot, lot_id, with_for_update={"read": True} if is_postgres(session) else None,
                          populate_existing=True)
        if lot is None or lot.store_id != store.id:
            raise NotFound(_l("Lot %(id)s not found.", id=lot_id))
        location = get_location(session, location_id, store.id)
        drug = get_drug(session, lot.drug_id)
        reasons = sellability(drug, lot, location, store_today(store))
        if reasons:
            raise NotSellable(_l("Lot %(lot)s cannot be sold: %(why)s.", lot=lot.lot_no, why=describe_reasons(reasons)),
                              details={"reasons": [str(r) for r in reasons]})
        return post_movement(session, actor, lot=lot, location=location, quantity=-quantity, kind=kind,
                             reference=reference)


def transfer_stock(session: Session, actor: Actor, *, store: Store, lot_id: int, from_location_id: int,
                   to_location_id: int, quantity: int, reason: str = "", client_uuid: str | None = None) -> dict:
    """Move stock between two locations of a store (e.g. warehouse → shelf). Replays with the same client_uuid
    return the first result."""
    _check_quantity(quantity, allow_negative=False)
    key = validate_client_key(client_uuid) if client_uuid is not None else None
    if from_location_id == to_location_id:
        raise InvalidInput(_l("Choose two different locations."), code="same_location")
    with transaction(session):
        if key:
            earlier = idempotent_result(session, store.id, key, "stock.transfer")
            if earlier is not None:
                return earlier
        lot = get_lot(session, lot_id, store.id, for_update=is_postgres(session))
        source = get_location(session, from_location_id, store.id)
        target = get_location(session, to_location_id, store.id)
        drug = get_drug(session, lot.drug_id)
        _check_transfer_rules(drug, lot, source, target, store_today(store))
        reference = f"transfer:{key or uuid.uuid4()}"
        out = post_movement(session, actor, lot=lot, location=source, quantity=-quantity,
                            kind=MovementKind.TRANSFER_OUT, reference=reference, reason=reason)
        inn = post_movement(session, actor, lot=lot, location=target, quantity=quantity,
                            kind=MovementKind.TRANSFER_IN, reference=reference, reason=reason)
        result = {"reference": reference, "lot_id": lot.id, "quantity": quantity,
                  "from": {"location_id": source.id, "movement_id": out.id, "balance_after": out.balance_after},
                  "to": {"location_id": target.id, "movement_id": inn.id, "balance_after": inn.balance_after}}
        record_audit(session, actor, "stock.transfer", "lot", lot.id, after=result, reason=reason,
                     store_id=store.id)
        if key:
            remember_result(session, store.id, key, "stock.transfer", result)
    return result


def _check_transfer_rules(drug: Drug, lot: Lot, source: Location, target: Location, today: date) -> None:
    if not target.active:
        raise InvalidInput(_l("Location %(loc)s is not active.", loc=target.name))
    if LocationKind.NONCONFORMING in (source.kind, target.kind):
        raise Conflict(_l("Stock enters or leaves the non-conforming (red) area only through the quality "
                          "manager's non-conforming and destruction steps."), code="red_area")
    if target.sellable or target.kind in (LocationKind.WAREHOUSE, LocationKind.COLD):
        if lot.status != LotStatus.RELEASED:
            raise NotSellable(_l("Lot %(lot)s is %(status)s: only released lots go to the shelf or warehouse.",
                                 lot=lot.lot_no, status=lot_status_label(lot.status)))
    if target.sellable:
        reasons = [r for r in sellability(drug, lot, target, today)]
        if reasons:
            raise NotSellable(_l("Lot %(lot)s cannot go on sale: %(why)s.", lot=lot.lot_no,
                                 why=describe_reasons(reasons)))
    if drug.storage_class in (StorageClass.COLD, StorageClass.FROZEN) and target.storage_class != drug.storage_class:
        raise Conflict(_l("%(drug)s must be kept cold: choose a cold location.", drug=drug.display_name),
                       code="storage_class")


def receive_opening_stock(session: Session, actor: Actor, *, lot: Lot, location: Location, quantity: int,
                          reason: str = "opening balance") -> PostedMovement:
    """Stock a store brings along when it starts on Yaofang (the demo store uses this too)."""
    with transaction(session):
        movement = post_movement(session, actor, lot=lot, location=location, quantity=quantity,
                                 kind=MovementKind.OPENING, reference=f"opening:{lot.id}", reason=reason)
        record_audit(session, actor, "stock.opening", "lot", lot.id,
                     after={"location_id": location.id, "quantity": quantity}, store_id=lot.store_id)
    return movement


# --- reading the ledger ---------------------------------------------------------------------------------------------

def verify_ledger(session: Session, store_id: int | None = None) -> list[dict]:
    """Every (lot, location) whose balance differs from the sum of its movements; empty means the ledger holds."""
    moves = (select(StockMovement.lot_id, StockMovement.location_id, func.sum(StockMovement.quantity).label("total"))
             .group_by(StockMovement.lot_id, StockMovement.location_id))
    if store_id is not None:
        moves = moves.where(StockMovement.store_id == store_id)
    moves = moves.subquery()
    balances = select(StockBalance.lot_id, StockBalance.location_id, StockBalance.quantity)
    if store_id is not None:
        balances = balances.where(StockBalance.store_id == store_id)
    balances = balances.subquery()
    # Full outer join done as two anti-joins, which SQLite handles on every version we support.
    q1 = (select(balances.c.lot_id, balances.c.location_id, balances.c.quantity,
                 func.coalesce(moves.c.total, 0))
          .select_from(balances.outerjoin(moves, (moves.c.lot_id == balances.c.lot_id)
                                          & (moves.c.location_id == balances.c.location_id)))
          .where(balances.c.quantity != func.coalesce(moves.c.total, 0)))
    q2 = (select(moves.c.lot_id, moves.c.location_id, literal(0), moves.c.total)
          .select_from(moves.outerjoin(balances, (moves.c.lot_id == balances.c.lot_id)
                                       & (moves.c.location_id == balances.c.location_id)))
          .where(balances.c.lot_id.is_(None), moves.c.total != 0))
    problems = []
    for q in (q1, q2):
        for lot_id, location_id, balance, total in session.exec(q).all():
            problems.append({"lot_id": lot_id, "location_id": location_id, "balance": int(balance),
                             "movements_total": int(total)})
    return problems


def lots_of_drug(session: Session, store_id: int, drug_id: int):
    """Lots with their total on hand in the store, earliest expiry first."""
    total = func.coalesce(func.sum(StockBalance.quantity), 0).label("on_hand")
    stmt = (select(Lot, total).outerjoin(StockBalance, StockBalance.lot_id == Lot.id)
            .where(Lot.store_id == store_id, Lot.drug_id == drug_id).group_by(Lot.id)
            .order_by(Lot.expiry_date.is_(None), Lot.expiry_date, Lot.id))
    return session.exec(stmt).all()


def balances_of_drug(session: Session, store_id: int, drug_id: int):
    stmt = (select(StockBalance, Lot, Location).join(Lot, Lot.id == StockBalance.lot_id)
            .join(Location, Location.id == StockBalance.location_id)
            .where(StockBalance.store_id == store_id, Lot.drug_id == drug_id, StockBalance.quantity > 0)
            .order_by(Location.code, Lot.expiry_date))
    return session.exec(stmt).all()


def movements(session: Session, store_id: int, *, drug_id: int | None = None, lot_id: int | None = None,
              location_id: int | None = None, limit: int = 100, offset: int = 0):
    stmt = (select(StockMovement, Lot, Location).join(Lot, Lot.id == StockMovement.lot_id)
            .join(Location, Location.id == StockMovement.location_id)
            .where(StockMovement.store_id == store_id))
    if drug_id is not None:
        stmt = stmt.where(Lot.drug_id == drug_id)
    if lot_id is not None:
        stmt = stmt.where(StockMovement.lot_id == lot_id)
    if location_id is not None:
        stmt = stmt.where(StockMovement.location_id == location_id)
    stmt = stmt.order_by(StockMovement.at.desc(), StockMovement.id.desc()).limit(max(1, min(limit, 500)))
    return session.exec(stmt.offset(max(0, offset))).all()


def expiry_tier(expiry: date | None, today: date, tiers_days=(180, 90, 30)) -> str | None:
    """'expired', or the smallest warning tier (in days) the lot has entered, or None."""
    if expiry is None:
        return None
    if expiry < today:
        return "expired"
    left = (expiry - today).days
    entered = [t for t in sorted(tiers_days) if left <= t]
    return str(entered[0]) if entered else None


def attention_counts(session: Session, store: Store, tiers_days=(180, 90, 30)) -> dict:
    """What needs attention in a store, for the dashboards: lots with stock by status and expiry tier."""
    today = store_today(store)
    on_hand = (select(StockBalance.lot_id, func.sum(StockBalance.quantity).label("qty"))
               .where(StockBalance.store_id == store.id).group_by(StockBalance.lot_id)
               .having(func.sum(StockBalance.quantity) > 0).subquery())
    rows = session.exec(select(Lot.status, Lot.expiry_date).join(on_hand, on_hand.c.lot_id == Lot.id)).all()
    counts = {"expired": 0, "locked": 0, "pending_inspection": 0, "nonconforming": 0, "recalled": 0}
    for t in tiers_days:
        counts[f"within_{t}"] = 0
    for status, expiry in rows:
        if expiry is not None and expiry < today:
            counts["expired"] += 1
        elif expiry is not None:
            for t in tiers_days:  # cumulative: a lot within 30 days is also within 90 and 180
                if (expiry - today).days <= t:
                    counts[f"within_{t}"] += 1
        if status in counts:
            counts[status] += 1
    return counts


def near_expiry_lots(session: Session, store: Store, within_days: int = 180, limit: int = 50):
    today = store_today(store)
    total = func.sum(StockBalance.quantity).label("on_hand")
    stmt = (select(Lot, Drug, total).join(Drug, Drug.id == Lot.drug_id)
            .join(StockBalance, StockBalance.lot_id == Lot.id)
            .where(Lot.store_id == store.id, Lot.expiry_date.is_not(None),
                   Lot.expiry_date <= today + timedelta(days=within_days))
            .group_by(Lot.id, Drug.id).having(func.sum(StockBalance.quantity) > 0)
            .order_by(Lot.expiry_date).limit(limit))
    return session.exec(stmt).all()
