"""Roles and the one permission table that every page and API endpoint consults."""
from __future__ import annotations

from enum import StrEnum

from flask_babel import lazy_gettext as _l


class Role(StrEnum):
    ADMIN = "admin"
    QUALITY_MANAGER = "quality_manager"
    PURCHASER = "purchaser"
    RECEIVER = "receiver"
    INSPECTOR = "inspector"
    CURATOR = "curator"
    PHARMACIST = "pharmacist"
    CASHIER = "cashier"
    STORE_MANAGER = "store_manager"
    FINANCE = "finance"


ROLE_LABELS = {
    Role.ADMIN: _l("System administrator"),
    Role.QUALITY_MANAGER: _l("Quality manager"),
    Role.PURCHASER: _l("Purchaser"),
    Role.RECEIVER: _l("Receiver"),
    Role.INSPECTOR: _l("Inspector"),
    Role.CURATOR: _l("Curator"),
    Role.PHARMACIST: _l("Licensed pharmacist"),
    Role.CASHIER: _l("Cashier"),
    Role.STORE_MANAGER: _l("Store manager"),
    Role.FINANCE: _l("Finance"),
}


class Perm(StrEnum):
    DASHBOARD_VIEW = "dashboard.view"
    DRUG_READ = "drug.read"
    STOCK_READ = "stock.read"
    STOCK_TRANSFER = "stock.transfer"
    STOCK_VERIFY = "stock.verify"
    LOCATION_READ = "location.read"
    STORE_READ = "store.read"
    AUDIT_READ = "audit.read"
    USER_READ = "user.read"
    USER_ADMIN = "user.admin"
    JOB_READ = "job.read"
    JOB_RUN = "job.run"
    POS_SELL = "pos.sell"  # open a shift, scan, take payment, hold and resume carts, start returns, reprint
    POS_REVIEW_RX = "pos.review_rx"  # licensed pharmacist: review prescriptions, approve returns
    POS_CHOOSE_LOT = "pos.choose_lot"  # pick another sellable lot than FEFO's
    POS_PRICE_OVERRIDE = "pos.price_override"
    POS_APPROVE_RETURN = "pos.approve_return"
    POS_DAY_CLOSE = "pos.day_close"
    SALES_READ = "sales.read"  # sales reports, shift reports, the journal and its verification
    QUALITY_READ = "quality.read"  # lot status history, locks, recalls, near-expiry list, curing and readings
    QUALITY_FLAG = "quality.flag"  # any staff: report a suspect lot to the quality manager
    QUALITY_LOCK = "quality.lock"  # quality manager: lock/unlock, non-conforming, stop/resume sale, recall
    QUALITY_DESTROY = "quality.destroy"  # approve a destruction (销毁) of non-conforming stock
    CURING_RECORD = "curing.record"  # curing (养护) records
    ENVIRONMENT_RECORD = "environment.record"  # temperature and humidity readings and their measures
    STOCKTAKE_COUNT = "stocktake.count"  # count in a stocktake (blind)
    STOCKTAKE_MANAGE = "stocktake.manage"  # start a stocktake (freeze expected quantities), verify counts
    STOCKTAKE_APPROVE = "stocktake.approve"  # approve the variance: posts gain/loss movements
    PROCUREMENT_READ = "procurement.read"  # suppliers, drug requests, orders, receipts, inspections, returns
    QUALIFICATION_SUBMIT = "qualification.submit"  # purchaser: submit a supplier (首营企业) or drug (首营品种)
    QUALIFICATION_APPROVE = "qualification.approve"  # quality manager: approve them, decide receiving exceptions
    PURCHASE_ORDER = "purchase.order"  # draft, confirm, close purchase orders
    PURCHASE_RECEIVE = "purchase.receive"  # receive goods against a confirmed order (收货)
    PURCHASE_INSPECT = "purchase.inspect"  # acceptance inspection (验收)
    PURCHASE_RETURN_REQUEST = "purchase_return.request"
    PURCHASE_RETURN_QUALITY = "purchase_return.quality"  # the quality head's approval of a purchase return
    PURCHASE_RETURN_FINANCE = "purchase_return.finance"  # finance's approval of a purchase return


ALL_ROLES = frozenset(Role)
_EVERYONE = {Perm.DASHBOARD_VIEW, Perm.DRUG_READ, Perm.STOCK_READ, Perm.LOCATION_READ, Perm.STORE_READ,
             Perm.QUALITY_READ, Perm.QUALITY_FLAG}

# The permission table. A role not listed for a permission does not have it; there is no other source of truth.
ROLE_PERMISSIONS: dict[Role, frozenset[Perm]] = {
    Role.ADMIN: frozenset(Perm) - {Perm.POS_REVIEW_RX},  # only a licensed pharmacist reviews prescriptions
    Role.QUALITY_MANAGER: frozenset(_EVERYONE | {Perm.STOCK_TRANSFER, Perm.STOCK_VERIFY, Perm.AUDIT_READ,
                                                 Perm.USER_READ, Perm.JOB_READ, Perm.QUALITY_LOCK,
                                                 Perm.QUALITY_DESTROY, Perm.CURING_RECORD,
                                                 Perm.ENVIRONMENT_RECORD, Perm.STOCKTAKE_COUNT,
                                                 Perm.STOCKTAKE_MANAGE, Perm.PROCUREMENT_READ,
                                                 Perm.QUALIFICATION_APPROVE, Perm.PURCHASE_RETURN_QUALITY}),
    Role.PURCHASER: frozenset(_EVERYONE | {Perm.PROCUREMENT_READ, Perm.QUALIFICATION_SUBMIT, Perm.PURCHASE_ORDER,
                                           Perm.PURCHASE_RETURN_REQUEST}),
    Role.RECEIVER: frozenset(_EVERYONE | {Perm.STOCK_TRANSFER, Perm.ENVIRONMENT_RECORD, Perm.STOCKTAKE_COUNT,
                                          Perm.PROCUREMENT_READ, Perm.PURCHASE_RECEIVE}),
    Role.INSPECTOR: frozenset(_EVERYONE | {Perm.STOCKTAKE_COUNT, Perm.PROCUREMENT_READ, Perm.PURCHASE_INSPECT}),
    Role.CURATOR: frozenset(_EVERYONE | {Perm.STOCK_TRANSFER, Perm.CURING_RECORD, Perm.ENVIRONMENT_RECORD,
                                         Perm.STOCKTAKE_COUNT}),
    Role.PHARMACIST: frozenset(_EVERYONE | {Perm.POS_SELL, Perm.POS_REVIEW_RX, Perm.POS_CHOOSE_LOT,
                                            Perm.POS_APPROVE_RETURN, Perm.STOCKTAKE_COUNT}),
    Role.CASHIER: frozenset(_EVERYONE | {Perm.POS_SELL, Perm.STOCKTAKE_COUNT}),
    Role.STORE_MANAGER: frozenset(_EVERYONE | {Perm.STOCK_TRANSFER, Perm.STOCK_VERIFY, Perm.AUDIT_READ,
                                               Perm.USER_READ, Perm.JOB_READ, Perm.POS_SELL, Perm.POS_CHOOSE_LOT,
                                               Perm.POS_PRICE_OVERRIDE, Perm.POS_APPROVE_RETURN,
                                               Perm.POS_DAY_CLOSE, Perm.SALES_READ, Perm.QUALITY_DESTROY,
                                               Perm.ENVIRONMENT_RECORD, Perm.STOCKTAKE_COUNT,
                                               Perm.STOCKTAKE_MANAGE, Perm.STOCKTAKE_APPROVE,
                                               Perm.PROCUREMENT_READ}),
    Role.FINANCE: frozenset(_EVERYONE | {Perm.STOCK_VERIFY, Perm.AUDIT_READ, Perm.SALES_READ,
                                         Perm.STOCKTAKE_APPROVE, Perm.PROCUREMENT_READ,
                                         Perm.PURCHASE_RETURN_FINANCE}),
}


def permissions_for(roles) -> frozenset[Perm]:
    perms: set[Perm] = set()
    for role in roles:
        perms |= ROLE_PERMISSIONS.get(Role(role), frozenset())
    return frozenset(perms)


def role_has(role: Role | str, perm: Perm) -> bool:
    return perm in ROLE_PERMISSIONS.get(Role(role), frozenset())
