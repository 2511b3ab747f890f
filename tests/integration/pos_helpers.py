"""Shared set-up for POS tests: an open shift on POS1 and a licensed pharmacist."""
import uuid
from datetime import timedelta

from sqlmodel import func, select

from core.services import Actor, add_licence
from pos import services as pos
from pos.models import Register, Sale, SaleLine, SalePayment
from inventory.models import StockMovement
from tests.conftest import TEST_PASSWORD, TEST_TODAY


class Counter:
    def __init__(self, world):
        self.w = world
        self.db = world.session
        self.register = self.db.exec(select(Register).where(Register.store_id == world.store.id,
                                                            Register.code == "POS1")).one()
        self.cashier = world.actor("cashier")
        self.shift = pos.open_shift(self.db, self.cashier, self.register, 20000)

    def license_pharmacist(self, days: int = 365):
        add_licence(self.db, Actor.system("test"), self.w.users["pharmacist"].id, kind="pharmacist",
                    number="ZY-TEST-0001", valid_until=TEST_TODAY + timedelta(days=days))

    def add(self, code="LHQW", packs=1, **kw):
        return pos.add_item(self.db, self.cashier, self.register, drug_id=self.w.drug[code].id, packs=packs, **kw)

    def pay(self, *tenders, key=None):
        tenders = tenders or (("cash", 100000, ""),)
        return pos.commit_sale(self.db, self.cashier, self.register, tenders=list(tenders),
                               client_uuid=key or str(uuid.uuid4()))

    def rx(self, issued_days_ago=0, approve=True, review=True):
        pos.record_prescription(self.db, self.cashier, self.register, number="RX-001", prescriber="测试医生",
                                institution="某某医院", issued_on=TEST_TODAY - timedelta(days=issued_days_ago),
                                diagnosis="上呼吸道感染")
        if review:
            return pos.review_prescription(self.db, self.cashier, self.register, pharmacist_username="pharmacist",
                                           password=TEST_PASSWORD, approve=approve)

    def counts(self):
        self.db.rollback()
        return tuple(self.db.exec(select(func.count()).select_from(t)).one()
                     for t in (Sale, SaleLine, SalePayment, StockMovement))
