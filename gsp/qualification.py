"""Qualified suppliers and drugs (首营企业 / 首营品种) and business scope (经营范围).

A purchaser submits a supplier with its licences and authorised sales representatives, or a drug with its approval
number and papers; a quality manager — never the submitter — approves or rejects it. Only then can it be ordered,
received or sold. Changes to an approved drug's master data go through the same approval and keep before/after.
Suppliers and drugs are chain-wide master data, like the drug master (DESIGN.md); orders and receipts are per store.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date

from flask_babel import gettext as _, lazy_gettext as _l
from sqlalchemy import and_, exists, func
from sqlalchemy.orm import aliased
from sqlmodel import Session, select
from stdnum.cn import ric, uscc

from core import clock
from core.db import transaction
from core.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from core.jobs import LicenceWarning, register_licence_source
from core.models import Store
from core.permissions import Perm
from core.services import Actor, close_notifications, notify, record_audit
from gsp.models import (DrugRequest, DrugRequestKind, QualificationStatus, Supplier, SupplierLicence,
                        SupplierLicenceKind, SupplierRep)
from inventory import services as inv
from inventory.models import ApprovalStatus, Drug, DrugCategory, StorageClass

MAX_TEXT = 2000

# The usual items of a drug trade licence's scope (药品经营许可证 经营范围). Stores and suppliers list theirs one per
# line; a drug falls under one item (its category's, unless set), and cold-chain drugs also need 冷藏冷冻药品.
SCOPE_ITEMS = ("化学药制剂", "抗生素制剂", "生化药品", "中成药", "中药饮片", "生物制品", "冷藏冷冻药品",
               "体外诊断试剂", "第二类精神药品", "蛋白同化制剂、肽类激素")
COLD_CHAIN_SCOPE = "冷藏冷冻药品"
CATEGORY_SCOPE = {DrugCategory.WESTERN: "化学药制剂", DrugCategory.PATENT: "中成药",
                  DrugCategory.TCM_PIECES: "中药饮片"}

SUPPLIER_KINDS = {"wholesaler": _l("Wholesaler"), "manufacturer": _l("Manufacturer")}
LICENCE_LABELS = {
    SupplierLicenceKind.TRADE: _l("Drug trade licence (药品经营许可证)"),
    SupplierLicenceKind.MANUFACTURING: _l("Drug manufacturing licence (药品生产许可证)"),
    SupplierLicenceKind.BUSINESS: _l("Business licence (营业执照)"),
    SupplierLicenceKind.GSP: _l("GSP certificate"),
    SupplierLicenceKind.GMP: _l("GMP certificate"),
    SupplierLicenceKind.QUALITY_AGREEMENT: _l("Quality agreement (质量保证协议)"),
}
# What a supplier must have on file, valid, before it is approved and while it is ordered from.
REQUIRED_LICENCES = {"wholesaler": (SupplierLicenceKind.TRADE, SupplierLicenceKind.BUSINESS),
                     "manufacturer": (SupplierLicenceKind.MANUFACTURING, SupplierLicenceKind.BUSINESS)}
STATUS_LABELS = {QualificationStatus.PENDING: _l("Waiting for approval"),
                 QualificationStatus.APPROVED: _l("Approved"), QualificationStatus.REJECTED: _l("Rejected")}


def clean_text(value, what, *, required: bool = True, limit: int = MAX_TEXT) -> str:
    if value is not None and not isinstance(value, str):
        raise InvalidInput(_l("%(what)s must be text.", what=what), code="invalid_text")
    value = (value or "").strip()
    if required and not value:
        raise InvalidInput(_l("%(what)s is required.", what=what), code="required")
    if len(value) > limit:
        raise InvalidInput(_l("%(what)s has at most %(n)d characters.", what=what, n=limit), code="too_long")
    return value


def parse_date(value, what, *, required: bool = True) -> date | None:
    if value is None or value == "":
        if required:
            raise InvalidInput(_l("%(what)s is required.", what=what), code="required")
        return None
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise InvalidInput(_l("%(what)s must be a date (YYYY-MM-DD).", what=what), code="invalid_date")


def require(actor: Actor, perm: Perm) -> None:
    if not actor.can(perm):
        raise PermissionDenied(_l("Your role does not allow this. Ask an administrator if you need it."))


def not_submitter(actor: Actor, submitter_id: int | None) -> None:
    if actor.user_id is not None and actor.user_id == submitter_id:
        raise PermissionDenied(_l("You submitted this yourself: another person must approve it (two-person rule)."),
                               code="same_person")


def actor_today(session: Session, actor: Actor) -> date:
    """Today in the acting user's store (suppliers are chain-wide; validity is judged where the user works)."""
    store = session.get(Store, actor.store_id) if actor.store_id else None
    return clock.today(store.timezone if store else "Asia/Shanghai")


# --- business scope -----------------------------------------------------------------------------------------------

def scope_set(text: str) -> set[str]:
    return {line.strip() for line in (text or "").splitlines() if line.strip()}


def check_scope_text(text, what) -> str:
    items = scope_set(clean_text(text, what, required=False))
    unknown = sorted(items - set(SCOPE_ITEMS))
    if unknown:
        raise InvalidInput(_l("Unknown business scope item(s): %(items)s. Use: %(known)s", items="、".join(unknown),
                              known="、".join(SCOPE_ITEMS)), code="invalid_scope")
    return "\n".join(i for i in SCOPE_ITEMS if i in items)


def required_scope(drug: Drug) -> set[str]:
    """The scope items a drug needs; empty for goods that are not drugs (devices, health food, daily goods)."""
    item = drug.scope_item or CATEGORY_SCOPE.get(drug.category)
    needed = {item} if item else set()
    if needed and drug.storage_class in (StorageClass.COLD, StorageClass.FROZEN):
        needed.add(COLD_CHAIN_SCOPE)
    return needed


def scope_problem(drug: Drug, store: Store, supplier: Supplier) -> str | None:
    """Why this drug may not be bought from this supplier for this store, or None."""
    needed = required_scope(drug)
    missing_store = sorted(needed - scope_set(store.business_scope))
    if missing_store:
        return _("%(drug)s needs %(items)s, which is outside this store's business scope.",
                 drug=drug.display_name, items="、".join(missing_store))
    missing_supplier = sorted(needed - scope_set(supplier.business_scope))
    if missing_supplier:
        return _("%(drug)s needs %(items)s, which is outside %(supplier)s's business scope.",
                 drug=drug.display_name, items="、".join(missing_supplier), supplier=supplier.name)
    return None


def set_store_licence(session: Session, actor: Actor, *, store_id: int, drug_trade_licence_no, valid_until,
                      business_licence_no, business_scope) -> Store:
    """The store's own drug trade licence and business scope (经营范围), which every order line is checked against.
    Kept by the quality manager from the licence on the wall; the change is audited with before and after."""
    require(actor, Perm.QUALIFICATION_APPROVE)
    licence_no = clean_text(drug_trade_licence_no, _l("Drug trade licence no."), limit=64)
    until = parse_date(valid_until, _l("Valid until"))
    business_no = clean_text(business_licence_no, _l("Business licence no."), required=False, limit=64)
    scope = check_scope_text(business_scope, _l("Business scope"))
    if not scope:
        raise InvalidInput(_l("Business scope is required."), code="required")
    with transaction(session):
        store = session.get(Store, store_id, with_for_update=True if session.get_bind().dialect.name
                            == "postgresql" else None)
        if store is None:
            raise NotFound(_l("Store not found."))
        fields = ("drug_trade_licence_no", "drug_trade_licence_valid_until", "business_licence_no", "business_scope")
        before = {f: getattr(store, f) for f in fields}
        store.drug_trade_licence_no, store.drug_trade_licence_valid_until = licence_no, until
        store.business_licence_no, store.business_scope = business_no, scope
        session.add(store)
        record_audit(session, actor, "store.licence", "store", store.id, before=before,
                     after={f: getattr(store, f) for f in fields}, store_id=store.id)
    return store


def store_licence_warnings(session: Session, today: date, until: date) -> list[LicenceWarning]:
    """The store's own drug trade licence ending by `until`: its quality manager is told once ahead, once ended."""
    rows = session.exec(select(Store).where(Store.drug_trade_licence_valid_until.is_not(None),
                                            Store.drug_trade_licence_valid_until <= until)).all()
    return [LicenceWarning(
        dedupe_key=f"store_licence:{store.id}:{store.drug_trade_licence_valid_until.isoformat()}:"
                   f"{'ended' if store.drug_trade_licence_valid_until < today else 'ending'}",
        store_id=store.id, permission=Perm.QUALIFICATION_APPROVE,
        title=_("The store's drug trade licence %(number)s ends on %(date)s", number=store.drug_trade_licence_no,
                date=store.drug_trade_licence_valid_until.isoformat()),
        body=_("Apply for the renewal in time and record the new licence on the Store page."),
        entity_type="store", entity_id=store.id) for store in rows]


# --- suppliers --------------------------------------------------------------------------------------------------

def _licence(raw: dict, today: date) -> SupplierLicence:
    if not isinstance(raw, dict):
        raise InvalidInput(_l("Each licence needs kind, number and validity."), code="invalid_licence")
    kind = raw.get("kind")
    if not isinstance(kind, str) or kind not in {k.value for k in SupplierLicenceKind}:
        raise InvalidInput(_l("Unknown licence kind: %(kind)s", kind=kind), code="invalid_licence")
    number = clean_text(raw.get("number"), _l("Licence number"), limit=64)
    valid_from = parse_date(raw.get("valid_from"), _l("Valid from"), required=False)
    valid_until = parse_date(raw.get("valid_until"), _l("Valid until"), required=kind != SupplierLicenceKind.BUSINESS)
    if valid_from and valid_until and valid_until < valid_from:
        raise InvalidInput(_l("A licence cannot end before it starts."), code="invalid_dates")
    if valid_until and valid_until < today:
        raise InvalidInput(_l("Licence %(number)s ended on %(date)s: file the renewed licence.", number=number,
                              date=valid_until.isoformat()), code="licence_expired")
    return SupplierLicence(kind=kind, number=number, valid_from=valid_from, valid_until=valid_until,
                           scope=check_scope_text(raw.get("scope", ""), _l("Licence scope")))


def _rep(raw: dict, today: date) -> SupplierRep:
    if not isinstance(raw, dict):
        raise InvalidInput(_l("Each sales representative needs a name, ID number and validity."), code="invalid_rep")
    name = clean_text(raw.get("name"), _l("Representative's name"), limit=64)
    id_number = clean_text(raw.get("id_number"), _l("ID number"), limit=18).upper()
    if not ric.is_valid(id_number):
        raise InvalidInput(_l("ID number %(id)s is not a valid 18-digit resident ID (check digit).", id=id_number),
                           code="invalid_id_number")
    valid_until = parse_date(raw.get("valid_until"), _l("Authorisation valid until"))
    if valid_until < today:
        raise InvalidInput(_l("The authorisation of %(name)s ended on %(date)s.", name=name,
                              date=valid_until.isoformat()), code="authorisation_expired")
    return SupplierRep(name=name, id_number=id_number, valid_until=valid_until,
                       authorisation_no=clean_text(raw.get("authorisation_no"), _l("Authorisation number"),
                                              required=False, limit=64),
                       scope=check_scope_text(raw.get("scope", ""), _l("Authorised scope")))


def submit_supplier(session: Session, actor: Actor, *, code, name, credit_code, kind="wholesaler", address="",
                    contact="", business_scope="", licences=(), reps=()) -> Supplier:
    """首营企业: the purchaser files the supplier with its licences and reps; a quality manager approves it."""
    require(actor, Perm.QUALIFICATION_SUBMIT)
    today = actor_today(session, actor)
    code = clean_text(code, _l("Supplier code"), limit=32)
    name = clean_text(name, _l("Supplier name"), limit=160)
    credit_code = clean_text(credit_code, _l("Unified social credit code"), limit=18).upper()
    if not uscc.is_valid(credit_code):
        raise InvalidInput(_l("%(code)s is not a valid unified social credit code (18 characters, check digit).",
                              code=credit_code), code="invalid_credit_code")
    if not isinstance(kind, str) or kind not in SUPPLIER_KINDS:
        raise InvalidInput(_l("Choose wholesaler or manufacturer."), code="invalid_kind")
    scope = check_scope_text(business_scope, _l("Business scope"))
    if not scope:
        raise InvalidInput(_l("Business scope is required."), code="required")
    if not isinstance(licences, (list, tuple)) or not isinstance(reps, (list, tuple)):
        raise InvalidInput(_l("Licences and representatives must be lists."), code="invalid_input")
    licence_rows = [_licence(raw, today) for raw in licences]
    missing = [k for k in REQUIRED_LICENCES[kind] if k not in {row.kind for row in licence_rows}]
    if missing:
        raise InvalidInput(_l("Missing licence(s): %(kinds)s", kinds="、".join(str(LICENCE_LABELS[k]) for k in missing)),
                           code="licence_missing")
    rep_rows = [_rep(raw, today) for raw in reps]
    with transaction(session):
        if session.exec(select(Supplier.id).where((Supplier.code == code) | (Supplier.credit_code == credit_code))
                        ).first():
            raise Conflict(_l("A supplier with code %(code)s or credit code %(credit)s is already on file.",
                              code=code, credit=credit_code), code="duplicate_supplier")
        trade = next((row for row in licence_rows if row.kind in (SupplierLicenceKind.TRADE,
                                                                  SupplierLicenceKind.MANUFACTURING)), None)
        supplier = Supplier(code=code, name=name, credit_code=credit_code, kind=kind,
                            address=clean_text(address, _l("Address"), required=False, limit=255),
                            contact=clean_text(contact, _l("Contact"), required=False, limit=120), business_scope=scope,
                            spler_pmtno=trade.number if trade else "", submitted_by_id=actor.user_id,
                            submitted_at=clock.now())
        session.add(supplier)
        session.flush()
        for row in licence_rows + rep_rows:
            _belongs(row, supplier, actor)
            session.add(row)
        notify(session, kind="supplier_submitted", dedupe_key=f"supplier:{supplier.id}:submitted",
               permission=Perm.QUALIFICATION_APPROVE, store_id=None, entity_type="supplier", entity_id=supplier.id,
               title=_("Supplier to approve: %(name)s", name=name), body=actor.name)
        record_audit(session, actor, "supplier.submit", "supplier", supplier.id,
                     after={"code": code, "name": name, "credit_code": credit_code, "kind": kind, "scope": scope,
                            "licences": [(r.kind, r.number, r.valid_until) for r in licence_rows],
                            "reps": [(r.name, r.valid_until) for r in rep_rows]})
    return supplier


def get_supplier(session: Session, supplier_id) -> Supplier:
    supplier = session.get(Supplier, supplier_id) if type(supplier_id) is int else None
    if supplier is None:
        raise NotFound(_l("Supplier not found."))
    return supplier


def decide_supplier(session: Session, actor: Actor, supplier_id: int, *, approve: bool, note: str = "") -> Supplier:
    require(actor, Perm.QUALIFICATION_APPROVE)
    note = clean_text(note, _l("The reason for rejecting"), required=not approve)
    with transaction(session):
        supplier = get_supplier(session, supplier_id)
        if supplier.status != QualificationStatus.PENDING:
            raise Conflict(_l("This supplier was already decided."), code="already_decided")
        not_submitter(actor, supplier.submitted_by_id)
        if approve:
            problems = supplier_problems(session, supplier, actor_today(session, actor), check_status=False)
            if problems:
                raise Conflict(problems[0], code="licence_invalid")
        supplier.status = QualificationStatus.APPROVED if approve else QualificationStatus.REJECTED
        supplier.decided_by_id, supplier.decided_at, supplier.decision_note = actor.user_id, clock.now(), note
        session.add(supplier)
        close_notifications(session, f"supplier:{supplier.id}:submitted")
        record_audit(session, actor, "supplier.approve" if approve else "supplier.reject", "supplier", supplier.id,
                     before={"status": QualificationStatus.PENDING}, after={"status": supplier.status}, reason=note)
    return supplier


def _belongs(row, supplier: Supplier, actor: Actor) -> None:
    row.supplier_id, row.added_by_id, row.added_at = supplier.id, actor.user_id, clock.now()


# The licences whose scope is the supplier's business scope (经营范围).
SCOPE_LICENCES = (SupplierLicenceKind.TRADE, SupplierLicenceKind.MANUFACTURING)


def add_licence(session: Session, actor: Actor, supplier_id: int, raw: dict) -> SupplierLicence:
    """File a renewed or further licence (the quality manager checks the paper); the latest of a kind counts.
    A trade or manufacturing licence filed with a scope makes that the supplier's business scope (a renewal may
    widen or narrow it); the audit event keeps the scope before and after."""
    require(actor, Perm.QUALIFICATION_APPROVE)
    row = _licence(raw, actor_today(session, actor))
    with transaction(session):
        supplier = get_supplier(session, supplier_id)
        _belongs(row, supplier, actor)
        session.add(row)
        session.flush()
        after = {"kind": row.kind, "number": row.number, "valid_until": row.valid_until}
        before = None
        if row.kind in SCOPE_LICENCES and row.scope and row.scope != supplier.business_scope:
            before, after["business_scope"] = {"business_scope": supplier.business_scope}, row.scope
            supplier.business_scope = row.scope
            session.add(supplier)
        record_audit(session, actor, "supplier.licence", "supplier", supplier.id, before=before, after=after)
    return row


def add_rep(session: Session, actor: Actor, supplier_id: int, raw: dict) -> SupplierRep:
    """File a further authorised representative (the quality manager checks the letter and ID)."""
    require(actor, Perm.QUALIFICATION_APPROVE)
    row = _rep(raw, actor_today(session, actor))
    with transaction(session):
        supplier = get_supplier(session, supplier_id)
        _belongs(row, supplier, actor)
        session.add(row)
        session.flush()
        record_audit(session, actor, "supplier.rep", "supplier", supplier.id,
                     after={"name": row.name, "valid_until": row.valid_until})
    return row


def current_licences(session: Session, supplier_id: int) -> dict[str, SupplierLicence]:
    """The licence that counts for each kind: the one filed last."""
    rows = session.exec(select(SupplierLicence).where(SupplierLicence.supplier_id == supplier_id)
                        .order_by(SupplierLicence.id)).all()
    return {row.kind: row for row in rows}


def supplier_reps(session: Session, supplier_id: int) -> list[SupplierRep]:
    return list(session.exec(select(SupplierRep).where(SupplierRep.supplier_id == supplier_id)
                             .order_by(SupplierRep.name, SupplierRep.id)).all())


def supplier_problems(session: Session, supplier: Supplier, today: date, *, check_status: bool = True) -> list[str]:
    """Why orders cannot be placed with this supplier now (empty: they can)."""
    problems = []
    if check_status and supplier.status != QualificationStatus.APPROVED:
        problems.append(_("Supplier %(name)s is not approved by the quality manager (首营企业审核).",
                          name=supplier.name))
    licences = current_licences(session, supplier.id)
    for kind in REQUIRED_LICENCES.get(supplier.kind, ()):
        lic = licences.get(kind)
        if lic is None:
            problems.append(_("%(name)s has no %(kind)s on file.", name=supplier.name, kind=LICENCE_LABELS[kind]))
    for lic in licences.values():
        if lic.valid_until and lic.valid_until < today:
            problems.append(_("%(kind)s of %(name)s ended on %(date)s: orders are blocked until the renewed licence "
                              "is filed.", kind=LICENCE_LABELS[lic.kind], name=supplier.name,
                              date=lic.valid_until.isoformat()))
    return problems


def usable_supplier(session: Session, supplier_id, today: date) -> Supplier:
    supplier = get_supplier(session, supplier_id)
    problems = supplier_problems(session, supplier, today)
    if problems:
        raise Conflict(problems[0], code="supplier_not_usable", details={"problems": problems})
    return supplier


def valid_rep(session: Session, supplier: Supplier, rep_id, today: date) -> SupplierRep | None:
    if rep_id in (None, "", 0):
        return None
    rep = session.get(SupplierRep, rep_id) if type(rep_id) is int else None
    if rep is None or rep.supplier_id != supplier.id:
        raise InvalidInput(_l("Choose a sales representative of this supplier."), code="invalid_rep")
    if rep.valid_until < today:
        raise Conflict(_l("The authorisation of %(name)s ended on %(date)s.", name=rep.name,
                          date=rep.valid_until.isoformat()), code="authorisation_expired")
    return rep


def suppliers(session: Session, status: str | None = None) -> list[Supplier]:
    stmt = select(Supplier).order_by(Supplier.name)
    if status:
        stmt = stmt.where(Supplier.status == status)
    return list(session.exec(stmt).all())


def licences_ending(session: Session, until: date) -> list[tuple[Supplier, SupplierLicence]]:
    """Licences of approved suppliers that end by `until` and have not been renewed (no later licence of the same
    kind)."""
    newer = aliased(SupplierLicence)
    renewed = exists().where(and_(newer.supplier_id == SupplierLicence.supplier_id,
                                  newer.kind == SupplierLicence.kind, newer.id > SupplierLicence.id))
    return list(session.exec(select(Supplier, SupplierLicence)
                             .join(SupplierLicence, SupplierLicence.supplier_id == Supplier.id)
                             .where(SupplierLicence.valid_until.is_not(None), SupplierLicence.valid_until <= until,
                                    Supplier.status == QualificationStatus.APPROVED, ~renewed)
                             .order_by(SupplierLicence.valid_until, SupplierLicence.id)).all())


def supplier_licence_warnings(session: Session, today: date, until: date) -> list[LicenceWarning]:
    """One notice when a licence enters the warning window and one when it has ended. Suppliers are chain-wide, so
    the notice goes to every store's quality manager."""
    warnings = []
    for supplier, lic in licences_ending(session, until):
        ended = lic.valid_until < today
        ends = (_("ended on %(date)s", date=lic.valid_until.isoformat()) if ended else
                _("ends on %(date)s (in %(days)d days)", date=lic.valid_until.isoformat(),
                  days=(lic.valid_until - today).days))
        warnings.append(LicenceWarning(
            dedupe_key=f"supplier_licence:{lic.id}:{'ended' if ended else 'ending'}", store_id=None,
            permission=Perm.QUALIFICATION_APPROVE,
            title=_("Supplier %(name)s: %(kind)s %(ends)s", name=supplier.name, kind=LICENCE_LABELS[lic.kind],
                    ends=ends),
            body=_("No. %(number)s. File the renewed licence; until then no new orders can be placed with this "
                   "supplier.", number=lic.number),
            entity_type="supplier", entity_id=supplier.id))
    return warnings


def rep_authorisation_warnings(session: Session, today: date, until: date) -> list[LicenceWarning]:
    """Sales representatives' authorisations ending by `until`, unless the same person has a later one on file."""
    newer = aliased(SupplierRep)
    renewed = exists().where(and_(newer.supplier_id == SupplierRep.supplier_id,
                                  newer.id_number == SupplierRep.id_number,
                                  newer.valid_until > SupplierRep.valid_until))
    rows = session.exec(select(SupplierRep, Supplier).join(Supplier, Supplier.id == SupplierRep.supplier_id)
                        .where(SupplierRep.valid_until <= until, Supplier.status == QualificationStatus.APPROVED,
                               ~renewed).order_by(SupplierRep.valid_until, SupplierRep.id)).all()
    return [LicenceWarning(
        dedupe_key=f"supplier_rep:{rep.id}:{'ended' if rep.valid_until < today else 'ending'}", store_id=None,
        permission=Perm.QUALIFICATION_APPROVE,
        title=_("Authorisation of %(rep)s (%(name)s) ends on %(date)s", rep=rep.name, name=supplier.name,
                date=rep.valid_until.isoformat()),
        body=_("File the renewed authorisation (授权委托书); until then orders cannot name this representative."),
        entity_type="supplier", entity_id=supplier.id) for rep, supplier in rows]


register_licence_source("supplier", supplier_licence_warnings)
register_licence_source("supplier_rep", rep_authorisation_warnings)
register_licence_source("store", store_licence_warnings)


# --- drugs (首营品种) and changes to their master data ---------------------------------------------------------------

def _json(value) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)


def submit_new_drug(session: Session, actor: Actor, *, code, generic_name, documents, barcodes=(),
                    valuable_threshold_fen: int = 10000, **fields) -> DrugRequest:
    """首营品种: the drug enters the master data as PENDING (not orderable, receivable or sellable) with a request
    for the quality manager."""
    require(actor, Perm.QUALIFICATION_SUBMIT)
    documents = clean_text(documents, _l("Documents on file"))
    if fields.get("scope_item") and fields["scope_item"] not in SCOPE_ITEMS:
        raise InvalidInput(_l("Unknown business scope item(s): %(items)s. Use: %(known)s", items=fields["scope_item"],
                              known="、".join(SCOPE_ITEMS)), code="invalid_scope")
    fields["approval_no"] = clean_text(fields.get("approval_no"), _l("Approval number (批准文号)"), limit=64)
    fields["manufacturer"] = clean_text(fields.get("manufacturer"), _l("Manufacturer"), limit=160)
    fields["approval_status"] = ApprovalStatus.PENDING
    with transaction(session):
        drug = inv.create_drug(session, actor, code=code, generic_name=generic_name, barcodes=barcodes,
                               valuable_threshold_fen=valuable_threshold_fen, **fields)
        request = DrugRequest(drug_id=drug.id, kind=DrugRequestKind.NEW, documents=documents,
                              changes=_json({"code": drug.code, "generic_name": drug.generic_name,
                                             "approval_no": drug.approval_no}),
                              submitted_by_id=actor.user_id, submitted_at=clock.now())
        session.add(request)
        session.flush()
        _notify_request(session, request, drug, actor)
        record_audit(session, actor, "drug_request.submit", "drug", drug.id, after={"request": request.id,
                                                                                 "kind": request.kind})
    return request


def submit_drug_change(session: Session, actor: Actor, drug_id: int, *, changes: dict, reason: str,
                       documents: str = "") -> DrugRequest:
    """A change to an approved drug's master data: nothing changes until a quality manager approves it."""
    require(actor, Perm.QUALIFICATION_SUBMIT)
    reason = clean_text(reason, _l("The reason for the change"))
    if not isinstance(changes, dict) or not changes:
        raise InvalidInput(_l("Say what should change."), code="required")
    unknown = sorted(set(changes) - set(inv.EDITABLE_DRUG_FIELDS))
    if unknown:
        raise InvalidInput(_l("These fields cannot be changed: %(fields)s", fields=", ".join(unknown)),
                           code="invalid_field")
    if changes.get("scope_item") and changes["scope_item"] not in SCOPE_ITEMS:
        raise InvalidInput(_l("Unknown business scope item(s): %(items)s. Use: %(known)s", items=changes["scope_item"],
                              known="、".join(SCOPE_ITEMS)), code="invalid_scope")
    with transaction(session):
        drug = inv.get_drug(session, drug_id)
        if drug.approval_status != ApprovalStatus.APPROVED:
            raise Conflict(_l("Only approved drugs take change requests; this one waits for its first approval."),
                           code="not_approved")
        checked = inv.check_drug_fields({**{k: getattr(drug, k) for k in inv.EDITABLE_DRUG_FIELDS}, **changes})
        changes = {k: checked[k] for k in changes if checked[k] != getattr(drug, k)}
        if not changes:
            raise InvalidInput(_l("Nothing differs from the current master data."), code="no_change")
        if session.exec(select(DrugRequest.id).where(DrugRequest.drug_id == drug.id,
                                                     DrugRequest.status == QualificationStatus.PENDING)).first():
            raise Conflict(_l("A request for this drug is already waiting for the quality manager."),
                           code="request_pending")
        request = DrugRequest(drug_id=drug.id, kind=DrugRequestKind.CHANGE, changes=_json(changes),
                              before=_json({k: getattr(drug, k) for k in changes}), reason=reason,
                              documents=clean_text(documents, _l("Documents on file"), required=False),
                              submitted_by_id=actor.user_id, submitted_at=clock.now())
        session.add(request)
        session.flush()
        _notify_request(session, request, drug, actor)
        record_audit(session, actor, "drug_request.submit", "drug", drug.id,
                     after={"request": request.id, "kind": request.kind, "changes": changes}, reason=reason)
    return request


def _notify_request(session: Session, request: DrugRequest, drug: Drug, actor: Actor) -> None:
    title = (_("Drug to approve (首营品种): %(drug)s", drug=drug.display_name) if request.kind == DrugRequestKind.NEW
             else _("Master data change to approve: %(drug)s", drug=drug.display_name))
    notify(session, kind="drug_request", dedupe_key=f"drug_request:{request.id}", store_id=None,
           permission=Perm.QUALIFICATION_APPROVE, entity_type="drug", entity_id=drug.id, title=title, body=actor.name)


def get_drug_request(session: Session, request_id) -> DrugRequest:
    request = session.get(DrugRequest, request_id) if type(request_id) is int else None
    if request is None:
        raise NotFound(_l("Request not found."))
    return request


def decide_drug_request(session: Session, actor: Actor, request_id: int, *, approve: bool, note: str = "",
                        valuable_threshold_fen: int = 10000) -> DrugRequest:
    require(actor, Perm.QUALIFICATION_APPROVE)
    note = clean_text(note, _l("The reason for rejecting"), required=not approve)
    with transaction(session):
        request = get_drug_request(session, request_id)
        if request.status != QualificationStatus.PENDING:
            raise Conflict(_l("This request was already decided."), code="already_decided")
        not_submitter(actor, request.submitted_by_id)
        drug = inv.get_drug(session, request.drug_id)
        if request.kind == DrugRequestKind.NEW:
            inv.set_drug_approval(session, actor, drug.id,
                                  ApprovalStatus.APPROVED if approve else ApprovalStatus.REJECTED, reason=note)
        elif approve:
            before, _after = inv.update_drug(session, actor, drug.id, json.loads(request.changes),
                                             reason=request.reason, valuable_threshold_fen=valuable_threshold_fen)
            request.before = _json(before)  # what it really replaced at approval time
        request.status = QualificationStatus.APPROVED if approve else QualificationStatus.REJECTED
        request.decided_by_id, request.decided_at, request.decision_note = actor.user_id, clock.now(), note
        session.add(request)
        close_notifications(session, f"drug_request:{request.id}")
        record_audit(session, actor, "drug_request.approve" if approve else "drug_request.reject", "drug", drug.id,
                     after={"request": request.id, "kind": request.kind}, reason=note)
    return request


def drug_requests(session: Session, *, status: str | None = None, drug_id: int | None = None, limit: int = 200):
    stmt = select(DrugRequest, Drug).join(Drug, Drug.id == DrugRequest.drug_id)
    if status:
        stmt = stmt.where(DrugRequest.status == status)
    if drug_id:
        stmt = stmt.where(DrugRequest.drug_id == drug_id)
    return list(session.exec(stmt.order_by(DrugRequest.id.desc()).limit(limit)).all())


def pending_counts(session: Session) -> dict:
    return {"suppliers": session.exec(select(func.count()).select_from(Supplier)
                                      .where(Supplier.status == QualificationStatus.PENDING)).one(),
            "drugs": session.exec(select(func.count()).select_from(DrugRequest)
                                  .where(DrugRequest.status == QualificationStatus.PENDING)).one()}


@dataclass
class RequestView:
    request: DrugRequest
    drug: Drug

    @property
    def changes(self) -> dict:
        return json.loads(self.request.changes or "{}")

    @property
    def before(self) -> dict:
        return json.loads(self.request.before or "{}")
