"""Sales reports for the store manager: a business day by hour, tender, cashier and drug; returns; shifts."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from zoneinfo import ZoneInfo

from sqlmodel import Session, func, select

from core.models import Store, User
from inventory.models import Drug
from pos.models import Register, Sale, SaleKind, SaleLine, SalePayment, Shift




@dataclass
class DayReport:
    day: date
    sales: int = 0
    returns: int = 0
    gross_fen: int = 0
    returned_fen: int = 0
    by_hour: list[tuple[int, int, int]] = field(default_factory=list)  # (hour, count, net fen)
    by_tender: list[tuple[str, int]] = field(default_factory=list)
    by_cashier: list[tuple[str, int, int]] = field(default_factory=list)  # (name, count, net fen)
    top_drugs: list[tuple[int, str, str, int, int]] = field(default_factory=list)  # (id, name, spec, packs, fen)
    return_sales: list[tuple[Sale, str]] = field(default_factory=list)  # (sale, original number)
    shifts: list[tuple[Shift, str, str]] = field(default_factory=list)  # (shift, register code, cashier)

    @property
    def net_fen(self) -> int:
        return self.gross_fen + self.returned_fen


def day_report(session: Session, store: Store, day: date, *, top: int = 10) -> DayReport:
    report = DayReport(day=day)
    sales = session.exec(select(Sale).where(Sale.store_id == store.id, Sale.business_date == day)
                         .order_by(Sale.created_at)).all()
    tz = ZoneInfo(store.timezone)
    hours: dict[int, list[int]] = {}
    names = dict(session.exec(select(User.id, User.display_name).where(User.store_id == store.id)).all())
    cashiers: dict[str, list[int]] = {}
    originals = {}
    for sale in sales:
        if sale.kind == SaleKind.SALE:
            report.sales += 1
            report.gross_fen += sale.total_fen
        else:
            report.returns += 1
            report.returned_fen += sale.total_fen
            originals[sale.id] = sale.original_sale_id
        hour = sale.created_at.astimezone(tz).hour
        bucket = hours.setdefault(hour, [0, 0])
        bucket[0] += 1 if sale.kind == SaleKind.SALE else 0
        bucket[1] += sale.total_fen
        c = cashiers.setdefault(names.get(sale.cashier_id, str(sale.cashier_id)), [0, 0])
        c[0] += 1 if sale.kind == SaleKind.SALE else 0
        c[1] += sale.total_fen
    report.by_hour = [(h, hours.get(h, [0, 0])[0], hours.get(h, [0, 0])[1]) for h in range(24)]
    report.by_cashier = sorted(((n, v[0], v[1]) for n, v in cashiers.items()), key=lambda r: -r[2])
    tender_rows = session.exec(select(SalePayment.tender, func.sum(SalePayment.amount_fen))
                               .join(Sale, Sale.id == SalePayment.sale_id)
                               .where(Sale.store_id == store.id, Sale.business_date == day)
                               .group_by(SalePayment.tender)).all()
    change = sum(s.change_fen for s in sales)
    tenders = {t: int(v) for t, v in tender_rows}
    if "cash" in tenders:
        tenders["cash"] -= change  # cash kept, after change given
    report.by_tender = sorted(tenders.items(), key=lambda kv: -kv[1])
    packs = func.sum(SaleLine.pack_quantity).label("packs")
    amount = func.sum(SaleLine.amount_fen).label("amount")
    report.top_drugs = [(i, n, s, int(p), int(a)) for i, n, s, p, a in session.exec(
        select(Drug.id, Drug.generic_name, Drug.specification, packs, amount)
        .join(SaleLine, SaleLine.drug_id == Drug.id).join(Sale, Sale.id == SaleLine.sale_id)
        .where(Sale.store_id == store.id, Sale.business_date == day)
        .group_by(Drug.id, Drug.generic_name, Drug.specification)
        .order_by(amount.desc()).limit(top)).all()]
    numbers = dict(session.exec(select(Sale.id, Sale.sale_number)
                                .where(Sale.id.in_([o for o in originals.values() if o] or [0]))).all())
    report.return_sales = [(s, numbers.get(s.original_sale_id, "")) for s in sales if s.kind == SaleKind.RETURN]
    start = min((s.created_at for s in sales), default=None)
    shift_rows = session.exec(select(Shift, Register.code).join(Register, Register.id == Shift.register_id)
                              .where(Shift.store_id == store.id).order_by(Shift.opened_at.desc()).limit(50)).all()
    report.shifts = [(shift, code, names.get(shift.cashier_id, "")) for shift, code in shift_rows
                     if shift.opened_at.astimezone(tz).date() == day or (start and shift.closed_at is None)
                     or (shift.closed_at and shift.closed_at.astimezone(tz).date() == day)]
    return report


def hour_chart_svg(report: DayReport, *, width: int = 720, height: int = 180) -> str:
    """A small inline SVG bar chart of net sales by hour (no JavaScript, prints well)."""
    values = [max(0, fen) for _h, _n, fen in report.by_hour]
    top = max(values) or 1
    bar_w = width / 24
    bars = []
    for hour, value in enumerate(values):
        h = 0 if not value else max(2, value / top * (height - 30))
        x = hour * bar_w + 2
        bars.append(f'<rect x="{x:.1f}" y="{height - 20 - h:.1f}" width="{bar_w - 4:.1f}" height="{h:.1f}" '
                    f'fill="#0f766e"><title>{hour:02d}:00 ￥{value / 100:.2f}</title></rect>')
        if hour % 3 == 0:
            bars.append(f'<text x="{x:.1f}" y="{height - 5}" font-size="11" fill="#6b7280">{hour:02d}</text>')
    return (f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="100%" '
            f'role="img" aria-label="sales by hour">{"".join(bars)}</svg>')
