"""The demo store: real catalogue rows and barcodes, users for every role, stock across every expiry tier."""
from __future__ import annotations

import csv
import random
import re
from datetime import timedelta
from pathlib import Path

from sqlmodel import Session

from core.db import transaction
from core.money import yuan_to_fen
from core.permissions import Role
from core.services import Actor, add_licence, create_store, create_user
from hardware.codes import make_in_store_ean13
from inventory.models import (ApprovalStatus, BarcodeKind, DrugCategory, LocationKind, LotStatus, RxClass,
                              SpecialClass, StorageClass)
from inventory.services import (change_lot_status, create_drug, create_location, create_lot, receive_opening_stock,
                                store_today)

DATA_DIR = Path(__file__).resolve().parent / "demo_data"
DEMO_PASSWORD = "yaofang-demo"

DEMO_USERS = [
    ("admin", "系统管理员", [Role.ADMIN]),
    ("quality", "质量负责人 王敏", [Role.QUALITY_MANAGER]),
    ("purchaser", "采购员 李强", [Role.PURCHASER]),
    ("receiver", "收货员 赵磊", [Role.RECEIVER]),
    ("inspector", "验收员 陈静", [Role.INSPECTOR]),
    ("curator", "养护员 刘洋", [Role.CURATOR]),
    ("pharmacist", "执业药师 张华", [Role.PHARMACIST]),
    ("cashier", "收银员 孙丽", [Role.CASHIER]),
    ("manager", "店长 周涛", [Role.STORE_MANAGER]),
    ("finance", "财务 吴芳", [Role.FINANCE]),
]

# Demo settings, not facts from the source rows (see demo_data/README.md).
DEMO_OTC = {"国药准字Z44022554": RxClass.OTC_A, "国药准字Z44021940": RxClass.OTC_A}

PACKAGE_RE = re.compile(r"^(\d+)\s*([^\d/]+)/([^\d/]+)$")


def read_catalogue() -> list[dict]:
    with (DATA_DIR / "nhsa_catalogue_sample.csv").open(encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def read_barcodes() -> list[dict]:
    with (DATA_DIR / "drug_barcodes_cn.csv").open(encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def drug_fields_from_catalogue(row: dict) -> dict:
    """Map one NHSA catalogue row onto the drug master."""
    units, smallest, package = 1, "盒", "盒"
    m = PACKAGE_RE.match(row["package"].strip())
    if m:
        units, smallest, package = int(m.group(1)), m.group(2).strip(), m.group(3).strip()
    name = row["generic_name"]
    form = row["dosage_form"]
    storage = StorageClass.COLD if "胰岛素" in name else StorageClass.ROOM
    special = SpecialClass.EPHEDRINE_COMBINATION if "麻" in name and "复方" in name else SpecialClass.NONE
    rx = DEMO_OTC.get(row["approval_no"], RxClass.RX)
    price = row["listed_price_cny"].strip()
    return {
        "generic_name": name, "trade_name": row["trade_name"], "dosage_form": form,
        "specification": row["specification"], "package_unit": package, "smallest_unit": smallest,
        "units_per_package": max(1, units), "manufacturer": row["manufacturer"], "approval_no": row["approval_no"],
        "hi_code": row["med_list_codg"], "hi_class": {"甲类": "甲", "乙类": "乙"}.get(row["insurance_class"], ""),
        "category": DrugCategory.PATENT if row["med_list_codg"].startswith("Z") else DrugCategory.WESTERN,
        "rx_class": rx, "special_class": special, "storage_class": storage,
        "storage_min_c": 2 if storage == StorageClass.COLD else None,
        "storage_max_c": 8 if storage == StorageClass.COLD else None,
        "key_curing": storage == StorageClass.COLD, "retail_price_fen": yuan_to_fen(price) if price else 0,
    }


def load_demo(session: Session, config: dict, *, seed: int = 20261122) -> str:
    """Build the whole demo store in one transaction (all or nothing)."""
    rng = random.Random(seed)
    system = Actor.system("demo")
    tz = config.get("TIMEZONE", "Asia/Shanghai")
    threshold = config.get("VALUABLE_PRICE_FEN", 10000)
    with transaction(session):
        store = create_store(session, system, code="S001", name="药房演示门店 Yaofang Demo Pharmacy", timezone=tz,
                             address="演示地址（非真实）", drug_trade_licence_no="DEMO-药经营-0001",
                             business_licence_no="DEMO-91000000000000000X",
                             business_scope="化学药制剂\n中成药\n生物制品\n冷藏冷冻药品")
        actor = Actor.system("demo", store.id)
        today = store_today(store)
        users = {}
        for username, name, roles in DEMO_USERS:
            users[username] = create_user(session, actor, username=username, display_name=name,
                                          password=DEMO_PASSWORD, store_id=store.id, roles=[str(r) for r in roles])
        add_licence(session, actor, users["pharmacist"].id, kind="pharmacist", number="DEMO-ZYYS-0001",
                    valid_from=today - timedelta(days=365), valid_until=today + timedelta(days=2 * 365))
        add_licence(session, actor, users["inspector"].id, kind="health_certificate", number="DEMO-JKZ-0002",
                    valid_from=today - timedelta(days=340), valid_until=today + timedelta(days=25))
        from pos.services import create_register

        create_register(session, actor, store_id=store.id, code="POS1", name="1号收银台", printer_url="dummy:")
        loc = {}
        for code, name, kind, sellable, storage in [
            ("A01", "前台货架 Front shelves", LocationKind.SELLABLE, True, StorageClass.ROOM),
            ("A02", "处方药柜 Rx cabinet", LocationKind.SELLABLE, True, StorageClass.ROOM),
            ("C01", "冷藏柜 Counter fridge", LocationKind.COLD, True, StorageClass.COLD),
            ("W01", "阴凉库 Cool warehouse", LocationKind.WAREHOUSE, False, StorageClass.COOL),
            ("Y01", "待验区 Pending (yellow)", LocationKind.PENDING, False, StorageClass.ROOM),
            ("Y02", "冷藏待验区 Cold pending", LocationKind.PENDING, False, StorageClass.COLD),
            ("R01", "不合格品区 Non-conforming (red)", LocationKind.NONCONFORMING, False, StorageClass.ROOM),
        ]:
            loc[code] = create_location(session, actor, store_id=store.id, code=code, name=name, kind=kind,
                                        sellable=sellable, storage_class=storage)

        drugs = []
        by_approval = {}
        for i, row in enumerate(read_catalogue(), start=1):
            fields = drug_fields_from_catalogue(row)
            drug = create_drug(session, actor, code=f"YF{i:05d}", valuable_threshold_fen=threshold,
                               barcodes=[], approval_status=ApprovalStatus.APPROVED, **fields)
            drugs.append(drug)
            by_approval.setdefault(row["approval_no"], drug)
        # Real EAN-13s: attach to the catalogue drug with the same approval number, else enter the product itself.
        from inventory.models import DrugBarcode

        n = len(drugs)
        for row in read_barcodes():
            drug = by_approval.get(row["approval_no"]) if row["approval_no"] else None
            if drug is None:
                n += 1
                m = re.search(r"(\d+)\s*(片|粒|支|袋)", row["specification"] or "")
                drug = create_drug(session, actor, code=f"YF{n:05d}", generic_name=row["product_name"],
                                   specification=row["specification"], package_unit=row["package_unit"] or "盒",
                                   smallest_unit=m.group(2) if m else (row["package_unit"] or "盒"),
                                   units_per_package=int(m.group(1)) if m else 1,
                                   manufacturer=row["manufacturer"], approval_no=row["approval_no"],
                                   category=DrugCategory.PATENT if "Z" in row["approval_no"] else DrugCategory.WESTERN,
                                   rx_class=DEMO_OTC.get(row["approval_no"], RxClass.OTC_A),
                                   approval_status=ApprovalStatus.APPROVED, retail_price_fen=0,
                                   valuable_threshold_fen=threshold)
                drugs.append(drug)
            session.add(DrugBarcode(drug_id=drug.id, barcode=row["barcode"], kind=BarcodeKind.EAN13))
        session.flush()
        for drug in drugs:
            session.add(DrugBarcode(drug_id=drug.id, barcode=make_in_store_ean13(drug.id), kind=BarcodeKind.IN_STORE))
        # Two drugs still waiting for quality approval (首营品种 not yet approved): visible, never sellable.
        for drug in drugs[-2:]:
            drug.approval_status = ApprovalStatus.PENDING
            session.add(drug)

        # Stock: lots across every expiry tier, several locations, one locked lot, one lot pending inspection.
        offsets = [-20, 12, 45, 75, 150, 400, 720]
        stocked = drugs[:60]
        lots_made = 0
        for idx, drug in enumerate(stocked):
            cold = drug.storage_class == StorageClass.COLD
            shelf = loc["C01"] if cold else (loc["A02"] if drug.rx_class == RxClass.RX else loc["A01"])
            for j, offset in enumerate(rng.sample(offsets, 2 if idx % 3 else 3)):
                expiry = today + timedelta(days=offset + rng.randint(0, 9))
                lot = create_lot(session, actor, store_id=store.id, drug_id=drug.id,
                                 lot_no=f"{expiry:%y%m}{rng.randint(100, 999)}{j}", expiry_date=expiry,
                                 production_date=expiry - timedelta(days=730), status=LotStatus.RELEASED)
                lots_made += 1
                qty = drug.units_per_package * rng.randint(2, 12)
                receive_opening_stock(session, actor, lot=lot, location=shelf, quantity=qty)
                if not cold and j == 0:
                    receive_opening_stock(session, actor, lot=lot, location=loc["W01"],
                                          quantity=drug.units_per_package * rng.randint(5, 20))
        # One locked lot (suspected quality problem found on display).
        locked_drug = stocked[1]
        locked = create_lot(session, actor, store_id=store.id, drug_id=locked_drug.id, lot_no="LK24001",
                            expiry_date=today + timedelta(days=300), production_date=today - timedelta(days=400),
                            status=LotStatus.RELEASED)
        receive_opening_stock(session, actor, lot=locked, location=loc["A02"], quantity=locked_drug.units_per_package * 3)
        change_lot_status(session, Actor(users["quality"].id, "quality", store.id), locked.id, LotStatus.LOCKED,
                          reason_category="found_on_display", note="演示：外包装破损，待质量负责人调查")
        # One lot waiting for acceptance in the yellow area.
        pending_drug = stocked[2]
        pending = create_lot(session, actor, store_id=store.id, drug_id=pending_drug.id, lot_no="PD24002",
                             expiry_date=today + timedelta(days=540), production_date=today - timedelta(days=100))
        receive_opening_stock(session, actor, lot=pending, location=loc["Y01"],
                              quantity=pending_drug.units_per_package * 10)
    return (f"demo store {store.code} loaded: {len(drugs)} drugs, {lots_made + 2} lots, {len(users)} users "
            f"(password for every demo user: {DEMO_PASSWORD})")
