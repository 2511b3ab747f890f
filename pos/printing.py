"""Receipts and the durable print queue. A sale only enqueues a PrintJob; the worker renders and sends it,
retrying with back-off while the printer is off, so a sale never fails or waits because of a printer."""
from __future__ import annotations

import json
import logging
import threading
from datetime import timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import update
from sqlmodel import Session, select

from core import clock
from core.db import session_scope, transaction
from core.models import Store, User
from hardware import receipt as rc
from inventory.models import Drug, Lot
from pos.models import DayClose, PrintJob, Register, Sale, SaleKind, SaleLine, SalePayment

log = logging.getLogger("yaofang.print")

TENDER_LABELS = {"cash": "现金", "card": "银联卡", "wechat": "微信支付", "alipay": "支付宝",
                 "insurance_account": "医保个人账户", "insurance_fund": "医保统筹基金"}
FOOTER = ("药品为特殊商品，非质量问题概不退换", "请妥善保管小票，凭票退换", "谢谢惠顾")
MAX_BACKOFF_SECONDS = 300
DAY_REPORT, DAY_REPORT_REPRINT = "z_report", "z_report_reprint"  # print job kinds besides receipt and reprint


def receipt_for_sale(session: Session, sale: Sale, *, reprint: bool = False) -> rc.Receipt:
    store = session.get(Store, sale.store_id)
    names = {u.id: u.display_name for u in session.exec(select(User).where(
        User.id.in_([i for i in (sale.cashier_id, sale.pharmacist_id) if i]))).all()}
    rows = session.exec(select(SaleLine, Drug, Lot).join(Drug, Drug.id == SaleLine.drug_id)
                        .join(Lot, Lot.id == SaleLine.lot_id).where(SaleLine.sale_id == sale.id)
                        .order_by(SaleLine.line_no)).all()
    lines = [rc.ReceiptLine(name=drug.display_name, specification=drug.specification,
                            manufacturer=drug.manufacturer, lot_no=lot.lot_no, expiry=lot.expiry_date,
                            quantity=line.pack_quantity,
                            unit=drug.smallest_unit if line.split_pack else drug.package_unit,
                            unit_price_fen=line.unit_price_fen, amount_fen=line.amount_fen, rx=line.rx,
                            note="拆零" if line.split_pack else "")
             for line, drug, lot in rows]
    payments = session.exec(select(SalePayment).where(SalePayment.sale_id == sale.id).order_by(SalePayment.id)).all()
    original = session.get(Sale, sale.original_sale_id) if sale.original_sale_id else None
    sold_at = sale.created_at.astimezone(ZoneInfo(store.timezone)).strftime("%Y-%m-%d %H:%M:%S")
    return rc.Receipt(
        store_name=store.name, licence_no=store.drug_trade_licence_no, sale_number=sale.sale_number,
        sold_at=sold_at, cashier=names.get(sale.cashier_id, ""), lines=lines,
        tenders=[rc.Tender(TENDER_LABELS.get(p.tender, p.tender), p.amount_fen, p.reference) for p in payments],
        total_fen=sale.total_fen, change_fen=sale.change_fen,
        pharmacist=names.get(sale.pharmacist_id) if sale.pharmacist_id else None, footer=FOOTER,
        reprint=reprint, is_return=sale.kind == SaleKind.RETURN,
        original_sale_number=original.sale_number if original else None,
        barcode_payload="YS" + sale.sale_number)


def day_report_for(session: Session, close: DayClose, *, reprint: bool = False) -> rc.DayReport:
    """The 日结单 of a day close, as the receipt printer prints it."""
    store = session.get(Store, close.store_id)
    register = session.get(Register, close.register_id)
    closed_by = session.get(User, close.closed_by_id)
    totals = json.loads(close.totals_json or "{}")
    return rc.DayReport(
        store_name=store.name, register_code=register.code, business_date=close.business_date.isoformat(),
        closed_at=close.closed_at.astimezone(ZoneInfo(store.timezone)).strftime("%Y-%m-%d %H:%M:%S"),
        closed_by=closed_by.display_name if closed_by else "", first_sale_number=close.first_sale_number,
        last_sale_number=close.last_sale_number, sale_count=close.sale_count, return_count=close.return_count,
        prescription_count=close.prescription_count,
        by_tender=tuple((TENDER_LABELS.get(k, k), int(v)) for k, v in sorted(totals.get("by_tender", {}).items())),
        by_cashier=tuple((k, int(v)) for k, v in sorted(totals.get("by_cashier", {}).items())),
        refunded_fen=int(totals.get("refunded_fen", 0)), net_total_fen=close.net_total_fen,
        grand_total_fen=close.grand_total_fen, chain_head_hash=close.chain_head_hash, reprint=reprint)


def render_job(session: Session, job: PrintJob, register: Register) -> bytes:
    printer = rc.profile(register.printer_profile)
    if job.kind in (DAY_REPORT, DAY_REPORT_REPRINT):
        report = day_report_for(session, session.get(DayClose, job.day_close_id),
                                reprint=job.kind == DAY_REPORT_REPRINT)
        return rc.render_escpos(report, printer, kick_drawer=False)
    receipt = receipt_for_sale(session, session.get(Sale, job.sale_id), reprint=job.kind == "reprint")
    return rc.render_escpos(receipt, printer, kick_drawer=job.kick_drawer)


def backoff(attempts: int) -> timedelta:
    return timedelta(seconds=min(MAX_BACKOFF_SECONDS, 2 ** max(0, attempts - 1)))


def process_due_jobs(app, *, limit: int = 50) -> int:
    """Send every due job, oldest first; a register whose printer fails keeps its later jobs queued behind the
    failed one (tickets stay in order). Returns the number printed."""
    from hardware.printers import PrinterUnavailable, send

    engine = app.extensions["yaofang.engine"]
    printed = 0
    blocked: set[int] = set()
    with session_scope(engine) as session:
        now = clock.now()
        due = session.exec(select(PrintJob).where(PrintJob.status == "pending", PrintJob.next_attempt_at <= now)
                           .order_by(PrintJob.id).limit(limit)).all()
        for job in due:
            if job.register_id in blocked:
                continue
            # Lease the job (another worker skips it for a minute) so two workers never print one ticket twice.
            with transaction(session):
                leased = session.execute(update(PrintJob).where(PrintJob.id == job.id, PrintJob.status == "pending",
                                                                PrintJob.next_attempt_at == job.next_attempt_at)
                                         .values(next_attempt_at=now + timedelta(seconds=60))
                                         .execution_options(synchronize_session=False)).rowcount
            if not leased:
                continue
            register = session.get(Register, job.register_id)
            try:
                data = render_job(session, job, register)
                send(register.printer_url, data)
            except PrinterUnavailable as exc:
                blocked.add(job.register_id)
                _record(session, job.id, status="pending", error=str(exc), failed=True)
                log.warning("printer %s unavailable: %s", register.printer_url, exc)
            except Exception as exc:  # a job that cannot be rendered must not block the queue forever
                log.exception("print job %s failed", job.id)
                blocked.add(job.register_id)
                _record(session, job.id, status="pending", error=f"{type(exc).__name__}: {exc}", failed=True)
            else:
                _record(session, job.id, status="done")
                printed += 1
    return printed


def _record(session: Session, job_id: int, *, status: str, error: str = "", failed: bool = False) -> None:
    with transaction(session):
        job = session.get(PrintJob, job_id, populate_existing=True)
        job.status = status
        if failed:
            job.attempts += 1
            job.last_error = error[:1000]
            job.next_attempt_at = clock.now() + backoff(job.attempts)
        else:
            job.printed_at = clock.now()
            job.last_error = ""
        session.add(job)


def start_worker(app, *, interval: float = 1.0) -> threading.Event:
    """Run the print queue in a background thread (the single-machine default); set the event to stop it."""
    stop = threading.Event()

    def loop():
        while not stop.is_set():
            try:
                process_due_jobs(app)
            except Exception:  # the worker keeps going; errors are logged
                log.exception("print worker round failed")
            stop.wait(interval)

    threading.Thread(target=loop, name="yaofang-print-worker", daemon=True).start()
    return stop
