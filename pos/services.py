"""POS use cases. The foundation creates registers; shifts and sales build on them."""
from __future__ import annotations

import re

from flask_babel import lazy_gettext as _l
from sqlmodel import Session, select

from core.db import transaction
from core.errors import Conflict, InvalidInput, NotFound
from core.models import Store
from core.services import Actor, record_audit
from pos.models import Register

from hardware.receipt import PROFILES as PRINTER_PROFILES  # noqa: E402


def create_register(session: Session, actor: Actor, *, store_id: int, code: str, name: str,
                    printer_url: str = "dummy:", printer_profile: str = "gbk-80mm") -> Register:
    code = (code or "").strip()
    if not re.fullmatch(r"[A-Z0-9]{1,16}", code):
        raise InvalidInput(_l("Register code: 1–16 capital letters or digits (it prefixes sale numbers)."))
    from hardware.printers import parse_printer_url

    try:
        parse_printer_url(printer_url or "")
    except ValueError:
        raise InvalidInput(_l("Printer URL not understood: %(url)s (network://host:9100, usb://04b8:0202, "
                              "serial:///dev/ttyUSB0, file:///dev/usb/lp0 or dummy:)", url=printer_url))
    if printer_profile not in PRINTER_PROFILES:
        raise InvalidInput(_l("Unknown printer profile: %(p)s", p=printer_profile))
    with transaction(session):
        if session.get(Store, store_id) is None:
            raise NotFound(_l("Store not found."))
        if session.exec(select(Register.id).where(Register.store_id == store_id, Register.code == code)).first():
            raise Conflict(_l("Register code %(code)s is already in use.", code=code))
        register = Register(store_id=store_id, code=code, name=name or code, printer_url=printer_url,
                            printer_profile=printer_profile)
        session.add(register)
        session.flush()
        record_audit(session, actor, "register.create", "register", register.id,
                     after={"code": code, "name": name, "printer_url": printer_url}, store_id=store_id)
    return register


# ======================================================================================================================
# Shifts, carts and sales. Every rule is checked when a line is added AND again, on the server, at commit.
# ======================================================================================================================

import hashlib
import json
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from sqlalchemy import func, text, update
from sqlalchemy.exc import IntegrityError
from stdnum.cn import ric

from core import clock
from core.money import format_fen
from core.db import is_postgres
from core.errors import NotSellable, PermissionDenied
from core.models import LicenceKind, User
from core.permissions import Perm
from core.services import actor_for, authenticate, valid_licence
from inventory import services as inv
from inventory.models import Drug, Location, LocationKind, Lot, MovementKind, RxClass, SpecialClass
from pos.models import (TENDER_LABELS, Cart, CartLine, CartStatus, DayClose, Prescription, PrintJob, RegisterJournal,
                        Sale, SaleKind, SaleLine, SalePayment, Shift, SpecialDrugRecord, SplitPackRecord, Tender)
from pos.printing import DAY_REPORT, DAY_REPORT_REPRINT

GENESIS_HASH = "0" * 64
MAX_RX_DRUGS = 5  # drugs per prescription (RxRules Art. 6)
RX_VALID_DAYS = 3  # valid on the day of issue, extension ≤ 3 days (RxRules Art. 18)
EPHEDRINE_MAX_PACKS = 2  # minimum packs per sale (Eph2012)
MAX_PACKS_PER_LINE = 999
REFERENCE_TENDERS = {Tender.CARD, Tender.WECHAT, Tender.ALIPAY}
COUNTER_TENDERS = (Tender.CASH, Tender.CARD, Tender.WECHAT, Tender.ALIPAY)
RETURN_REASONS_QUALITY = ("quality_problem", "wrong_dispensing", "adverse_reaction", "recall")
RETURN_REASONS_OTHER = ("customer_changed_mind", "other")


@dataclass
class PosSettings:
    """Store policy for the counter (configurable: GSP says drugs are generally not taken back)."""

    returns_policy: str = "quality_only"  # or "any"
    valuable_threshold_fen: int = 10000
    near_expiry_warn_days: int = 90

    @classmethod
    def from_config(cls, config: dict) -> "PosSettings":
        return cls(returns_policy=config.get("RETURNS_POLICY", "quality_only"),
                   valuable_threshold_fen=config.get("VALUABLE_PRICE_FEN", 10000),
                   near_expiry_warn_days=config.get("POS_NEAR_EXPIRY_DAYS", 90))


def get_register(session: Session, store_id: int, code: str) -> Register:
    reg = session.exec(select(Register).where(Register.store_id == store_id, Register.code == code)).first()
    if reg is None or not reg.active:
        raise NotFound(_l("Register %(code)s not found.", code=code))
    return reg


def store_registers(session: Session, store_id: int) -> list[Register]:
    return list(session.exec(select(Register).where(Register.store_id == store_id, Register.active == True)  # noqa
                             .order_by(Register.code)).all())


# --- shifts -----------------------------------------------------------------------------------------------------------

def open_shift_of(session: Session, register_id: int) -> Shift | None:
    return session.exec(select(Shift).where(Shift.register_id == register_id, Shift.closed_at.is_(None))).first()


def open_shift(session: Session, actor: Actor, register: Register, opening_float_fen: int) -> Shift:
    if isinstance(opening_float_fen, bool) or not isinstance(opening_float_fen, int) \
            or not 0 <= opening_float_fen <= 10_000_000:
        raise InvalidInput(_l("The cash float must be between 0 and 100,000 yuan."), code="invalid_float")
    try:
        with transaction(session):
            if open_shift_of(session, register.id):
                raise Conflict(_l("Register %(code)s already has an open shift: close it first.", code=register.code),
                               code="shift_open")
            shift = Shift(store_id=register.store_id, register_id=register.id, cashier_id=actor.user_id,
                          opened_at=clock.now(), opening_float_fen=opening_float_fen)
            session.add(shift)
            session.flush()
            record_audit(session, actor, "shift.open", "shift", shift.id,
                         after={"register": register.code, "float_fen": opening_float_fen})
    except IntegrityError:  # another counter opened it a moment ago (unique open shift per register)
        raise Conflict(_l("Register %(code)s already has an open shift: close it first.", code=register.code),
                       code="shift_open")
    return shift


def _no_shift(register: Register) -> Conflict:
    return Conflict(_l("No open shift on %(code)s: open a shift with a cash float first.", code=register.code),
                    code="no_shift")


def require_open_shift(session: Session, register: Register) -> Shift:
    shift = open_shift_of(session, register.id)
    if shift is None:
        raise _no_shift(register)
    return shift


def shift_report(session: Session, shift: Shift) -> dict:
    rows = session.exec(select(SalePayment.tender, func.sum(SalePayment.amount_fen), func.count(SalePayment.id))
                        .join(Sale, Sale.id == SalePayment.sale_id).where(Sale.shift_id == shift.id)
                        .group_by(SalePayment.tender)).all()
    by_tender = {tender: int(total) for tender, total, _n in rows}
    change = session.exec(select(func.coalesce(func.sum(Sale.change_fen), 0)).where(Sale.shift_id == shift.id)).one()
    counts = dict(session.exec(select(Sale.kind, func.count(Sale.id)).where(Sale.shift_id == shift.id)
                               .group_by(Sale.kind)).all())
    valuables = session.exec(
        select(Drug.generic_name, Drug.specification, func.sum(SaleLine.pack_quantity))
        .join(SaleLine, SaleLine.drug_id == Drug.id).join(Sale, Sale.id == SaleLine.sale_id)
        .where(Sale.shift_id == shift.id, SaleLine.valuable == True)  # noqa: E712
        .group_by(Drug.id, Drug.generic_name, Drug.specification)).all()
    cash_in = by_tender.get(Tender.CASH, 0) - int(change)
    expected = shift.opening_float_fen + cash_in
    return {"shift_id": shift.id, "opened_at": shift.opened_at, "closed_at": shift.closed_at,
            "opening_float_fen": shift.opening_float_fen, "by_tender": by_tender, "cash_net_fen": cash_in,
            "expected_cash_fen": expected, "counted_cash_fen": shift.counted_cash_fen,
            "over_short_fen": None if shift.counted_cash_fen is None else shift.counted_cash_fen - expected,
            "sales": counts.get(SaleKind.SALE, 0), "returns": counts.get(SaleKind.RETURN, 0),
            "valuables": [(n, s, int(q)) for n, s, q in valuables]}


def close_shift(session: Session, actor: Actor, register: Register, counted_cash_fen: int) -> dict:
    if isinstance(counted_cash_fen, bool) or not isinstance(counted_cash_fen, int) \
            or not 0 <= counted_cash_fen <= 100_000_000:
        raise InvalidInput(_l("Counted cash must be a non-negative amount."), code="invalid_amount")
    with transaction(session):
        shift = require_open_shift(session, register)
        busy = session.exec(select(func.count(CartLine.id)).join(Cart, Cart.id == CartLine.cart_id)
                            .where(Cart.shift_id == shift.id, Cart.status == CartStatus.OPEN)).one()
        if busy:
            raise Conflict(_l("A cart is still open at this register: finish, hold or cancel it first."),
                           code="cart_open")
        report = shift_report(session, shift)
        shift.closed_at = clock.now()
        shift.closed_by_id = actor.user_id
        shift.counted_cash_fen = counted_cash_fen
        shift.expected_cash_fen = report["expected_cash_fen"]
        shift.over_short_fen = counted_cash_fen - report["expected_cash_fen"]
        session.add(shift)
        record_audit(session, actor, "shift.close", "shift", shift.id,
                     after={"counted_cash_fen": counted_cash_fen, "expected_cash_fen": shift.expected_cash_fen,
                            "over_short_fen": shift.over_short_fen})
    return shift_report(session, shift)


# --- carts ------------------------------------------------------------------------------------------------------------

def current_cart(session: Session, register: Register) -> Cart | None:
    return session.exec(select(Cart).where(Cart.register_id == register.id, Cart.status == CartStatus.OPEN)
                        .order_by(Cart.id.desc())).first()


def open_cart(session: Session, actor: Actor, register: Register) -> Cart:
    with transaction(session):
        shift = require_open_shift(session, register)
        cart = current_cart(session, register)
        if cart is None:
            cart = Cart(store_id=register.store_id, register_id=register.id, shift_id=shift.id,
                        cashier_id=actor.user_id, created_at=clock.now())
            session.add(cart)
            session.flush()
    return cart


def cart_lines(session: Session, cart_id: int, *, fresh: bool = False):
    """The cart's lines with their drugs and lots; fresh=True overwrites objects the session already holds (the
    commit must see a lock set since they were loaded)."""
    stmt = (select(CartLine, Drug, Lot).join(Drug, Drug.id == CartLine.drug_id).join(Lot, Lot.id == CartLine.lot_id)
            .where(CartLine.cart_id == cart_id).order_by(CartLine.id))
    if fresh:
        stmt = stmt.execution_options(populate_existing=True)
    return session.exec(stmt).all()


def line_quantity(line: CartLine, drug: Drug) -> int:
    """Smallest units this line takes from stock."""
    return line.pack_quantity if line.split_pack else line.pack_quantity * drug.units_per_package


def _get_cart(session: Session, register: Register, cart_id: int | None = None, *, status=CartStatus.OPEN) -> Cart:
    cart = session.get(Cart, cart_id) if cart_id else current_cart(session, register)
    if cart is None or cart.register_id != register.id or (status and cart.status != status):
        raise _no_cart()
    return cart


def _no_cart() -> NotFound:
    return NotFound(_l("No open cart at this register: scan an item to start one."), code="no_cart")


@dataclass
class LineNotice:
    """What the counter should tell the buyer or cashier about a line that was just added."""

    level: str  # info, warning
    message: str


def _check_line_rules(session: Session, store: Store, cart: Cart, drug: Drug, lot: Lot, location: Location,
                      extra_units: int, today: date, rows=None, have: int | None = None) -> None:
    """The rules at add time (and, with extra_units=0, the same checks at commit via _check_cart)."""
    reasons = inv.sellability(drug, lot, location, today)
    if reasons:
        raise NotSellable(_l("Lot %(lot)s of %(drug)s cannot be sold: %(why)s.", lot=lot.lot_no,
                             drug=drug.display_name, why=inv.describe_reasons(reasons)),
                          details={"reasons": [str(r) for r in reasons]})
    rows = cart_lines(session, cart.id) if rows is None else rows
    in_cart = sum(line_quantity(l, d) for l, d, _lot in rows if l.lot_id == lot.id and l.location_id == location.id)
    if have is None:  # FEFO's plan already read the balance in this transaction
        have = inv.available_quantity(session, lot.id, location.id)
    if in_cart + extra_units > have:
        raise NotSellable(_l("Only %(have)d %(unit)s of lot %(lot)s left at %(loc)s.", have=have,
                             unit=drug.smallest_unit, lot=lot.lot_no, loc=location.name), code="insufficient_stock")


def _ephedrine_packs(session: Session, cart: Cart, rows=None) -> dict[int, float]:
    packs: dict[int, float] = {}
    for line, drug, _lot in (cart_lines(session, cart.id) if rows is None else rows):
        if drug.special_class == SpecialClass.EPHEDRINE_COMBINATION:
            packs[drug.id] = packs.get(drug.id, 0) + line_quantity(line, drug) / drug.units_per_package
    return packs


def _check_ephedrine_limit(session: Session, cart: Cart, rows=None) -> None:
    total = sum(_ephedrine_packs(session, cart, rows).values())
    if total > EPHEDRINE_MAX_PACKS:
        raise Conflict(_l("Ephedrine-combination drugs: at most %(n)d packs per sale.", n=EPHEDRINE_MAX_PACKS),
                       code="ephedrine_limit")


def add_item(session: Session, actor: Actor, register: Register, *, drug_id: int, lot_id: int | None = None,
             packs: int = 1, split_pack: bool = False, trace_code: str | None = None,
             settings: PosSettings | None = None) -> tuple[CartLine, list[LineNotice]]:
    """Add a drug to the register's open cart: FEFO picks the lot unless one is given (a scanned GS1 lot, or a
    pharmacist's choice). Returns the line and the notices for the counter (near expiry, Rx, ephedrine)."""
    settings = settings or PosSettings()
    if isinstance(packs, bool) or not isinstance(packs, int) or not 1 <= packs <= MAX_PACKS_PER_LINE:
        raise InvalidInput(_l("Quantity must be a whole number from 1 to %(n)d.", n=MAX_PACKS_PER_LINE),
                           code="invalid_quantity")
    with transaction(session):
        store = session.get(Store, register.store_id)
        cart = open_cart(session, actor, register)
        drug = inv.get_drug(session, drug_id)
        if split_pack and drug.unit_price_fen is None:
            raise Conflict(_l("%(drug)s is not sold split-pack (拆零).", drug=drug.display_name), code="no_split_pack")
        units = packs if split_pack else packs * drug.units_per_package
        today = inv.store_today(store)
        rows = cart_lines(session, cart.id)  # read once; each planned line below updates it
        if lot_id is None:
            plan = _fefo_plan(session, store, cart, drug, units, split_pack, today, rows)
        else:
            lot = inv.get_lot(session, lot_id, store.id)
            if lot.drug_id != drug.id:
                raise InvalidInput(_l("Lot %(lot)s is not a lot of %(drug)s.", lot=lot.lot_no, drug=drug.display_name))
            plan = [(lot, _sellable_location_with(session, store, lot, units), packs, None)]
        price = drug.unit_price_fen if split_pack else drug.retail_price_fen
        lines = []
        for lot, location, line_packs, have in plan:
            line_units = line_packs if split_pack else line_packs * drug.units_per_package
            _check_line_rules(session, store, cart, drug, lot, location, line_units, today, rows, have)
            existing = None
            if trace_code is None:
                existing = next((l for l, _d, _lot in rows
                                 if l.drug_id == drug.id and l.lot_id == lot.id and l.location_id == location.id
                                 and l.split_pack == split_pack and l.trace_code is None
                                 and not l.price_override_reason), None)
            if existing:
                existing.pack_quantity += line_packs
                line = existing
            else:
                line = CartLine(cart_id=cart.id, drug_id=drug.id, lot_id=lot.id, location_id=location.id,
                                split_pack=split_pack, pack_quantity=line_packs, unit_price_fen=price,
                                trace_code=trace_code, added_at=clock.now())
            session.add(line)
            session.flush()
            lines.append(line)
            if not existing:
                rows = [*rows, (line, drug, lot)]
        if drug.special_class == SpecialClass.EPHEDRINE_COMBINATION:
            _check_ephedrine_limit(session, cart, rows)
        notices = []
        for lot, _location, _packs, _have in plan:
            if lot.expiry_date and (lot.expiry_date - today).days <= settings.near_expiry_warn_days:
                notices.append(LineNotice("warning", str(_l("Near expiry: lot %(lot)s expires on %(date)s — tell "
                                                            "the buyer.", lot=lot.lot_no, date=lot.expiry_date))))
        if drug.rx_class == RxClass.RX:
            notices.append(LineNotice("info", str(_l("Prescription drug: enter the prescription for a "
                                                     "pharmacist's review before payment."))))
        if drug.special_class == SpecialClass.EPHEDRINE_COMBINATION:
            notices.append(LineNotice("info", str(_l("Ephedrine combination: register the buyer's name and ID "
                                                     "number; at most %(n)d packs.", n=EPHEDRINE_MAX_PACKS))))
    return lines[0], notices


def _fefo_plan(session: Session, store: Store, cart: Cart, drug: Drug, units: int, split_pack: bool,
               today: date, rows) -> list[tuple[Lot, Location, int, int]]:
    """Whole packs from the sellable lots in FEFO order, net of what the cart already holds; several lines when
    the first lot cannot cover the quantity alone. Each entry: lot, location, packs, the balance read."""
    allocation = inv.allocate_fefo(session, store, drug.id, inv.MAX_MOVEMENT_QUANTITY, today=today)
    held = {}
    for l, d, _lot in rows:
        held[(l.lot_id, l.location_id)] = held.get((l.lot_id, l.location_id), 0) + line_quantity(l, d)
    per_pack = 1 if split_pack else drug.units_per_package
    wanted = units // per_pack
    plan = []
    for pick in allocation.picks:
        free = pick.quantity - held.get((pick.lot_id, pick.location_id), 0)
        take = min(wanted, max(0, free) // per_pack)
        if take:
            plan.append((inv.get_lot(session, pick.lot_id), inv.get_location(session, pick.location_id), take,
                         pick.quantity))
            wanted -= take
        if not wanted:
            return plan
    if not plan and not allocation.picks:
        why = inv.describe_reasons(sorted({r for sk in allocation.skipped for r in sk.reasons})) or \
            str(inv.SKIP_REASON_LABELS[inv.SkipReason.NOT_ENOUGH])
        raise NotSellable(_l("%(drug)s has no sellable stock: %(why)s.", drug=drug.display_name, why=why),
                          code="no_sellable_stock")
    have = (units // per_pack) - wanted
    raise NotSellable(_l("Only %(have)d %(unit)s of %(drug)s can still be sold.", have=have,
                         unit=drug.smallest_unit if split_pack else drug.package_unit, drug=drug.display_name),
                      code="insufficient_stock")


def _sellable_location_with(session: Session, store: Store, lot: Lot, units: int) -> Location:
    """A sellable location holding this lot (the one with the most of it)."""
    from inventory.models import StockBalance

    row = session.exec(select(Location).join(StockBalance, StockBalance.location_id == Location.id)
                       .where(StockBalance.lot_id == lot.id, StockBalance.quantity > 0,
                              Location.sellable == True, Location.store_id == store.id)  # noqa: E712
                       .order_by(StockBalance.quantity.desc())).first()
    if row is None:
        raise NotSellable(_l("Lot %(lot)s has no stock in a sellable location.", lot=lot.lot_no),
                          code="no_sellable_stock")
    return row


def _get_line(session: Session, register: Register, line_id: int) -> tuple[Cart, CartLine]:
    line = session.get(CartLine, line_id)
    cart = session.get(Cart, line.cart_id) if line else None
    if line is None or cart is None or cart.register_id != register.id or cart.status != CartStatus.OPEN:
        raise NotFound(_l("That line is not in this register's open cart."), code="no_line")
    return cart, line


def set_line_quantity(session: Session, actor: Actor, register: Register, line_id: int, packs: int) -> CartLine:
    if isinstance(packs, bool) or not isinstance(packs, int) or not 1 <= packs <= MAX_PACKS_PER_LINE:
        raise InvalidInput(_l("Quantity must be a whole number from 1 to %(n)d.", n=MAX_PACKS_PER_LINE),
                           code="invalid_quantity")
    with transaction(session):
        cart, line = _get_line(session, register, line_id)
        if line.trace_code and packs != 1:
            raise Conflict(_l("A line with a trace code is one pack: scan each pack's trace code."),
                           code="traced_line")
        drug = inv.get_drug(session, line.drug_id)
        old = line.pack_quantity
        line.pack_quantity = packs
        session.add(line)
        session.flush()
        store = session.get(Store, register.store_id)
        _check_line_rules(session, store, cart, drug, inv.get_lot(session, line.lot_id),
                          inv.get_location(session, line.location_id), 0, inv.store_today(store))
        _check_ephedrine_limit(session, cart)
        record_audit(session, actor, "cart.quantity", "cart_line", line.id, before={"packs": old},
                     after={"packs": packs})
    return line


def remove_line(session: Session, actor: Actor, register: Register, line_id: int) -> None:
    with transaction(session):
        _cart, line = _get_line(session, register, line_id)
        session.delete(line)
        record_audit(session, actor, "cart.remove", "cart_line", line_id,
                     before={"drug_id": line.drug_id, "lot_id": line.lot_id, "packs": line.pack_quantity})


def choose_lot(session: Session, actor: Actor, register: Register, line_id: int, lot_id: int) -> CartLine:
    """A pharmacist (or manager) may sell another sellable lot than the one FEFO chose."""
    if not actor.can(Perm.POS_CHOOSE_LOT):
        raise PermissionDenied(_l("Only a pharmacist or the store manager may choose another lot."))
    with transaction(session):
        cart, line = _get_line(session, register, line_id)
        store = session.get(Store, register.store_id)
        drug = inv.get_drug(session, line.drug_id)
        lot = inv.get_lot(session, lot_id, store.id)
        if lot.drug_id != drug.id:
            raise InvalidInput(_l("Lot %(lot)s is not a lot of %(drug)s.", lot=lot.lot_no, drug=drug.display_name))
        units = line_quantity(line, drug)
        location = _sellable_location_with(session, store, lot, units)
        before = {"lot_id": line.lot_id, "location_id": line.location_id}
        line.lot_id, line.location_id = lot.id, location.id
        session.add(line)
        session.flush()
        _check_line_rules(session, store, cart, drug, lot, location, 0, inv.store_today(store))
        record_audit(session, actor, "cart.choose_lot", "cart_line", line.id, before=before,
                     after={"lot_id": lot.id, "location_id": location.id})
    return line


def override_price(session: Session, actor: Actor, register: Register, line_id: int, unit_price_fen: int,
                   reason: str) -> CartLine:
    if not actor.can(Perm.POS_PRICE_OVERRIDE):
        raise PermissionDenied(_l("Changing a price needs the price-override permission."))
    reason = (reason or "").strip()
    if not reason or len(reason) > 200:
        raise InvalidInput(_l("A price change needs a reason."), code="reason_required")
    if isinstance(unit_price_fen, bool) or not isinstance(unit_price_fen, int) or unit_price_fen < 0:
        raise InvalidInput(_l("The price must be a non-negative amount."), code="invalid_amount")
    with transaction(session):
        _cart, line = _get_line(session, register, line_id)
        drug = inv.get_drug(session, line.drug_id)
        if drug.price_cap_fen is not None and unit_price_fen > drug.price_cap_fen and not line.split_pack:
            raise Conflict(_l("The price is above the cap of %(cap)s.", cap=format_fen(drug.price_cap_fen)), code="price_cap")
        before = line.unit_price_fen
        line.unit_price_fen = unit_price_fen
        line.price_override_reason = reason
        session.add(line)
        record_audit(session, actor, "cart.price_override", "cart_line", line.id,
                     before={"unit_price_fen": before}, after={"unit_price_fen": unit_price_fen}, reason=reason)
    return line


def set_buyer(session: Session, actor: Actor, register: Register, *, name: str, id_number: str) -> Cart:
    """Register the buyer of an ephedrine-combination drug (name + 18-digit ID, checksum validated)."""
    name = (name or "").strip()
    id_number = (id_number or "").strip().upper()
    if not name or len(name) > 64:
        raise InvalidInput(_l("The buyer's name is required."), code="buyer_name")
    if not ric.is_valid(id_number):
        raise InvalidInput(_l("ID number %(id)s is not a valid 18-digit resident ID (check the last digit).",
                              id=id_number[:18]), code="invalid_id_number")
    with transaction(session):
        cart = _get_cart(session, register)
        cart.buyer_name, cart.buyer_id_number = name, id_number
        session.add(cart)
        record_audit(session, actor, "cart.buyer", "cart", cart.id, after={"buyer_name": name})
    return cart


def hold_cart(session: Session, actor: Actor, register: Register) -> Cart:
    with transaction(session):
        cart = _get_cart(session, register)
        if not cart_lines(session, cart.id):
            raise Conflict(_l("The cart is empty: there is nothing to hold."), code="cart_empty")
        cart.status = CartStatus.HELD
        session.add(cart)
        record_audit(session, actor, "cart.hold", "cart", cart.id)
    return cart


def held_carts(session: Session, register: Register) -> list[Cart]:
    return list(session.exec(select(Cart).where(Cart.register_id == register.id, Cart.status == CartStatus.HELD)
                             .order_by(Cart.created_at)).all())


def resume_cart(session: Session, actor: Actor, register: Register, cart_id: int) -> Cart:
    with transaction(session):
        if current_cart(session, register) and cart_lines(session, current_cart(session, register).id):
            raise Conflict(_l("Finish or hold the current cart before resuming another."), code="cart_open")
        empty = current_cart(session, register)
        if empty:
            empty.status = CartStatus.CANCELLED
            session.add(empty)
        cart = _get_cart(session, register, cart_id, status=CartStatus.HELD)
        cart.status = CartStatus.OPEN
        cart.shift_id = require_open_shift(session, register).id
        session.add(cart)
        record_audit(session, actor, "cart.resume", "cart", cart.id)
    return cart


def cancel_cart(session: Session, actor: Actor, register: Register) -> None:
    with transaction(session):
        cart = _get_cart(session, register)
        cart.status = CartStatus.CANCELLED
        session.add(cart)
        record_audit(session, actor, "cart.cancel", "cart", cart.id)


# --- prescriptions ------------------------------------------------------------------------------------------------------

def rx_drug_ids(session: Session, cart: Cart) -> set[int]:
    return {d.id for _l, d, _lot in cart_lines(session, cart.id) if d.rx_class == RxClass.RX}


def cart_prescription(session: Session, cart: Cart) -> Prescription | None:
    return session.exec(select(Prescription).where(Prescription.cart_id == cart.id)
                        .order_by(Prescription.id.desc())).first()


def record_prescription(session: Session, actor: Actor, register: Register, *, number: str, prescriber: str,
                        institution: str, issued_on: date, diagnosis: str, image_ref: str = "") -> Prescription:
    fields = {"number": (number, 40, _l("number")), "prescriber": (prescriber, 64, _l("prescriber")),
              "institution": (institution, 120, _l("institution")), "diagnosis": (diagnosis, 200, _l("diagnosis"))}
    for name, (value, limit, label) in fields.items():
        if not (value or "").strip() or len(value) > limit:
            raise InvalidInput(_l("Prescription %(field)s is required (at most %(n)d characters).", field=label,
                                  n=limit), code="invalid_prescription", details={"field": name})
    if not isinstance(issued_on, date):
        raise InvalidInput(_l("Prescription date is required."), code="invalid_prescription")
    with transaction(session):
        cart = _get_cart(session, register)
        store = session.get(Store, register.store_id)
        today = inv.store_today(store)
        if issued_on > today:
            raise InvalidInput(_l("A prescription cannot be dated in the future."), code="rx_future")
        if (today - issued_on).days > RX_VALID_DAYS:
            raise Conflict(_l("This prescription was issued on %(d)s and is no longer valid (at most %(n)d days).",
                              d=issued_on, n=RX_VALID_DAYS), code="rx_expired")
        if len(rx_drug_ids(session, cart)) > MAX_RX_DRUGS:
            raise Conflict(_l("At most %(n)d drugs per prescription.", n=MAX_RX_DRUGS), code="rx_too_many")
        rx = Prescription(store_id=store.id, register_id=register.id, cart_id=cart.id, number=number.strip(),
                          prescriber=prescriber.strip(), institution=institution.strip(), issued_on=issued_on,
                          diagnosis=diagnosis.strip(), image_ref=image_ref, entered_by_id=actor.user_id,
                          created_at=clock.now())
        session.add(rx)
        session.flush()
        record_audit(session, actor, "rx.record", "prescription", rx.id,
                     after={"number": rx.number, "institution": rx.institution, "issued_on": issued_on})
    return rx


def review_prescription(session: Session, actor: Actor, register: Register, *, pharmacist_username: str,
                        password: str, approve: bool, note: str = "") -> Prescription:
    """The pharmacist reviews at this register with their own credentials; needs a valid pharmacist licence."""
    pharmacist = authenticate(session, pharmacist_username, password)
    reviewer = actor_for(session, pharmacist, ip=actor.ip)
    if pharmacist.store_id != register.store_id or not reviewer.can(Perm.POS_REVIEW_RX):
        raise PermissionDenied(_l("%(user)s is not a licensed pharmacist.", user=pharmacist.display_name),
                               code="not_pharmacist")
    with transaction(session):
        cart = _get_cart(session, register)
        store = session.get(Store, register.store_id)
        today = inv.store_today(store)
        if valid_licence(session, pharmacist.id, LicenceKind.PHARMACIST, today) is None:
            raise PermissionDenied(_l("%(user)s has no valid pharmacist licence on record: no certificate, no "
                                      "review.", user=pharmacist.display_name), code="licence_missing")
        rx = cart_prescription(session, cart)
        if rx is None:
            raise Conflict(_l("Enter the prescription first."), code="rx_missing")
        if rx.decision:
            raise Conflict(_l("This prescription has already been reviewed."), code="rx_reviewed")
        if len(rx_drug_ids(session, cart)) > MAX_RX_DRUGS:
            raise Conflict(_l("At most %(n)d drugs per prescription.", n=MAX_RX_DRUGS), code="rx_too_many")
        rx.reviewed_by_id = pharmacist.id
        rx.decision = "approved" if approve else "rejected"
        rx.review_note = note or ""
        session.add(rx)
        record_audit(session, reviewer, "rx.review", "prescription", rx.id,
                     after={"decision": rx.decision, "register": register.code, "drugs": sorted(rx_drug_ids(session, cart))},
                     reason=note or "")
    return rx


# --- the sales journal -----------------------------------------------------------------------------------------------

# The fields each chain hash covers, in a fixed order: positional JSON arrays are canonical by construction and
# quick to build, which keeps `ledger verify` fast over millions of sales.
SALE_HASH_FIELDS = ("store_id", "register_id", "shift_id", "seq", "sale_number", "kind", "original_sale_id",
                    "business_date", "cashier_id", "pharmacist_id", "prescription_id", "client_uuid", "total_fen",
                    "paid_fen", "change_fen", "buyer_id_number", "reason", "created_at")
LINE_HASH_FIELDS = ("line_no", "drug_id", "lot_id", "location_id", "quantity", "pack_quantity", "split_pack",
                    "unit_price_fen", "list_price_fen", "amount_fen", "trace_code", "returned_trace_code",
                    "original_line_id", "fund_pay_fen", "personal_pay_fen")
PAYMENT_HASH_FIELDS = ("tender", "amount_fen", "reference")


def _plain(value):
    if isinstance(value, bool):
        return int(value)
    if hasattr(value, "isoformat"):
        if getattr(value, "tzinfo", None) is not None:
            from datetime import timezone as _tz

            value = value.astimezone(_tz.utc).replace(tzinfo=None)
        return value.isoformat()
    return value


def canonical_rows(sale_row, line_rows, payment_rows) -> bytes:
    """Canonical bytes from plain tuples in the *_HASH_FIELDS order (lines by line_no, payments by id)."""
    doc = [[_plain(v) for v in sale_row], [[_plain(v) for v in r] for r in line_rows],
           [[_plain(v) for v in r] for r in payment_rows]]
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode()


def canonical_sale(sale: Sale, lines, payments) -> bytes:
    return canonical_rows(tuple(getattr(sale, f) for f in SALE_HASH_FIELDS),
                          [tuple(getattr(l, f) for f in LINE_HASH_FIELDS) for l in sorted(lines, key=lambda x: x.line_no)],
                          [tuple(getattr(p, f) for f in PAYMENT_HASH_FIELDS) for p in payments])


def chain_hash(prev_hash: str, sale: Sale, lines, payments) -> str:
    return hashlib.sha256(prev_hash.encode() + canonical_sale(sale, lines, payments)).hexdigest()


def _next_number(session: Session, register: Register) -> tuple[int, str]:
    """Claim the next sale number of a register (row-locked until the sale commits or rolls back: no gaps)."""
    claim = (update(RegisterJournal).where(RegisterJournal.register_id == register.id)
             .values(last_seq=RegisterJournal.last_seq + 1)
             .returning(RegisterJournal.last_seq, RegisterJournal.last_hash)
             .execution_options(synchronize_session=False))
    row = session.execute(claim).first()
    if row is None:  # the register's first sale
        session.add(RegisterJournal(register_id=register.id))
        session.flush()
        row = session.execute(claim).one()
    return row[0], row[1]


def sale_number(register: Register, seq: int) -> str:
    return f"{register.code}-{seq:08d}"


def business_date_for(session: Session, register: Register, store: Store) -> date:
    """Today in the store's time zone, or the day after the register's last day close if that is later."""
    today = inv.store_today(store)
    last = session.exec(select(func.max(DayClose.business_date)).where(DayClose.register_id == register.id)).one()
    return max(today, last + timedelta(days=1)) if last else today


def _write_sale(session: Session, actor: Actor, register: Register, store: Store, *, shift: Shift, kind: str,
                lines: list[SaleLine], payments: list[SalePayment], client_uuid: str, change_fen: int = 0,
                pharmacist_id=None, prescription_id=None, original_sale_id=None, buyer=("", ""),
                reason: str = "") -> Sale:
    seq, prev = _next_number(session, register)
    total = sum(l.amount_fen for l in lines)
    sale = Sale(store_id=store.id, register_id=register.id, shift_id=shift.id, seq=seq,
                sale_number=sale_number(register, seq), kind=kind, original_sale_id=original_sale_id,
                business_date=business_date_for(session, register, store), cashier_id=actor.user_id,
                pharmacist_id=pharmacist_id, prescription_id=prescription_id, client_uuid=client_uuid,
                total_fen=total, paid_fen=sum(p.amount_fen for p in payments), change_fen=change_fen,
                buyer_name=buyer[0], buyer_id_number=buyer[1], reason=reason,
                created_at=clock.now().replace(microsecond=0), prev_hash=prev, hash="")
    sale.hash = chain_hash(prev, sale, lines, payments)
    session.add(sale)
    session.flush()
    for line in lines:
        line.sale_id = sale.id
        session.add(line)
    for p in payments:
        p.sale_id = sale.id
        session.add(p)
    session.execute(update(RegisterJournal).where(RegisterJournal.register_id == register.id)
                    .values(last_hash=sale.hash).execution_options(synchronize_session=False))
    session.flush()
    return sale


def find_sale_by_uuid(session: Session, store_id: int, client_uuid: str) -> Sale | None:
    return session.exec(select(Sale).where(Sale.store_id == store_id, Sale.client_uuid == client_uuid)).first()


def _replayed(session: Session, store_id: int, key: str, register: Register) -> Sale | None:
    """The sale an earlier submit with this client_uuid made, if any (at this register only)."""
    earlier = find_sale_by_uuid(session, store_id, key)
    if earlier is not None and earlier.register_id != register.id:
        raise Conflict(_l("This client_uuid was already used at another register."), code="client_uuid_reused")
    return earlier


def _parse_tenders(tenders, allowed=COUNTER_TENDERS) -> list[dict]:
    """The payments as sale_payment columns (tender, amount_fen, reference), in the order given."""
    payments = []
    if not isinstance(tenders, (list, tuple)) or not tenders:
        raise InvalidInput(_l("Choose at least one way to pay."), code="no_tender")
    for item in tenders:
        tender, amount, reference = (list(item) + [""])[:3] if not isinstance(item, dict) else \
            (item.get("tender"), item.get("amount_fen"), item.get("reference", ""))
        if tender not in [str(t) for t in allowed]:
            raise InvalidInput(_l("Unknown way to pay: %(t)s", t=str(tender)[:32]), code="invalid_tender")
        if isinstance(amount, bool) or not isinstance(amount, int) or not 0 < amount <= 100_000_000:
            raise InvalidInput(_l("Each payment needs a positive amount."), code="invalid_amount")
        reference = (reference or "").strip()
        if tender in REFERENCE_TENDERS and not reference:
            raise InvalidInput(_l("Enter the transaction reference number for %(t)s.", t=TENDER_LABELS[tender]),
                               code="reference_required")
        if len(reference) > 64:
            raise InvalidInput(_l("Reference numbers have at most 64 characters."), code="invalid_reference")
        payments.append({"tender": tender, "amount_fen": amount, "reference": reference})
    return payments


# --- the counter's hot paths on prebuilt Core statements ----------------------------------------------------------------
# A scan and a sale commit run many times a minute at every counter. Their statements are built once (bound
# parameters, compiled once per dialect by SQLAlchemy's cache) and rows come back as plain tuples: no statement
# construction, identity map or unit of work per call. The rules are the same functions the ORM paths use
# (inv.sellability, canonical_rows, inv.post_movement); anything unusual at scan time falls back to add_item.

_HOT: dict | None = None


def _hot() -> dict:
    global _HOT
    if _HOT is None:
        from sqlalchemy import bindparam, insert as sa_insert, select as sa_select

        from core.models import AuditEvent
        from inventory.models import DrugBarcode, StockBalance

        store, shift, cart, cline = Store.__table__, Shift.__table__, Cart.__table__, CartLine.__table__
        drug, lot, loc, bal, barcode = (Drug.__table__, Lot.__table__, Location.__table__, StockBalance.__table__,
                                        DrugBarcode.__table__)
        sale, sline, pay, journal = (Sale.__table__, SaleLine.__table__, SalePayment.__table__,
                                     RegisterJournal.__table__)
        reg = bindparam("reg")
        open_shift_id = (sa_select(shift.c.id).where(shift.c.register_id == reg, shift.c.closed_at.is_(None))
                         .limit(1).scalar_subquery())
        open_cart_id = (sa_select(func.max(cart.c.id))  # current_cart(): the newest open cart
                        .where(cart.c.register_id == reg, cart.c.status == CartStatus.OPEN.value).scalar_subquery())
        q = {}
        q["scan_context"] = sa_select(store.c.timezone, open_shift_id, open_cart_id).where(store.c.id == bindparam("store"))
        q["drug_by_barcode"] = (
            sa_select(drug.c.id, drug.c.units_per_package, drug.c.rx_class, drug.c.special_class,
                      drug.c.approval_status, drug.c.active, drug.c.retail_price_fen)
            .select_from(barcode.join(drug, drug.c.id == barcode.c.drug_id))
            .where(barcode.c.barcode == bindparam("code")).limit(1))
        # allocate_fefo's rows: every balance > 0 of the drug in the store, in FEFO order (sellability in Python).
        q["fefo"] = (
            sa_select(bal.c.quantity, lot.c.id, lot.c.expiry_date, lot.c.status, loc.c.id, loc.c.sellable,
                      loc.c.active, lot.c.lot_no)
            .select_from(bal.join(lot, lot.c.id == bal.c.lot_id).join(loc, loc.c.id == bal.c.location_id))
            .where(lot.c.drug_id == bindparam("drug"), bal.c.store_id == bindparam("store"), bal.c.quantity > 0)
            .order_by(lot.c.expiry_date.is_(None), lot.c.expiry_date, lot.c.created_at, lot.c.id, loc.c.code))
        q["scan_lines"] = (
            sa_select(cline.c.id, cline.c.drug_id, cline.c.lot_id, cline.c.location_id, cline.c.split_pack,
                      cline.c.pack_quantity, cline.c.trace_code, cline.c.price_override_reason,
                      drug.c.units_per_package, drug.c.special_class, cline.c.unit_price_fen, cline.c.added_at)
            .select_from(cline.join(drug, drug.c.id == cline.c.drug_id))
            .where(cline.c.cart_id == bindparam("cart")).order_by(cline.c.id))
        q["insert_cart"] = sa_insert(cart).returning(cart.c.id)
        q["insert_line"] = sa_insert(cline).returning(cline.c.id)
        q["line_packs"] = (update(cline).where(cline.c.id == bindparam("l_id"))
                           .values(pack_quantity=bindparam("l_packs")))
        # commit_sale: the replay check, shift, open cart, store zone and last day close in one round trip.
        q["commit_context"] = (
            sa_select(store.c.timezone,
                      sa_select(sale.c.id).where(sale.c.store_id == bindparam("store"),
                                                 sale.c.client_uuid == bindparam("key")).scalar_subquery(),
                      open_shift_id, cart.c.id, cart.c.buyer_name, cart.c.buyer_id_number,
                      sa_select(func.max(DayClose.__table__.c.business_date))
                      .where(DayClose.__table__.c.register_id == reg).scalar_subquery())
            .select_from(store.outerjoin(cart, cart.c.id == open_cart_id)).where(store.c.id == bindparam("store")))
        # The cart's lines with drug, lot and location, current: read inside the write transaction (SQLite: BEGIN
        # IMMEDIATE), and on PostgreSQL with the lots share-locked so a quality lock cannot slip in before the commit.
        q["commit_lines"] = (
            sa_select(cline.c.id, cline.c.drug_id, cline.c.lot_id, cline.c.location_id, cline.c.split_pack,
                      cline.c.pack_quantity, cline.c.unit_price_fen, cline.c.price_override_reason, cline.c.trace_code,
                      drug.c.units_per_package, drug.c.rx_class, drug.c.special_class, drug.c.approval_status,
                      drug.c.active, drug.c.retail_price_fen, drug.c.unit_price_fen, drug.c.hi_code,
                      lot.c.store_id, lot.c.lot_no, lot.c.expiry_date, lot.c.status,
                      loc.c.store_id, loc.c.name, loc.c.sellable, loc.c.active)
            .select_from(cline.join(drug, drug.c.id == cline.c.drug_id).join(lot, lot.c.id == cline.c.lot_id)
                         .join(loc, loc.c.id == cline.c.location_id))
            .where(cline.c.cart_id == bindparam("cart")).order_by(cline.c.id)
            .with_for_update(read=True, of=lot))
        # PostgreSQL: the same read also claims the register's next number (the row lock is held to the commit, a
        # refusal rolls the claim back: no gaps); None when the register has no journal row yet.
        claim = (update(journal).where(journal.c.register_id == bindparam("j_reg"))
                 .values(last_seq=journal.c.last_seq + 1).returning(journal.c.last_seq, journal.c.last_hash).cte("j"))
        q["commit_lines_claim_pg"] = q["commit_lines"].add_columns(
            sa_select(claim.c.last_seq).scalar_subquery(), sa_select(claim.c.last_hash).scalar_subquery())
        rx = Prescription.__table__
        q["prescription"] = (sa_select(rx.c.id, rx.c.decision, rx.c.register_id, rx.c.issued_on, rx.c.reviewed_by_id)
                             .where(rx.c.cart_id == bindparam("cart")).order_by(rx.c.id.desc()).limit(1))
        q["trace_generation"] = sa_select(func.count(sline.c.id)).where(sline.c.returned_trace_code == bindparam("tc"))
        q["claim_number"] = (update(journal).where(journal.c.register_id == bindparam("j_reg"))
                             .values(last_seq=journal.c.last_seq + 1).returning(journal.c.last_seq, journal.c.last_hash))
        q["insert_journal"] = sa_insert(journal)
        q["journal_head"] = (update(journal).where(journal.c.register_id == bindparam("j_reg"))
                             .values(last_hash=bindparam("j_hash")))
        q["insert_sale"] = sa_insert(sale).returning(sale.c.id)
        q["insert_sale_lines"] = sa_insert(sline).returning(sline.c.id, sort_by_parameter_order=True)
        q["insert_payments"] = sa_insert(pay).returning(pay.c.id, sort_by_parameter_order=True)
        q["line_price"] = (update(cline).where(cline.c.id == bindparam("l_id"))
                           .values(unit_price_fen=bindparam("l_price")))
        q["cart_committed"] = (update(cart).where(cart.c.id == bindparam("c_id"))
                               .values(status=CartStatus.COMMITTED.value, sale_id=bindparam("c_sale")))
        q["insert_special"] = sa_insert(SpecialDrugRecord.__table__)
        q["insert_split"] = sa_insert(SplitPackRecord.__table__)
        q["insert_print"] = sa_insert(PrintJob.__table__)
        q["insert_audit"] = sa_insert(AuditEvent.__table__)
        # PostgreSQL: the commit's last four writes (journal head, cart committed, print job, audit event) in one
        # round trip — data-modifying CTEs always run to completion, referenced or not.
        pj = PrintJob.__table__
        # Every value is an explicit, prefixed parameter: no parameter name matches a column of these tables.
        ae = AuditEvent.__table__
        q["commit_tail_pg"] = sa_insert(ae).values(
            {c.name: bindparam("a_" + c.name, type_=c.type) for c in ae.c if c.name != "id"}).add_cte(
            update(journal).where(journal.c.register_id == bindparam("j_reg"))
            .values(last_hash=bindparam("j_hash")).returning(journal.c.register_id).cte("j"),
            update(cart).where(cart.c.id == bindparam("c_id"))
            .values(status=CartStatus.COMMITTED.value, sale_id=bindparam("c_sale")).returning(cart.c.id).cte("c"),
            sa_insert(pj).values({c.name: bindparam("p_" + c.name, type_=c.type) for c in pj.c if c.name != "id"})
            .returning(pj.c.id).cte("p"))
        # PostgreSQL: the sale, its lines and payments in one round trip. Rows travel as JSON typed by the tables'
        # own row types; lines and payments are inserted in parameter order (INSERT … SELECT … ORDER BY ordinality:
        # the ids follow it, the same assumption SQLAlchemy's sort_by_parameter_order makes on PostgreSQL).
        def cols(table, skip=("id",)):
            return [c.name for c in table.c if c.name not in skip]
        sale_cols, line_cols, pay_cols = cols(sale), cols(sline, ("id", "sale_id")), cols(pay, ("id", "sale_id"))
        q["write_sale_pg"] = text(
            f"WITH s AS (INSERT INTO sale ({', '.join(sale_cols)}) "
            f"SELECT {', '.join('r.' + c for c in sale_cols)} "
            f"FROM json_populate_record(NULL::sale, CAST(:sale AS json)) AS r RETURNING id), "
            f"l AS (INSERT INTO sale_line (sale_id, {', '.join(line_cols)}) "
            f"SELECT s.id, {', '.join('r.' + c for c in line_cols)} FROM s, "
            f"json_populate_recordset(NULL::sale_line, CAST(:lines AS json)) WITH ORDINALITY AS r "
            f"ORDER BY r.ordinality "
            f"RETURNING id, line_no), "
            f"p AS (INSERT INTO sale_payment (sale_id, {', '.join(pay_cols)}) "
            f"SELECT s.id, {', '.join('r.' + c for c in pay_cols)} FROM s, "
            f"json_populate_recordset(NULL::sale_payment, CAST(:payments AS json)) WITH ORDINALITY AS r "
            f"ORDER BY r.ordinality "
            f"RETURNING id) "
            f"SELECT s.id, (SELECT array_agg(l.id ORDER BY l.line_no) FROM l), (SELECT count(*) FROM p) FROM s")
        q["write_sale_pg_columns"] = (set(sale_cols), set(line_cols) | {"sale_id"}, set(pay_cols))
        _HOT = q
    return _HOT


def _json_rows(value) -> str:
    """JSON for json_populate_record(set): dates and datetimes as ISO text (PostgreSQL parses them back exactly)."""
    return json.dumps(value, default=lambda o: o.isoformat() if isinstance(o, (date, datetime)) else _no_json(o))


def _no_json(o):
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def _attach(session: Session, model, values: dict):
    """The row just written with Core, as the session's persistent object (the one already loaded, refreshed, if
    the session holds it), as if the ORM had written it."""
    from sqlalchemy.orm import make_transient_to_detached
    from sqlalchemy.orm.attributes import set_committed_value

    loaded = session.identity_map.get(session.identity_key(model, values["id"]))
    if loaded is not None:
        for key, value in values.items():
            set_committed_value(loaded, key, value)
        return loaded
    obj = model(**values)
    make_transient_to_detached(obj)
    session.add(obj)
    return obj


def _refresh_loaded(session: Session, model, pk, **values) -> None:
    """Keep an object the session already holds in step with a Core UPDATE of its row."""
    from sqlalchemy.orm.attributes import set_committed_value

    loaded = session.identity_map.get(session.identity_key(model, pk))
    if loaded is not None:
        for key, value in values.items():
            set_committed_value(loaded, key, value)


# Attribute access over plain row values, for the rule functions that take model objects (inv.sellability).
from types import SimpleNamespace as _Row  # noqa: E402


def _scan_add_fast(session: Session, actor: Actor, register: Register, codes: list[str],
                   settings: PosSettings | None) -> ScanOutcome | None:
    """add_item(packs=1) of a scanned retail code on prebuilt statements, inside the caller's write transaction.
    Returns None, having written nothing, whenever add_item has something to say (no shift, unknown code, no
    sellable stock, ephedrine limit …): the caller then runs the general path, which words the refusal."""
    settings = settings or PosSettings()
    conn = session.connection()
    q = _hot()
    tz, shift_id, cart_id = conn.execute(q["scan_context"], {"store": register.store_id, "reg": register.id}).one()
    if shift_id is None:
        return None
    drug = None
    for code in codes:
        drug = conn.execute(q["drug_by_barcode"], {"code": code}).first()
        if drug is not None:
            break
    if drug is None:
        return None
    drug_id, per_pack, rx_class, special_class, approval, active, price = drug
    today = clock.today(tz)
    balances = conn.execute(q["fefo"], {"drug": drug_id, "store": register.store_id}).all()
    rows = conn.execute(q["scan_lines"], {"cart": cart_id}).all() if cart_id is not None else []
    held: dict[tuple[int, int], int] = {}
    for r in rows:
        key = (r[2], r[3])
        held[key] = held.get(key, 0) + (r[5] if r[4] else r[5] * r[8])
    # _fefo_plan over allocate_fefo's picks, for one whole pack.
    d = _Row(approval_status=approval, active=active)
    remaining, pick = inv.MAX_MOVEMENT_QUANTITY, None
    for quantity, lot_id, expiry, status, location_id, sellable, loc_active, lot_no in balances:
        if remaining == 0:
            break
        if inv.sellability(d, _Row(status=status, expiry_date=expiry),
                           _Row(sellable=sellable, active=loc_active), today):
            continue
        take = min(remaining, quantity)
        remaining -= take
        if take - held.get((lot_id, location_id), 0) >= per_pack:
            pick = (lot_id, location_id, expiry, lot_no)
            break
    if pick is None:
        return None
    lot_id, location_id, expiry, lot_no = pick
    if special_class == SpecialClass.EPHEDRINE_COMBINATION:
        packs = sum((r[5] if r[4] else r[5] * r[8]) / r[8] for r in rows
                    if r[9] == SpecialClass.EPHEDRINE_COMBINATION)
        if packs + 1 > EPHEDRINE_MAX_PACKS:
            return None
    existing = next((r for r in rows if r[1] == drug_id and r[2] == lot_id and r[3] == location_id
                     and not r[4] and r[6] is None and not r[7]), None)
    if cart_id is None:
        cart_id = conn.execute(q["insert_cart"], {
            "store_id": register.store_id, "register_id": register.id, "shift_id": shift_id,
            "cashier_id": actor.user_id, "status": CartStatus.OPEN.value, "buyer_name": "", "buyer_id_number": "",
            "created_at": clock.now(), "sale_id": None}).scalar_one()
    if existing is not None:
        conn.execute(q["line_packs"], {"l_id": existing[0], "l_packs": existing[5] + 1})
        line = _attach(session, CartLine, {
            "id": existing[0], "cart_id": cart_id, "drug_id": drug_id, "lot_id": lot_id, "location_id": location_id,
            "split_pack": False, "pack_quantity": existing[5] + 1, "unit_price_fen": existing[10],
            "price_override_reason": existing[7], "trace_code": None, "added_at": existing[11]})
    else:
        values = {"cart_id": cart_id, "drug_id": drug_id, "lot_id": lot_id, "location_id": location_id,
                  "split_pack": False, "pack_quantity": 1, "unit_price_fen": price, "price_override_reason": "",
                  "trace_code": None, "added_at": clock.now()}
        values["id"] = conn.execute(q["insert_line"], values).scalar_one()
        line = _attach(session, CartLine, values)
    notices = []
    if expiry and (expiry - today).days <= settings.near_expiry_warn_days:
        notices.append(LineNotice("warning", str(_l("Near expiry: lot %(lot)s expires on %(date)s — tell "
                                                    "the buyer.", lot=lot_no, date=expiry))))
    if rx_class == RxClass.RX:
        notices.append(LineNotice("info", str(_l("Prescription drug: enter the prescription for a "
                                                 "pharmacist's review before payment."))))
    if special_class == SpecialClass.EPHEDRINE_COMBINATION:
        notices.append(LineNotice("info", str(_l("Ephedrine combination: register the buyer's name and ID "
                                                 "number; at most %(n)d packs.", n=EPHEDRINE_MAX_PACKS))))
    return ScanOutcome("added", line=line, notices=notices)


def commit_sale(session: Session, actor: Actor, register: Register, *, tenders, client_uuid: str,
                settings: PosSettings | None = None) -> Sale:
    """Pay and commit the register's open cart: one transaction writes the sale, its lines, payments, stock
    movements, special registers, the chain hash and the print job. A replay of the same client_uuid returns the
    first sale. Every rule is checked again here, whatever the screen showed.

    The hot path of the counter: prebuilt Core statements (see _hot), rows as tuples, the sale's rows inserted as
    dicts; the chain hash is canonical_rows over exactly the values written, and stock moves through
    inv.post_movement."""
    from core.services import audit_values, validate_client_key

    settings = settings or PosSettings()
    key = validate_client_key(client_uuid)
    payments = _parse_tenders(tenders)
    store_id = register.store_id
    q = _hot()
    try:
        # One write transaction from the first read: nothing read before it is thrown away and reloaded.
        with transaction(session):
            conn = session.connection()
            tz, earlier_id, shift_id, cart_id, buyer_name, buyer_id_number, last_close = conn.execute(
                q["commit_context"], {"store": store_id, "key": key, "reg": register.id}).one()
            if earlier_id is not None:
                earlier = _replayed(session, store_id, key, register)
                if earlier is not None:
                    return earlier
            if shift_id is None:
                raise _no_shift(register)
            if cart_id is None:
                raise _no_cart()
            # (PostgreSQL: the lots share-locked; SQLite: read inside this BEGIN IMMEDIATE transaction: current)
            pg = conn.dialect.name == "postgresql"
            if pg:
                rows = conn.execute(q["commit_lines_claim_pg"], {"cart": cart_id, "j_reg": register.id}).all()
                claimed = rows[0][-2:] if rows and rows[0][-2] is not None else None
                rows = [r[:-2] for r in rows]
            else:
                rows = conn.execute(q["commit_lines"], {"cart": cart_id}).all()
            if not rows:
                raise Conflict(_l("The cart is empty: scan something first."), code="cart_empty")
            today = clock.today(tz)
            rx_ids = {r[1] for r in rows if r[10] == RxClass.RX}
            prescription = conn.execute(q["prescription"], {"cart": cart_id}).first() if rx_ids else None
            if rx_ids:  # prescription: id, decision, register_id, issued_on, reviewed_by_id
                if prescription is None or prescription[1] != "approved":
                    raise Conflict(_l("Prescription drugs need a prescription approved by a pharmacist at this "
                                      "register before payment."), code="rx_not_approved")
                if prescription[2] != register.id:
                    raise Conflict(_l("The prescription was reviewed at another register."), code="rx_not_approved")
                if len(rx_ids) > MAX_RX_DRUGS:
                    raise Conflict(_l("At most %(n)d drugs per prescription.", n=MAX_RX_DRUGS), code="rx_too_many")
                if (today - prescription[3]).days > RX_VALID_DAYS:
                    raise Conflict(_l("The prescription is no longer valid."), code="rx_expired")
            ephedrine = [r for r in rows if r[11] == SpecialClass.EPHEDRINE_COMBINATION]
            if sum((r[5] if r[4] else r[5] * r[9]) / r[9] for r in ephedrine) > EPHEDRINE_MAX_PACKS:
                raise Conflict(_l("Ephedrine-combination drugs: at most %(n)d packs per sale.", n=EPHEDRINE_MAX_PACKS),
                               code="ephedrine_limit")
            if ephedrine and not (buyer_name and ric.is_valid(buyer_id_number or "")):
                raise Conflict(_l("Ephedrine-combination drugs: register the buyer's name and ID number first."),
                               code="buyer_required")
            sale_lines, movements, price_fixes = [], [], []
            for n, r in enumerate(rows, start=1):
                (line_id, drug_id, lot_id, location_id, split_pack, packs, unit_price, override, trace_code,
                 per_pack, rx_class, special_class, approval, drug_active, retail_price, drug_unit_price, hi_code,
                 lot_store, lot_no, expiry, lot_status, loc_store, loc_name, loc_sellable, loc_active) = r
                if loc_store != store_id:
                    raise NotFound(_l("Location %(id)s not found.", id=location_id))
                reasons = inv.sellability(_Row(approval_status=approval, active=drug_active),
                                          _Row(status=lot_status, expiry_date=expiry),
                                          _Row(sellable=loc_sellable, active=loc_active), today)
                if reasons:  # e.g. locked by quality while the cart was open
                    raise NotSellable(_l("Lot %(lot)s of %(drug)s cannot be sold: %(why)s. Remove the line.",
                                         lot=lot_no, drug=inv.get_drug(session, drug_id).display_name,
                                         why=inv.describe_reasons(reasons)),
                                      details={"line_id": line_id, "reasons": [str(x) for x in reasons]})
                list_price = drug_unit_price if split_pack else retail_price
                if unit_price != list_price and not override:
                    unit_price = list_price  # the master price, unless an authorised override says otherwise
                    price_fixes.append({"l_id": line_id, "l_price": unit_price})
                amount = unit_price * packs
                units = packs if split_pack else packs * per_pack
                generation = None
                if trace_code:
                    generation = conn.execute(q["trace_generation"], {"tc": trace_code}).scalar_one()
                sale_lines.append({
                    "sale_id": 0, "line_no": n, "drug_id": drug_id, "lot_id": lot_id, "location_id": location_id,
                    "quantity": units, "pack_quantity": packs, "split_pack": split_pack, "unit_price_fen": unit_price,
                    "list_price_fen": list_price, "amount_fen": amount, "price_override_reason": override,
                    "rx": rx_class == RxClass.RX, "valuable": unit_price > settings.valuable_threshold_fen and not split_pack,
                    "trace_code": trace_code, "trace_generation": generation, "returned_trace_code": None,
                    "original_line_id": None, "hi_code": hi_code, "fund_pay_fen": 0, "personal_pay_fen": amount})
                movements.append((_Row(id=lot_id, store_id=lot_store, lot_no=lot_no),
                                  _Row(id=location_id, store_id=loc_store, name=loc_name), units,
                                  special_class == SpecialClass.EPHEDRINE_COMBINATION))
            total = sum(l["amount_fen"] for l in sale_lines)
            paid = sum(p["amount_fen"] for p in payments)
            if paid < total:
                raise Conflict(_l("%(paid)s paid of %(total)s: %(left)s still to pay.", paid=_yuan(paid),
                                  total=_yuan(total), left=_yuan(total - paid)), code="unpaid_balance")
            cash = sum(p["amount_fen"] for p in payments if p["tender"] == Tender.CASH)
            change = paid - total
            if change > cash:
                raise Conflict(_l("Only cash can be overpaid (for change); card and app payments must be exact."),
                               code="overpaid")
            # The journal: claim the register's next number (row-locked until commit: no gaps), chain, write.
            if not pg:
                claimed = conn.execute(q["claim_number"], {"j_reg": register.id}).first()
            if claimed is None:  # the register's first sale
                conn.execute(q["insert_journal"], {"register_id": register.id, "last_seq": 0,
                                                   "last_hash": GENESIS_HASH})
                claimed = conn.execute(q["claim_number"], {"j_reg": register.id}).one()
            seq, prev = claimed
            has_ephedrine = bool(ephedrine)
            sale = {"store_id": store_id, "register_id": register.id, "shift_id": shift_id, "seq": seq,
                    "sale_number": sale_number(register, seq), "kind": SaleKind.SALE, "original_sale_id": None,
                    "business_date": max(today, last_close + timedelta(days=1)) if last_close else today,
                    "cashier_id": actor.user_id,
                    "pharmacist_id": prescription[4] if prescription else None,
                    "prescription_id": prescription[0] if prescription else None, "client_uuid": key,
                    "total_fen": total, "paid_fen": paid, "change_fen": change,
                    "buyer_name": buyer_name if has_ephedrine else "",
                    "buyer_id_number": buyer_id_number if has_ephedrine else "", "reason": "",
                    "created_at": clock.now().replace(microsecond=0), "prev_hash": prev}
            sale["hash"] = hashlib.sha256(prev.encode() + canonical_rows(
                tuple(sale[f] for f in SALE_HASH_FIELDS),
                [tuple(l[f] for f in LINE_HASH_FIELDS) for l in sale_lines],
                [tuple(p[f] for f in PAYMENT_HASH_FIELDS) for p in payments])).hexdigest()
            if pg:  # one statement; every key must be a column (json_populate_record ignores unknown keys)
                sale_keys, line_keys, pay_keys = q["write_sale_pg_columns"]
                if set(sale) != sale_keys or any(set(l) != line_keys for l in sale_lines) \
                        or any(not set(p) <= pay_keys for p in payments):
                    raise RuntimeError("commit_sale: a sale row's keys do not match its table's columns")
                sale_id, line_ids, n_payments = conn.execute(q["write_sale_pg"], {
                    "sale": _json_rows(sale), "lines": _json_rows(sale_lines),
                    "payments": _json_rows(payments)}).one()
                if len(line_ids) != len(sale_lines) or n_payments != len(payments):
                    raise RuntimeError("commit_sale: the sale's rows were not all written")
                sale["id"] = sale_id
                for l in sale_lines:
                    l["sale_id"] = sale_id
            else:
                sale["id"] = sale_id = conn.execute(q["insert_sale"], sale).scalar_one()
                for l in sale_lines:
                    l["sale_id"] = sale_id
                line_ids = conn.execute(q["insert_sale_lines"], sale_lines).scalars().all()
                conn.execute(q["insert_payments"], [{"sale_id": sale_id, **p} for p in payments]).all()
            if not pg:  # PostgreSQL: in the tail statement below
                conn.execute(q["journal_head"], {"j_reg": register.id, "j_hash": sale["hash"]})
            reference = f"sale:{sale['sale_number']}"
            for (lot, location, units, special), line, line_id in zip(movements, sale_lines, line_ids):
                inv.post_movement(session, actor, lot=lot, location=location, quantity=-units,
                                  kind=MovementKind.SALE, reference=reference)
                if special:
                    conn.execute(q["insert_special"], {
                        "store_id": store_id, "sale_id": sale_id, "sale_line_id": line_id, "buyer_name": buyer_name,
                        "buyer_id_number": buyer_id_number, "quantity": units, "at": sale["created_at"]})
                if line["split_pack"]:
                    conn.execute(q["insert_split"], {
                        "store_id": store_id, "sale_line_id": line_id, "lot_id": lot.id, "quantity": units,
                        "splitter_id": actor.user_id, "at": sale["created_at"]})
            for fix in price_fixes:
                conn.execute(q["line_price"], fix)
                _refresh_loaded(session, CartLine, fix["l_id"], unit_price_fen=fix["l_price"])
            now = clock.now()
            print_job = {
                "store_id": store_id, "register_id": register.id, "kind": "receipt", "sale_id": sale_id,
                "day_close_id": None, "kick_drawer": cash > 0, "status": "pending", "attempts": 0,
                "next_attempt_at": now, "last_error": "", "created_at": now, "printed_at": None}
            audit = audit_values(
                actor, "sale.commit", "sale", sale_id,
                after={"sale_number": sale["sale_number"], "total_fen": total, "lines": len(sale_lines),
                       "tenders": [p["tender"] for p in payments]})
            if pg:
                conn.execute(q["commit_tail_pg"], {
                    "j_reg": register.id, "j_hash": sale["hash"], "c_id": cart_id, "c_sale": sale_id,
                    **{"p_" + k: v for k, v in print_job.items()}, **{"a_" + k: v for k, v in audit.items()}})
            else:
                conn.execute(q["cart_committed"], {"c_id": cart_id, "c_sale": sale_id})
                conn.execute(q["insert_print"], print_job)
                conn.execute(q["insert_audit"], audit)
            _refresh_loaded(session, Cart, cart_id, status=CartStatus.COMMITTED, sale_id=sale_id)
            sale = _attach(session, Sale, sale)
    except IntegrityError as exc:
        session.rollback()
        earlier = _replayed(session, store_id, key, register)
        if earlier is not None:  # the same submit raced itself: return the first sale
            return earlier
        if "trace" in str(exc.orig).lower():
            raise Conflict(_l("A trace code on this cart was already sold: that pack cannot be sold twice."),
                           code="trace_code_sold")
        raise
    return sale


def _yuan(fen: int) -> str:
    from core.money import format_fen

    return format_fen(fen)


def sale_detail(session: Session, sale_id: int, store_id: int):
    sale = session.get(Sale, sale_id)
    if sale is None or sale.store_id != store_id:
        raise NotFound(_l("Sale not found."))
    lines = session.exec(select(SaleLine, Drug, Lot).join(Drug, Drug.id == SaleLine.drug_id)
                         .join(Lot, Lot.id == SaleLine.lot_id).where(SaleLine.sale_id == sale.id)
                         .order_by(SaleLine.line_no)).all()
    payments = session.exec(select(SalePayment).where(SalePayment.sale_id == sale.id)
                            .order_by(SalePayment.id)).all()
    return sale, lines, payments


def find_sale_by_number(session: Session, store_id: int, number: str) -> Sale:
    number = (number or "").strip().upper()
    if number.startswith("YS"):
        number = number[2:]
    sale = session.exec(select(Sale).where(Sale.store_id == store_id, Sale.sale_number == number)).first()
    if sale is None:
        raise NotFound(_l("No sale %(n)s in this store.", n=number), code="sale_not_found")
    return sale


# --- trace codes at the counter ----------------------------------------------------------------------------------------

def attach_trace_code(session: Session, actor: Actor, register: Register, trace_code: str) -> CartLine:
    """A pack's trace code, scanned after its product barcode: it goes on the last line without one (a line with
    several packs gives up one pack to a new traced line). A code already sold (and not returned) is refused."""
    with transaction(session):
        cart = _get_cart(session, register)
        if any(l.trace_code == trace_code for l, _d, _lot in cart_lines(session, cart.id)):
            raise Conflict(_l("Trace code %(code)s is already on this cart.", code=trace_code), code="trace_code_twice")
        sold = session.exec(select(func.count(SaleLine.id)).where(SaleLine.trace_code == trace_code)).one()
        returned = session.exec(select(func.count(SaleLine.id))
                                .where(SaleLine.returned_trace_code == trace_code)).one()
        if sold > returned:
            raise Conflict(_l("Trace code %(code)s was already sold: this pack cannot be sold again. Tell the "
                              "quality manager.", code=trace_code), code="trace_code_sold")
        candidates = [l for l, _d, _lot in cart_lines(session, cart.id) if l.trace_code is None and not l.split_pack]
        if not candidates:
            raise Conflict(_l("Scan the product barcode first, then its trace code."), code="trace_code_no_line")
        line = candidates[-1]
        if line.pack_quantity > 1:
            line.pack_quantity -= 1
            session.add(line)
            line = CartLine(cart_id=cart.id, drug_id=line.drug_id, lot_id=line.lot_id, location_id=line.location_id,
                            pack_quantity=1, unit_price_fen=line.unit_price_fen,
                            price_override_reason=line.price_override_reason, added_at=clock.now())
        line.trace_code = trace_code
        session.add(line)
        session.flush()
    return line


# --- returns ------------------------------------------------------------------------------------------------------------

def returnable_quantities(session: Session, sale: Sale) -> dict[int, int]:
    """Per original line: packs still returnable (sold minus already returned)."""
    sold = {l.id: l.pack_quantity for l in session.exec(select(SaleLine).where(SaleLine.sale_id == sale.id)).all()}
    returned = dict(session.exec(select(SaleLine.original_line_id, func.sum(SaleLine.pack_quantity))
                                 .where(SaleLine.original_line_id.in_(list(sold) or [0]))
                                 .group_by(SaleLine.original_line_id)).all())
    return {line_id: qty + int(returned.get(line_id, 0) or 0) for line_id, qty in sold.items()}


def return_reasons(settings: PosSettings) -> tuple[str, ...]:
    return RETURN_REASONS_QUALITY + (RETURN_REASONS_OTHER if settings.returns_policy == "any" else ())


def create_return(session: Session, actor: Actor, register: Register, *, sale_number_or_code: str,
                  packs_by_line: dict[int, int], reason: str, note: str = "", approver_username: str,
                  approver_password: str, client_uuid: str, settings: PosSettings | None = None) -> Sale:
    """A customer return: a new reversal sale that references the original, refunded to the original tenders,
    with the goods going to the pending (yellow) area for the quality manager — never straight back to the shelf."""
    from core.services import validate_client_key

    settings = settings or PosSettings()
    key = validate_client_key(client_uuid)
    store = session.get(Store, register.store_id)
    earlier = _replayed(session, store.id, key, register)
    if earlier is not None:
        return earlier
    if reason not in return_reasons(settings):
        raise InvalidInput(_l("Choose a return reason allowed by the store's policy (GSP: drugs are taken back "
                              "for quality reasons)."), code="return_reason")
    if not packs_by_line or any(isinstance(q, bool) or not isinstance(q, int) or q < 1
                                for q in packs_by_line.values()):
        raise InvalidInput(_l("Choose at least one line and a quantity of 1 or more."), code="invalid_quantity")
    approver_user = authenticate(session, approver_username, approver_password)
    approver = actor_for(session, approver_user, ip=actor.ip)
    if approver_user.store_id != register.store_id or not approver.can(Perm.POS_APPROVE_RETURN):
        raise PermissionDenied(_l("Returns are approved by a pharmacist or the store manager."),
                               code="approver_not_allowed")
    original = find_sale_by_number(session, store.id, sale_number_or_code)
    if original.kind != SaleKind.SALE:
        raise Conflict(_l("A return cannot itself be returned."), code="not_a_sale")
    with transaction(session):
        shift = require_open_shift(session, register)
        left = returnable_quantities(session, original)
        pending = session.exec(select(Location).where(Location.store_id == store.id,
                                                      Location.kind == LocationKind.PENDING,
                                                      Location.active == True)).first()  # noqa: E712
        if pending is None:
            raise Conflict(_l("The store has no pending (yellow) area to receive returned goods."),
                           code="no_pending_location")
        originals = {l.id: l for l in session.exec(select(SaleLine).where(SaleLine.sale_id == original.id)).all()}
        lines = []
        for n, (line_id, packs) in enumerate(sorted(packs_by_line.items()), start=1):
            src = originals.get(line_id)
            if src is None:
                raise InvalidInput(_l("Line %(id)s is not on sale %(n)s.", id=line_id, n=original.sale_number),
                                   code="invalid_line")
            if packs > left.get(line_id, 0):
                raise Conflict(_l("Only %(left)d of line %(no)d can still be returned.", left=left.get(line_id, 0),
                                  no=src.line_no), code="return_too_many")
            units = src.quantity * packs // src.pack_quantity
            amount = src.unit_price_fen * packs
            lines.append(SaleLine(sale_id=0, line_no=n, drug_id=src.drug_id, lot_id=src.lot_id,
                                  location_id=pending.id, quantity=-units, pack_quantity=-packs,
                                  split_pack=src.split_pack, unit_price_fen=src.unit_price_fen,
                                  list_price_fen=src.list_price_fen, amount_fen=-amount, rx=src.rx,
                                  valuable=src.valuable, returned_trace_code=src.trace_code,
                                  original_line_id=src.id, hi_code=src.hi_code, personal_pay_fen=-amount))
        refund = -sum(l.amount_fen for l in lines)
        payments = _refund_to_original_tenders(session, original, refund)
        sale = _write_sale(session, actor, register, store, shift=shift, kind=SaleKind.RETURN, lines=lines,
                           payments=payments, client_uuid=key, original_sale_id=original.id,
                           pharmacist_id=approver.user_id, reason=f"{reason}: {note}".strip(": "))
        for line in lines:
            lot = inv.get_lot(session, line.lot_id)
            inv.post_movement(session, actor, lot=lot, location=pending, quantity=-line.quantity,
                              kind=MovementKind.SALE_RETURN, reference=f"return:{sale.sale_number}",
                              reason=reason)
        enqueue_print(session, register, sale_id=sale.id, kind="receipt",
                      kick_drawer=any(p.tender == Tender.CASH for p in payments))
        record_audit(session, actor, "sale.return", "sale", sale.id,
                     after={"sale_number": sale.sale_number, "original": original.sale_number, "refund_fen": refund,
                            "approved_by": approver.name}, reason=f"{reason}: {note}".strip(": "))
    return sale


def _refund_to_original_tenders(session: Session, original: Sale, refund: int) -> list[SalePayment]:
    """Refund in the original tenders, non-cash first, never more per tender than was paid (less earlier
    refunds); cash paid is counted net of the change given."""
    paid = session.exec(select(SalePayment).where(SalePayment.sale_id == original.id).order_by(SalePayment.id)).all()
    refunded = dict(session.exec(select(SalePayment.tender, func.sum(SalePayment.amount_fen))
                                 .join(Sale, Sale.id == SalePayment.sale_id)
                                 .where(Sale.original_sale_id == original.id).group_by(SalePayment.tender)).all())
    room: dict[str, int] = {}
    for p in paid:
        room[p.tender] = room.get(p.tender, 0) + p.amount_fen
    if Tender.CASH in room:
        room[Tender.CASH] -= original.change_fen
    for tender, amount in refunded.items():
        room[tender] = room.get(tender, 0) + int(amount)  # refunds are negative
    order = sorted(room, key=lambda t: (t == Tender.CASH, t))
    out, left = [], refund
    for tender in order:
        take = min(left, max(0, room[tender]))
        if take:
            ref = next((p.reference for p in paid if p.tender == tender), "")
            out.append(SalePayment(sale_id=0, tender=tender, amount_fen=-take, reference=ref))
            left -= take
    if left:
        raise Conflict(_l("The refund exceeds what was paid on the original sale."), code="refund_exceeds")
    return out


# --- print queue -----------------------------------------------------------------------------------------------------------

def enqueue_print(session: Session, register: Register, *, kind: str, sale_id: int | None = None,
                  day_close_id: int | None = None, kick_drawer: bool = False) -> PrintJob:
    now = clock.now()
    job = PrintJob(store_id=register.store_id, register_id=register.id, kind=kind, sale_id=sale_id,
                   day_close_id=day_close_id, kick_drawer=kick_drawer, next_attempt_at=now, created_at=now)
    session.add(job)
    return job


def reprint(session: Session, actor: Actor, register: Register, sale_id: int) -> PrintJob:
    with transaction(session):
        sale = session.get(Sale, sale_id)
        if sale is None or sale.store_id != register.store_id:
            raise NotFound(_l("Sale not found."))
        job = enqueue_print(session, register, sale_id=sale.id, kind="reprint")
        session.flush()
        record_audit(session, actor, "sale.reprint", "sale", sale.id, after={"sale_number": sale.sale_number})
    return job


def printer_state(session: Session, register: Register) -> dict:
    pending = session.exec(select(PrintJob).where(PrintJob.register_id == register.id, PrintJob.status == "pending")
                           .order_by(PrintJob.id)).all()
    last_done = session.exec(select(PrintJob).where(PrintJob.register_id == register.id, PrintJob.status == "done")
                             .order_by(PrintJob.printed_at.desc())).first()
    failing = [j for j in pending if j.attempts > 0]
    return {"pending": len(pending), "failing": bool(failing), "last_error": failing[0].last_error if failing else "",
            "last_printed_at": last_done.printed_at if last_done else None}


# --- day close and journal verification ------------------------------------------------------------------------------------

def close_day(session: Session, actor: Actor, register: Register) -> DayClose:
    """Z report for the register's current business day; later sales fall on the next business day."""
    with transaction(session):
        store = session.get(Store, register.store_id)
        day = business_date_for(session, register, store)
        if day > inv.store_today(store):
            raise Conflict(_l("Today's business day is already closed for %(code)s; sales since then belong to "
                              "%(day)s and are closed on that day.", code=register.code, day=day), code="day_closed")
        sales = session.exec(select(Sale).where(Sale.register_id == register.id, Sale.business_date == day)
                             .order_by(Sale.seq)).all()
        by_tender = dict(session.exec(select(SalePayment.tender, func.sum(SalePayment.amount_fen))
                                      .join(Sale, Sale.id == SalePayment.sale_id)
                                      .where(Sale.register_id == register.id, Sale.business_date == day)
                                      .group_by(SalePayment.tender)).all())
        change = sum(s.change_fen for s in sales)
        if Tender.CASH in by_tender:
            by_tender[Tender.CASH] = int(by_tender[Tender.CASH]) - change
        users = {u.id: u for u in session.exec(select(User).where(User.store_id == store.id)).all()}
        by_cashier: dict[str, int] = {}
        for s in sales:
            u = users.get(s.cashier_id)
            name = f"{u.display_name} ({u.username})" if u else str(s.cashier_id)
            by_cashier[name] = by_cashier.get(name, 0) + s.total_fen
        grand = session.exec(select(func.coalesce(func.sum(Sale.total_fen), 0))
                             .where(Sale.register_id == register.id, Sale.business_date <= day)).one()
        head = session.get(RegisterJournal, register.id)
        close = DayClose(store_id=store.id, register_id=register.id, business_date=day,
                         first_sale_number=sales[0].sale_number if sales else "",
                         last_sale_number=sales[-1].sale_number if sales else "",
                         sale_count=sum(1 for s in sales if s.kind == SaleKind.SALE),
                         return_count=sum(1 for s in sales if s.kind == SaleKind.RETURN),
                         prescription_count=sum(1 for s in sales if s.prescription_id),
                         net_total_fen=sum(s.total_fen for s in sales), grand_total_fen=int(grand),
                         chain_head_hash=head.last_hash if head else GENESIS_HASH,
                         totals_json=json.dumps({"by_tender": {k: int(v) for k, v in by_tender.items()},
                                                 "by_cashier": by_cashier,
                                                 "refunded_fen": sum(s.total_fen for s in sales
                                                                     if s.kind == SaleKind.RETURN)},
                                                ensure_ascii=False, sort_keys=True),
                         closed_by_id=actor.user_id, closed_at=clock.now())
        session.add(close)
        try:
            session.flush()
        except IntegrityError:
            raise Conflict(_l("This business day is already closed for %(code)s.", code=register.code),
                           code="day_closed")
        enqueue_print(session, register, kind=DAY_REPORT, day_close_id=close.id)  # the 日结单 prints on the counter
        record_audit(session, actor, "day.close", "day_close", close.id,
                     after={"register": register.code, "business_date": day, "net_total_fen": close.net_total_fen})
    return close


def print_day_report(session: Session, actor: Actor, register: Register, day_close_id) -> PrintJob:
    """Print a closed day's 日结单 again on the register's receipt printer (marked 重印; audited)."""
    with transaction(session):
        close = session.get(DayClose, day_close_id) if type(day_close_id) is int else None
        if close is None or close.register_id != register.id:
            raise NotFound(_l("Day close not found for this register."))
        job = enqueue_print(session, register, kind=DAY_REPORT_REPRINT, day_close_id=close.id)
        session.flush()
        record_audit(session, actor, "day.report_reprint", "day_close", close.id,
                     after={"register": register.code, "business_date": close.business_date})
    return job


@dataclass
class ChainReport:
    register_id: int
    register_code: str
    sales: int = 0
    ok: bool = True
    first_bad_sale: str | None = None
    problem: str = ""
    last_sale: str | None = None  # the last sale found intact


def _pages(cursor, size: int = 10000):
    while True:
        page = cursor.fetchmany(size)
        if not page:
            return
        yield from page


def _canonical_encoder():
    """canonical_rows' encoder (json.dumps with ensure_ascii=False, separators "," and ":") without its per-call
    set-up: the C encoder json.dumps itself builds, made once. Rows are acyclic tuples of int, str and None, so the
    circular-reference markers are left out. Falls back to json.dumps where the C encoder is missing."""
    from json import encoder as json_encoder

    if json_encoder.c_make_encoder is None:
        dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
        return lambda doc, _level: (dumps(doc),)
    return json_encoder.c_make_encoder(None, None, json_encoder.encode_basestring, None, ":", ",", False, False, True)


def _verify_chain(con, postgres: bool, register_id: int, report: ChainReport) -> str:
    """Walk one register's chain on plain DBAPI cursors (server-side on PostgreSQL): sales, lines and payments in
    sale order, merged in step. Each row comes back as the tuple canonical_rows would build, so the canonical bytes
    are one encoder call over tuples: split_pack is cast to an integer in SQL, and the two dates are ISO text —
    PostgreSQL formats them with to_char (UTC, DateStyle-independent); SQLite keeps them as text already, and
    created_at only changes its separator (any other shape goes through datetime, as canonical_rows does).
    Returns the last good hash."""
    p = "%s" if postgres else "?"
    sale_cols = []
    for f in SALE_HASH_FIELDS:
        if postgres and f == "business_date":
            sale_cols.append("to_char(s.business_date, 'YYYY-MM-DD')")
        elif postgres and f == "created_at":
            sale_cols.append("to_char(s.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US')")
        else:
            sale_cols.append("s." + f)
    line_cols = ["CAST(l.split_pack AS INTEGER)" if f == "split_pack" else "l." + f for f in LINE_HASH_FIELDS]
    queries = (
        f"SELECT s.id, s.prev_hash, s.hash, {', '.join(sale_cols)} FROM sale s "
        f"WHERE s.register_id = {p} ORDER BY s.seq",
        f"SELECT l.sale_id, {', '.join(line_cols)} FROM sale_line l "
        f"JOIN sale s ON s.id = l.sale_id WHERE s.register_id = {p} ORDER BY s.seq, l.line_no",
        f"SELECT y.sale_id, {', '.join('y.' + f for f in PAYMENT_HASH_FIELDS)} FROM sale_payment y "
        f"JOIN sale s ON s.id = y.sale_id WHERE s.register_id = {p} ORDER BY s.seq, y.id")
    cursors = []
    for i, query in enumerate(queries):
        if postgres:  # server-side: rows come in pages over millions of sales
            cur = con.cursor(name=f"verify_{register_id}_{i}")
        else:
            cur = con.cursor()
        cur.execute(query, (register_id,))
        cursors.append(cur)
    assert SALE_HASH_FIELDS[-1] == "created_at"  # the one column that may need converting, last in the tuple
    seq_i, number_i = 3 + SALE_HASH_FIELDS.index("seq"), 3 + SALE_HASH_FIELDS.index("sale_number")
    encode = _canonical_encoder()
    sha256 = hashlib.sha256
    # SQLite's cursor iterates in C; psycopg's server cursor iterates row by row in Python, so pages of rows.
    sales, line_iter, pay_iter = ((_pages(c) if postgres else iter(c)) for c in cursors)
    next_line, next_pay = next(line_iter, None), next(pay_iter, None)
    prev = GENESIS_HASH
    count = 0
    try:
        for row in sales:
            sale_id = row[0]
            lines, pays = [], []
            while next_line is not None and next_line[0] == sale_id:
                lines.append(next_line[1:])
                next_line = next(line_iter, None)
            while next_pay is not None and next_pay[0] == sale_id:
                pays.append(next_pay[1:])
                next_pay = next(pay_iter, None)
            count += 1
            at = row[-1]
            if postgres:
                if at.endswith(".000000"):
                    at = at[:19]
            elif isinstance(at, str) and len(at) == 26 and at[10] == " " and at[19] == ".":
                at = f"{at[:10]}T{at[11:19]}" if at.endswith(".000000") else f"{at[:10]}T{at[11:]}"
            else:
                at = _plain(datetime.fromisoformat(at) if isinstance(at, str) else at)
            problem = ""
            if row[seq_i] != count:
                problem = _l("number gap: expected %(a)d, found %(b)d", a=count, b=row[seq_i])
            elif row[1] != prev:
                problem = _l("previous-hash link broken")
            elif sha256(f"{prev}{''.join(encode([row[3:-1] + (at,), lines, pays], 0))}".encode()).hexdigest() \
                    != row[2]:
                problem = _l("content does not match its hash (altered)")
            if problem:
                report.sales = count
                report.ok, report.first_bad_sale, report.problem = False, row[number_i], problem
                break
            prev = row[2]
            report.last_sale = row[number_i]
        else:
            report.sales = count
    finally:
        for cur in cursors:
            cur.close()
    return prev


def verify_journal(session: Session, store_id: int | None = None,
                   register_ids: list[int] | None = None) -> list[ChainReport]:
    """Recompute every register's chain from its first sale: numbering without gaps, each prev_hash linking to
    the previous hash, each hash matching the sale's own content, and the journal head matching the last sale.
    Names the first bad sale per register. Streams plain rows in bounded memory over millions of sales."""
    stmt = select(Register)
    if store_id is not None:
        stmt = stmt.where(Register.store_id == store_id)
    if register_ids is not None:
        stmt = stmt.where(Register.id.in_(register_ids))
    registers = session.exec(stmt.order_by(Register.id)).all()
    heads = {j.register_id: j for j in session.exec(select(RegisterJournal)).all()}
    con = session.connection().connection.driver_connection
    postgres = is_postgres(session)
    reports = []
    for register in registers:
        report = ChainReport(register.id, register.code)
        prev = _verify_chain(con, postgres, register.id, report)
        head = heads.get(register.id)
        if report.ok and head and (head.last_seq != report.sales or head.last_hash != prev):
            report.ok, report.problem = False, _l("journal head does not match the last sale (sales deleted?)")
            report.first_bad_sale = report.last_sale
        reports.append(report)
    return reports


def _verify_in_worker(task) -> ChainReport:
    from core.db import make_engine, new_session

    url, register_id = task
    engine = make_engine(url)
    try:
        with new_session(engine) as session:
            report = verify_journal(session, register_ids=[register_id])[0]
            report.problem = str(report.problem)  # lazy strings do not cross processes
            return report
    finally:
        engine.dispose()


def verify_journal_parallel(session: Session, url: str, jobs: int, store_id: int | None = None) -> list[ChainReport]:
    """verify_journal with the registers spread over `jobs` worker processes (chains are independent), largest
    first. jobs ≤ 1 runs in this process."""
    stmt = select(Register.id, func.count(Sale.id)).outerjoin(Sale, Sale.register_id == Register.id)
    if store_id is not None:
        stmt = stmt.where(Register.store_id == store_id)
    sizes = session.exec(stmt.group_by(Register.id)).all()
    if jobs <= 1 or len(sizes) <= 1:
        return verify_journal(session, store_id)
    import multiprocessing

    order = [rid for rid, _n in sorted(sizes, key=lambda r: -r[1])]
    with multiprocessing.get_context("spawn").Pool(min(jobs, len(order))) as pool:
        reports = pool.map(_verify_in_worker, [(url, rid) for rid in order], chunksize=1)
    return sorted(reports, key=lambda r: r.register_id)


# --- scanning at the counter ---------------------------------------------------------------------------------------------

@dataclass
class ScanOutcome:
    kind: str  # added, trace_code, sale_number (open the return screen), unknown
    line: CartLine | None = None
    notices: list[LineNotice] = field(default_factory=list)
    sale_number: str | None = None
    message: str = ""


def scan_into_cart(session: Session, actor: Actor, register: Register, raw: str, *,
                   separator_chars: str = "\x1d", settings: PosSettings | None = None) -> ScanOutcome:
    """One entry point for every scan at the counter (keyboard wedge, serial agent, typed code)."""
    from hardware.scan import decode
    from inventory.models import DrugBarcode

    scan = decode(raw or "", separator_chars=separator_chars)
    # One write transaction from the first lookup on: no read transaction to end (and objects to reload) half-way.
    with transaction(session):
        code = scan.retail_code
        if code and not scan.lot and scan.kind not in ("unknown", "trace_code", "sale_number", "lot_label") \
                and "lot_may_include_serial" not in scan.warnings:
            # The common scan (a retail code, FEFO picks the lot) on prebuilt statements; add_item below when
            # there is anything to refuse or say.
            codes = [code] + ([scan.gtin] if scan.gtin and scan.gtin != code else [])
            outcome = _scan_add_fast(session, actor, register, codes, settings)
            if outcome is not None:
                return outcome
        store = session.get(Store, register.store_id)
        if scan.kind == "trace_code":
            line = attach_trace_code(session, actor, register, scan.trace_code)
            return ScanOutcome("trace_code", line=line, message=str(_l("Trace code recorded.")))
        if scan.kind == "sale_number":
            return ScanOutcome("sale_number", sale_number=scan.sale_number,
                               message=str(_l("Sale %(n)s: open Return to take goods back.", n=scan.sale_number)))
        if scan.kind == "lot_label":
            lot = inv.get_lot(session, scan.lot_label_id, store.id)
            line, notices = add_item(session, actor, register, drug_id=lot.drug_id, lot_id=lot.id, settings=settings)
            return ScanOutcome("added", line=line, notices=notices)
        code = scan.retail_code
        if scan.kind == "unknown" or not code:
            reason = {"bad_check_digit": _l("the check digit is wrong — scan again or type the code"),
                      "empty": _l("nothing was scanned")}.get(scan.error or "", _l("not a barcode Yaofang knows"))
            raise InvalidInput(_l("Cannot read %(raw)s: %(why)s. Search the drug by name or pinyin initials.",
                                  raw=(raw or "").strip()[:40], why=reason), code="unreadable_scan")
        candidates = [code] + ([scan.gtin] if scan.gtin and scan.gtin != code else [])
        drug = None
        for c in candidates:
            drug = session.exec(select(Drug).join(DrugBarcode, DrugBarcode.drug_id == Drug.id)
                                .where(DrugBarcode.barcode == c)).first()
            if drug:
                break
        if drug is None:
            raise NotFound(_l("Unknown barcode %(code)s: search the drug by name or pinyin initials.", code=code),
                           code="unknown_barcode")
        lot_id = None
        if scan.lot:  # the pack says which lot it is: sell that one (if it is sellable), not FEFO's pick
            lot = session.exec(select(Lot).where(Lot.store_id == store.id, Lot.drug_id == drug.id,
                                                 Lot.lot_no == scan.lot)).first()
            if lot is None:
                raise NotFound(_l("Lot %(lot)s of %(drug)s is not in this store's stock: check the pack.", lot=scan.lot,
                                  drug=drug.display_name), code="unknown_lot")
            lot_id = lot.id
        line, notices = add_item(session, actor, register, drug_id=drug.id, lot_id=lot_id, settings=settings)
        if "lot_may_include_serial" in scan.warnings:
            notices.append(LineNotice("warning", str(_l("Check the lot number on the pack: the scanner sent no "
                                                        "separator."))))
        return ScanOutcome("added", line=line, notices=notices)


# --- sales of given lots (for recalls) ------------------------------------------------------------------------------------

def sales_of_lots(session: Session, lot_ids, store_id: int | None = None) -> list[dict]:
    """Every sale of these lots, net of counter returns, with the trace codes sold and the buyer where registered
    (ephedrine sales): what a recall must reach. Plugged into the quality pages by pos.register()."""
    if not lot_ids:
        return []
    returned = dict(session.exec(select(SaleLine.original_line_id, func.sum(SaleLine.quantity))
                                 .where(SaleLine.original_line_id.is_not(None), SaleLine.lot_id.in_(lot_ids))
                                 .group_by(SaleLine.original_line_id)).all())
    stmt = (select(Sale, SaleLine).join(SaleLine, SaleLine.sale_id == Sale.id)
            .where(SaleLine.lot_id.in_(lot_ids), Sale.kind == SaleKind.SALE).order_by(Sale.created_at, SaleLine.id))
    if store_id is not None:
        stmt = stmt.where(Sale.store_id == store_id)
    out = []
    for sale, line in session.exec(stmt).all():
        net = line.quantity + returned.get(line.id, 0)  # return lines carry negative quantities
        if net > 0:
            out.append({"store_id": sale.store_id, "sale_number": sale.sale_number, "at": sale.created_at,
                        "lot_id": line.lot_id, "quantity": net, "trace_code": line.trace_code or "",
                        "contact": sale.buyer_name})
    return out
