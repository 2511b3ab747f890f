"""The one sellability rule, as a pure function (DESIGN invariant 3)."""
from datetime import date, timedelta

import pytest

from inventory.models import Drug, Location, Lot
from inventory.services import SkipReason, expiry_tier, sellability

TODAY = date(2026, 6, 15)


def make(drug_status="approved", active=True, lot_status="released", expiry=TODAY + timedelta(days=100),
         sellable=True, loc_active=True):
    return (Drug(code="X", generic_name="x", approval_status=drug_status, active=active),
            Lot(store_id=1, drug_id=1, lot_no="L1", status=lot_status, expiry_date=expiry),
            Location(store_id=1, code="A", name="A", kind="sellable" if sellable else "warehouse", sellable=sellable,
                     active=loc_active))


@pytest.mark.parametrize("kwargs, reasons", [
    ({}, []),
    ({"expiry": TODAY}, []),  # expiring today is still sellable today
    ({"expiry": None}, []),  # goods without an expiry date
    ({"expiry": TODAY - timedelta(days=1)}, [SkipReason.EXPIRED]),
    ({"lot_status": "locked"}, [SkipReason.LOCKED]),
    ({"lot_status": "pending_inspection"}, [SkipReason.PENDING_INSPECTION]),
    ({"lot_status": "nonconforming"}, [SkipReason.NONCONFORMING]),
    ({"lot_status": "recalled"}, [SkipReason.RECALLED]),
    ({"drug_status": "pending"}, [SkipReason.DRUG_NOT_APPROVED]),
    ({"active": False}, [SkipReason.DRUG_INACTIVE]),
    ({"sellable": False}, [SkipReason.WRONG_LOCATION]),
    ({"loc_active": False}, [SkipReason.WRONG_LOCATION]),
    ({"lot_status": "locked", "expiry": TODAY - timedelta(days=3), "sellable": False},
     [SkipReason.LOCKED, SkipReason.EXPIRED, SkipReason.WRONG_LOCATION]),
])
def test_sellability_matrix(kwargs, reasons):
    drug, lot, loc = make(**kwargs)
    assert sellability(drug, lot, loc, TODAY) == reasons


@pytest.mark.parametrize("days, tier", [(-1, "expired"), (0, "30"), (30, "30"), (31, "90"), (90, "90"),
                                        (91, "180"), (180, "180"), (181, None)])
def test_expiry_tiers(days, tier):
    assert expiry_tier(TODAY + timedelta(days=days), TODAY) == tier
    assert expiry_tier(None, TODAY) is None
