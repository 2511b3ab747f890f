"""Sales tickets [小票]: one layout (a small document model) rendered as plain text, an HTML preview and ESC/POS bytes.

Money is integer fen and is shown as ``￥12.30`` (U+FFE5 FULLWIDTH YEN SIGN: GBK/GB18030 printers print it, while
U+00A5 is not in GBK at all and is a 4-byte sequence in GB18030).

Columns are printer columns. A CJK receipt printer in Chinese mode prints a single-byte character in one column
(12 dots in font A) and every multi-byte character in two, so for the legacy encodings (gbk, gb18030, big5) a
character's width is 1 or 2 by its encoded length; for GBK that is exactly ``unicodedata.east_asian_width`` (W, F and
A count 2), checked over the whole BMP. For utf-8 profiles the East Asian width rule itself is used.

Text is made printable for the profile first (:func:`sanitize`): control characters never reach the printer
(a drug name cannot smuggle in an ESC/POS command), and **a character the profile's encoding cannot represent
becomes ``?``** — deliberately, so one odd character never stops a ticket from printing. For ``big5`` printers this
means Simplified-only characters (连, 胶, 计 …) print as ``?``: there is no Simplified→Traditional conversion, so a
store on a Big5 printer keeps its names in Traditional characters; the ticket's own labels switch to Traditional.

ESC/POS output does not use python-escpos's text path (its built-in Chinese handling sends GB18030 only for
strings containing U+4E00–U+9FA5 and turns everything else into ``?``). Instead: ``ESC @``, ``FS &`` (Chinese mode)
for the legacy CJK encodings, and bytes encoded here, sent with ``Dummy._raw()``.
"""
from __future__ import annotations

import codecs
import html
import re
import unicodedata
from dataclasses import dataclass
from datetime import date
from typing import Literal, Sequence, Union

# --- the ticket ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReceiptLine:
    name: str
    specification: str
    manufacturer: str
    lot_no: str
    expiry: date | None
    quantity: int
    unit: str
    unit_price_fen: int
    amount_fen: int
    rx: bool = False
    note: str = ""


@dataclass(frozen=True)
class Tender:
    label: str  # 现金, 微信, 支付宝, 银联, 医保个人账户 …
    amount_fen: int
    reference: str = ""  # card slip / transaction reference, printed under the tender


@dataclass(frozen=True)
class Receipt:
    store_name: str
    licence_no: str
    sale_number: str
    sold_at: str  # already formatted local time
    cashier: str
    lines: Sequence[ReceiptLine]
    tenders: Sequence[Tender]
    total_fen: int
    change_fen: int = 0
    pharmacist: str | None = None
    footer: tuple[str, ...] = ()
    reprint: bool = False
    is_return: bool = False
    original_sale_number: str | None = None
    extra_totals: tuple[tuple[str, int], ...] = ()  # e.g. (("统筹基金支付", 1200), ("个人账户支付", 800))
    barcode_payload: str | None = None  # Code 128 payload, e.g. "YSPOS1-00000123"; None prints no barcode


@dataclass(frozen=True)
class DayReport:
    """日结单 (Z report) of one register and business day; money in integer fen, times already formatted."""
    store_name: str
    register_code: str
    business_date: str
    closed_at: str
    closed_by: str
    first_sale_number: str
    last_sale_number: str
    sale_count: int
    return_count: int
    prescription_count: int
    by_tender: tuple[tuple[str, int], ...]
    by_cashier: tuple[tuple[str, int], ...]
    refunded_fen: int
    net_total_fen: int
    grand_total_fen: int
    chain_head_hash: str
    reprint: bool = False


# --- printer profiles ------------------------------------------------------------------------------------------------

DOTS_PER_COLUMN = 12  # font A is 12 × 24 dots; a CJK character takes two columns
LEGACY_CJK_ENCODINGS = frozenset({"gbk", "gb18030", "big5"})


@dataclass(frozen=True)
class PrinterProfile:
    name: str
    encoding: str  # "gbk" | "gb18030" | "big5" | "utf-8"
    width_chars: int  # printer columns in font A (48 on 80 mm paper, 32 on 58 mm)
    cut: bool  # has an auto-cutter
    drawer: bool  # has a cash-drawer port
    escpos_profile: str = "default"  # python-escpos capability profile, always given explicitly

    def __post_init__(self) -> None:
        try:
            codecs.lookup(self.encoding)
        except (LookupError, TypeError):
            raise ValueError(f"printer profile {self.name!r}: unknown encoding {self.encoding!r}") from None
        if isinstance(self.width_chars, bool) or not isinstance(self.width_chars, int) \
                or not 24 <= self.width_chars <= 96:
            raise ValueError(f"printer profile {self.name!r}: width_chars must be 24–96 columns")

    @property
    def dots(self) -> int:
        """Printable width in dots (576 on 80 mm, 384 on 58 mm)."""
        return self.width_chars * DOTS_PER_COLUMN

    @property
    def chinese_mode(self) -> bool:
        """Whether the printer is switched to its Chinese (double-byte) mode with ``FS &``."""
        return self.encoding in LEGACY_CJK_ENCODINGS

    @property
    def traditional(self) -> bool:
        return self.encoding == "big5"


PROFILES: dict[str, PrinterProfile] = {p.name: p for p in (
    PrinterProfile("gbk-80mm", "gbk", 48, cut=True, drawer=True),
    PrinterProfile("gbk-58mm", "gbk", 32, cut=False, drawer=True),
    PrinterProfile("gb18030-80mm", "gb18030", 48, cut=True, drawer=True),
    PrinterProfile("gb18030-58mm", "gb18030", 32, cut=False, drawer=True),
    PrinterProfile("big5-80mm", "big5", 48, cut=True, drawer=True),
    PrinterProfile("utf8-80mm", "utf-8", 48, cut=True, drawer=True),
)}


def profile(name: str) -> PrinterProfile:
    try:
        return PROFILES[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown printer profile {name!r}; known: {', '.join(PROFILES)}") from None


# --- text: encoding, width, wrapping ---------------------------------------------------------------------------------

# Python's big5 codec maps Big5 0xA244 (the printer's full-width yen sign) to U+00A5 and has no U+FFE5.
_ENCODE_PREMAP = {"big5": {"\uffe5": "\u00a5"}}


def _encode_char(ch: str, encoding: str) -> bytes | None:
    ch = _ENCODE_PREMAP.get(encoding, {}).get(ch, ch)
    try:
        return ch.encode(encoding)
    except UnicodeEncodeError:
        return None


def encode_text(text: str, encoding: str) -> bytes:
    """Bytes for the printer; characters the encoding cannot represent become ``?``."""
    return b"".join(_encode_char(ch, encoding) or b"?" for ch in text)


def sanitize(text: object, encoding: str) -> str:
    """Printable text for ``encoding``: NFC, ``¥``→``￥``, controls removed, unencodable characters → ``?``."""
    out = []
    for ch in unicodedata.normalize("NFC", "" if text is None else str(text)):
        if ch == "\u00a5":
            ch = "\uffe5"
        cat = unicodedata.category(ch)
        if cat == "Cc":
            ch = " " if ch in "\t\n\r\x0b\x0c\x85" else "?"  # not isspace(): that includes FS, GS, RS, US
        elif cat == "Cf":
            continue  # soft hyphen, zero-width joiners, bidi marks: invisible on screen, garbage on paper
        elif cat in ("Cs", "Co", "Cn") or ch in "\u2028\u2029":
            ch = "?"
        elif _encode_char(ch, encoding) is None:
            ch = "?"
        out.append(ch)
    return "".join(out)


def char_width(ch: str, encoding: str | None = None) -> int:
    """Printer columns of one character (see the module docstring)."""
    if encoding in LEGACY_CJK_ENCODINGS:
        encoded = _encode_char(ch, encoding)
        return 1 if encoded is None or len(encoded) == 1 else 2
    if unicodedata.combining(ch):
        return 0
    return 2 if unicodedata.east_asian_width(ch) in ("W", "F", "A") else 1


def display_width(text: str, encoding: str | None = None) -> int:
    return sum(char_width(ch, encoding) for ch in text)


def _tokens(text: str) -> list[str]:
    # runs of spaces, runs of other single-column characters (Latin words, numbers), single wide characters
    return re.findall(r" +|[\x21-\x7e]+|.", text)


def wrap(text: str, width: int, encoding: str | None = None, *, first_width: int | None = None,
         max_lines: int | None = None) -> list[str]:
    """Split ``text`` into lines of at most ``width`` columns (the first line ``first_width`` if given). Wide
    characters are never split; a Latin word or number moves to the next line whole when it fits there. With
    ``max_lines`` the last line ends in an ellipsis if text was cut."""
    if width < 2 or (first_width is not None and first_width < 2):
        raise ValueError("width must be at least 2 columns")
    lines: list[str] = []
    cur, cur_w = "", 0

    def room() -> int:
        return first_width if first_width is not None and not lines else width

    for tok in _tokens(text.strip()):
        tok_w = display_width(tok, encoding)
        if tok.isspace():
            if cur:
                cur, cur_w = cur + tok, cur_w + tok_w
            continue
        if cur_w + tok_w <= room():
            cur, cur_w = cur + tok, cur_w + tok_w
            continue
        if cur.strip() and tok_w <= width and len(tok) > 1:
            lines.append(cur.rstrip())  # move a whole word to the next line
            cur, cur_w = tok, tok_w
            continue
        for ch in tok:  # split a wide character run or an over-long word
            w = char_width(ch, encoding)
            if cur_w + w > room():
                lines.append(cur.rstrip())
                cur, cur_w = "", 0
            cur, cur_w = cur + ch, cur_w + w
    if cur.strip() or not lines:
        lines.append(cur.rstrip())
    if max_lines is not None and len(lines) > max_lines:
        lines = lines[:max_lines]
        last_room = first_width if first_width is not None and max_lines == 1 else width
        lines[-1] = _prefix(lines[-1], last_room - _ellipsis_width(encoding), encoding).rstrip() + _ellipsis(encoding)
    return lines


def _prefix(text: str, width: int, encoding: str | None) -> str:
    out, used = "", 0
    for ch in text:
        w = char_width(ch, encoding)
        if used + w > width:
            break
        out, used = out + ch, used + w
    return out


def _ellipsis(encoding: str | None) -> str:
    return "\u2026" if encoding is None or _encode_char("\u2026", encoding) else ".."


def _ellipsis_width(encoding: str | None) -> int:
    return display_width(_ellipsis(encoding), encoding)


def truncate(text: str, width: int, encoding: str | None = None) -> str:
    """``text`` cut to ``width`` columns, ending in an ellipsis when something was cut."""
    if display_width(text, encoding) <= width:
        return text
    return _prefix(text, width - _ellipsis_width(encoding), encoding).rstrip() + _ellipsis(encoding)


def pad(text: str, width: int, align: str = "left", encoding: str | None = None) -> str:
    """``text`` placed in ``width`` columns (left lines are not padded on the right)."""
    gap = max(0, width - display_width(text, encoding))
    if align == "right":
        return " " * gap + text
    if align == "center":
        return " " * (gap // 2) + text
    return text


def format_fen(fen: int) -> str:
    """``￥12.30`` from integer fen (negative: ``-￥12.30``)."""
    fen = _fen(fen)
    sign = "-" if fen < 0 else ""
    yuan, cents = divmod(abs(fen), 100)
    return f"{sign}\uffe5{yuan}.{cents:02d}"


def _fen(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"money must be integer fen, not {type(value).__name__} ({value!r})")
    return value


# --- the document model ----------------------------------------------------------------------------------------------

Align = Literal["left", "center", "right"]


@dataclass(frozen=True)
class TextLine:
    """One printed line, already fitted: at most ``width_chars`` columns, or half that when ``double``."""
    text: str
    align: Align = "left"
    bold: bool = False
    double: bool = False  # double width and height (GS ! 0x11)


@dataclass(frozen=True)
class Rule:
    char: str = "-"


@dataclass(frozen=True)
class Barcode:
    """Code 128 of ``payload``; ``escpos_data`` is the GS k function-B data (``{B…``, code set C for a long digit
    tail when set B alone would be wider than the paper)."""
    payload: str
    escpos_data: str


@dataclass(frozen=True)
class Cut:
    pass


@dataclass(frozen=True)
class DrawerKick:
    pin: int = 2


Block = Union[TextLine, Rule, Barcode, Cut, DrawerKick]

_LABELS = {  # key: (Simplified, Traditional); Traditional for big5 printers
    "licence": ("许可证", "許可證"),
    "sale_no": ("单号", "單號"),
    "original": ("原单号", "原單號"),
    "time": ("时间", "時間"),
    "cashier": ("收银员", "收銀員"),
    "pharmacist": ("审方药师", "審方藥師"),
    "spec": ("规格", "規格"),
    "maker": ("厂家", "廠家"),
    "lot": ("批号", "批號"),
    "expiry": ("有效期", "有效期"),
    "note": ("备注", "備註"),
    "rx": ("处方药", "處方藥"),
    "count": ("共{kinds}种 {units}件", "共{kinds}種 {units}件"),
    "total": ("合计", "合計"),
    "change": ("找零", "找零"),
    "reference": ("参考号", "參考號"),
    "reprint": ("*** 重印 ***", "*** 重印 ***"),
    "reprint_note": ("重印副本 非原始票据", "重印副本 非原始票據"),
    "return": ("*** 退货 ***", "*** 退貨 ***"),
    "day_report": ("日结单", "日結單"),
    "register": ("收银台", "收銀台"),
    "business_day": ("营业日", "營業日"),
    "closed_at": ("日结时间", "日結時間"),
    "closed_by": ("日结人", "日結人"),
    "numbers": ("单号", "單號"),
    "sales": ("销售笔数", "銷售筆數"),
    "returns": ("退货笔数", "退貨筆數"),
    "prescriptions": ("处方笔数", "處方筆數"),
    "by_tender": ("按支付方式", "按支付方式"),
    "by_cashier": ("按收银员", "按收銀員"),
    "refunded": ("退款合计", "退款合計"),
    "net": ("当日净额", "當日淨額"),
    "grand": ("累计总额", "累計總額"),
    "chain_head": ("流水链头", "流水鏈頭"),
}

BARCODE_MODULE_DOTS = 2  # narrowest bar; python-escpos accepts 2–6
BARCODE_HEIGHT_DOTS = 64
_CODE128_B = re.compile(r"[\x20-\x7a\x7c-\x7e]{1,80}")  # printable ASCII except "{" (the GS k escape)


def escpos_code128_data(payload: str, max_modules: int) -> str | None:
    """GS k (function B, m=73) data for ``payload``: ``"{B" + payload``, or set B then ``{C`` for the longest even
    run of trailing digits when that is needed to fit ``max_modules``; None if it cannot fit."""
    if not isinstance(payload, str) or not _CODE128_B.fullmatch(payload):
        raise ValueError(f"Code 128 payload must be 1–80 printable ASCII characters without '{{': {payload!r}")
    # start 11 + data 11 each + check 11 + stop 13
    if 11 * len(payload) + 35 <= max_modules:
        return "{B" + payload
    digits = len(payload) - len(payload.rstrip("0123456789"))
    digits -= digits % 2
    if digits >= 4:
        head, tail = payload[:len(payload) - digits], payload[len(payload) - digits:]
        pairs = "".join(chr(int(tail[i:i + 2])) for i in range(0, digits, 2))
        if 11 * (len(head) + 1 + len(pairs)) + 35 <= max_modules:
            return ("{B" + head + "{C" if head else "{C") + pairs
    return None


class _Page:
    """Blocks being laid out for one printer: wrapped, aligned and two-column text in its width and encoding."""

    def __init__(self, printer: PrinterProfile) -> None:
        self.printer, self.enc, self.width = printer, printer.encoding, printer.width_chars
        self.lab = {k: v[1 if printer.traditional else 0] for k, v in _LABELS.items()}
        self.blocks: list[Block] = []
        self.add = self.blocks.append

    def clean(self, text: object) -> str:
        return sanitize(text, self.enc).strip()

    def text(self, value: object, align: Align = "left", *, bold: bool = False, indent: int = 0, hang: int = 0,
             max_lines: int | None = None) -> None:
        """Wrapped text; continuation lines indented ``hang`` more columns than the first."""
        width = self.width
        wrapped = wrap(self.clean(value), width - indent - hang, self.enc, first_width=width - indent,
                       max_lines=max_lines)
        for i, line in enumerate(wrapped):
            prefix = " " * (indent + (hang if i else 0))
            self.add(TextLine(prefix + line if line else "", align, bold))

    def big(self, value: str, *, max_lines: int = 2) -> None:
        for line in wrap(self.clean(value), self.width // 2, self.enc, max_lines=max_lines):
            self.add(TextLine(line, "center", bold=True, double=True))

    def left_right(self, left: object, right: object, *, bold: bool = False, indent: int = 0) -> None:
        enc, width = self.enc, self.width
        lt, rt = self.clean(left), self.clean(right)
        lw, rw = display_width(lt, enc), display_width(rt, enc)
        if indent + lw + 1 + rw <= width:
            self.add(TextLine(" " * indent + lt + " " * (width - indent - lw - rw) + rt, bold=bold))
            return
        self.text(lt, bold=bold, indent=indent)
        self.add(TextLine(pad(rt, width, "right", enc), bold=bold))

    def fields(self, items: list[tuple[str, object]], *, indent: int = 0, max_lines: int = 3) -> None:
        """``label value`` pairs, several on one line when they fit, otherwise one per line (wrapped)."""
        enc, width = self.enc, self.width
        parts = [(f"{label} {self.clean(value)}", display_width(label, enc) + 1) for label, value in items
                 if self.clean(value)]
        line = ""
        for part, label_w in parts:
            joined = f"{line}  {part}" if line else part
            if display_width(joined, enc) <= width - indent:
                line = joined
                continue
            if line:
                self.text(line, indent=indent)
            line = ""
            if display_width(part, enc) <= width - indent:
                line = part
            else:
                self.text(part, indent=indent, hang=label_w, max_lines=max_lines)
        if line:
            self.text(line, indent=indent)

    def end(self) -> list[Block]:
        """Cut, or feed past the tear bar on a printer without a cutter."""
        if self.printer.cut:
            self.add(Cut())
        else:
            for _ in range(4):
                self.add(TextLine(""))
        return self.blocks


def layout(receipt: "Receipt | DayReport", printer: PrinterProfile, *, kick_drawer: bool = False) -> list[Block]:
    """The ticket (or a day report) as blocks for ``printer``. Raises TypeError for money that is not integer fen
    and ValueError for a barcode payload Code 128 cannot carry."""
    if isinstance(receipt, DayReport):
        return _day_report_layout(receipt, printer)
    page = _Page(printer)
    lab = page.lab
    clean, add, text, big, left_right, fields = (page.clean, page.add, page.text, page.big, page.left_right,
                                                 page.fields)

    for tender in receipt.tenders:
        _fen(tender.amount_fen)
    for _, amount in receipt.extra_totals:
        _fen(amount)

    if kick_drawer and printer.drawer:
        add(DrawerKick())  # first: the drawer opens while the ticket prints, even if the paper runs out

    # header
    big(receipt.store_name)
    if clean(receipt.licence_no):
        text(f"{lab['licence']} {clean(receipt.licence_no)}", "center")
    if receipt.is_return:
        big(lab["return"], max_lines=1)
    if receipt.reprint:
        big(lab["reprint"], max_lines=1)
    add(Rule())
    fields([(lab["sale_no"], receipt.sale_number)])
    if receipt.is_return and receipt.original_sale_number:
        fields([(lab["original"], receipt.original_sale_number)])
    fields([(lab["time"], receipt.sold_at)])
    fields([(lab["cashier"], receipt.cashier), (lab["pharmacist"], receipt.pharmacist or "")])
    add(Rule())

    # lines
    units = 0
    for n, line in enumerate(receipt.lines, 1):
        if isinstance(line.quantity, bool) or not isinstance(line.quantity, int):
            raise TypeError(f"quantity must be an integer, not {line.quantity!r}")
        price, amount = format_fen(line.unit_price_fen), format_fen(line.amount_fen)
        units += abs(line.quantity)
        name = f"{n}. {clean(line.name)}" + (f" [{lab['rx']}]" if line.rx else "")
        text(name, bold=True, hang=3, max_lines=4)
        fields([(lab["spec"], line.specification), (lab["maker"], line.manufacturer)], indent=3)
        fields([(lab["lot"], line.lot_no),
                (lab["expiry"], line.expiry.isoformat() if isinstance(line.expiry, date) else (line.expiry or ""))],
               indent=3)
        if clean(line.note):
            fields([(lab["note"], line.note)], indent=3)
        left_right(f"{line.quantity}{clean(line.unit)} × {price}", amount, indent=3)
    add(Rule())

    # totals and tenders
    text(lab["count"].format(kinds=len(receipt.lines), units=units))
    left_right(lab["total"], format_fen(receipt.total_fen), bold=True)
    for label, amount in receipt.extra_totals:
        left_right(label, format_fen(amount))
    for tender in receipt.tenders:
        left_right(tender.label, format_fen(tender.amount_fen))
        if clean(tender.reference):
            text(f"{lab['reference']} {clean(tender.reference)}", indent=2, hang=display_width(lab["reference"]) + 1,
                 max_lines=2)
    left_right(lab["change"], format_fen(receipt.change_fen))
    add(Rule())

    # barcode, footer
    if receipt.barcode_payload is not None:
        data = escpos_code128_data(receipt.barcode_payload, printer.dots // BARCODE_MODULE_DOTS)
        if data is None:  # too wide for the paper even with code set C: print it readable only
            text(receipt.barcode_payload, "center")
        else:
            add(Barcode(receipt.barcode_payload, data))
    for line in receipt.footer:
        text(line, "center", max_lines=3)
    if receipt.reprint:
        text(lab["reprint_note"], "center", bold=True)
    return page.end()


def _day_report_layout(report: "DayReport", printer: PrinterProfile) -> list[Block]:
    """日结单: the day's figures for the register, printed when the day is closed (and again on request)."""
    for _, amount in (*report.by_tender, *report.by_cashier):
        _fen(amount)
    page = _Page(printer)
    lab, fields, left_right = page.lab, page.fields, page.left_right
    page.big(report.store_name)
    page.big(lab["day_report"], max_lines=1)
    if report.reprint:
        page.big(lab["reprint"], max_lines=1)
    page.add(Rule())
    fields([(lab["register"], report.register_code), (lab["business_day"], report.business_date)])
    fields([(lab["closed_at"], report.closed_at)])
    fields([(lab["closed_by"], report.closed_by)])
    fields([(lab["numbers"], f"{report.first_sale_number or '—'} ~ {report.last_sale_number or '—'}")])
    page.add(Rule())
    left_right(lab["sales"], report.sale_count)
    left_right(lab["returns"], report.return_count)
    left_right(lab["prescriptions"], report.prescription_count)
    page.add(Rule())
    page.text(lab["by_tender"], bold=True)
    for label, amount in report.by_tender:
        left_right(label, format_fen(amount), indent=2)
    page.text(lab["by_cashier"], bold=True)
    for name, amount in report.by_cashier:
        left_right(name, format_fen(amount), indent=2)
    page.add(Rule())
    left_right(lab["refunded"], format_fen(report.refunded_fen))
    left_right(lab["net"], format_fen(report.net_total_fen), bold=True)
    left_right(lab["grand"], format_fen(report.grand_total_fen))
    page.add(Rule())
    page.text(f"{lab['chain_head']} {report.chain_head_hash}", hang=2, max_lines=4)
    return page.end()


# --- renderers -------------------------------------------------------------------------------------------------------

def _placed(block: TextLine, printer: PrinterProfile) -> str:
    width = printer.width_chars // 2 if block.double else printer.width_chars
    return pad(block.text, width, block.align, printer.encoding)


def render_text(receipt: Receipt, printer: PrinterProfile) -> str:
    """The ticket as plain text, one printed line per line (double-size lines shown at normal size, aligned in the
    full width; the barcode as bars over its payload; cut and drawer kick not shown)."""
    out: list[str] = []
    width = printer.width_chars
    for block in layout(receipt, printer):
        if isinstance(block, TextLine):
            out.append(pad(block.text, width, block.align, printer.encoding).rstrip())
        elif isinstance(block, Rule):
            out.append(block.char * width)
        elif isinstance(block, Barcode):
            bars = "|" * min(width, len(block.payload) + 8)
            out.append(pad(bars, width, "center"))
            out.append(pad(block.payload, width, "center"))
    return "\n".join(out) + "\n"


def barcode_svg(payload: str) -> str:
    """Inline SVG (no XML declaration or DOCTYPE) of ``payload`` as Code 128, with its text, via python-barcode."""
    from barcode import Code128
    from barcode.writer import SVGWriter

    svg = Code128(payload, writer=SVGWriter()).render({
        "module_width": 0.25, "module_height": 10.0, "quiet_zone": 2.0, "font_size": 8, "text_distance": 3.0,
        "with_doctype": False,
    }).decode("utf-8")
    svg = re.sub(r"^\s*<\?xml[^>]*\?>\s*(<!DOCTYPE[^>]*>\s*)?", "", svg)  # inline SVG: no prolog
    return svg.replace("<!--Autogenerated with python-barcode", "<!--python-barcode", 1).strip()


_WIDE_BOX = '<span style="display:inline-block;width:2ch;text-align:center">'


def _html_text(text: str, encoding: str) -> str:
    """Escaped text; each two-column character in a 2ch box, so columns line up whatever CJK font the browser uses."""
    return "".join(f"{_WIDE_BOX}{html.escape(ch)}</span>" if char_width(ch, encoding) == 2 else html.escape(ch)
                   for ch in text)


def render_html(receipt: Receipt, printer: PrinterProfile) -> str:
    """A self-contained HTML fragment previewing the ticket: inline styles only, monospace, ``width_chars``ch wide
    (wide characters boxed at 2ch), all text escaped, the barcode as inline SVG."""
    lang = "zh-Hant" if printer.traditional else "zh-Hans"
    rows = []
    for block in layout(receipt, printer):
        if isinstance(block, TextLine):
            style = []
            if block.bold:
                style.append("font-weight:bold")
            if block.double:
                style.append("font-size:200%;line-height:1.15")
            content = _html_text(_placed(block, printer), printer.encoding) or " "
            attr = f' style="{";".join(style)}"' if style else ""
            rows.append(f'<div class="yf-line{" yf-double" if block.double else ""}"{attr}>{content}</div>')
        elif isinstance(block, Rule):
            rows.append(f'<div class="yf-rule">{html.escape(block.char * printer.width_chars)}</div>')
        elif isinstance(block, Barcode):
            rows.append('<div class="yf-barcode" style="text-align:center;white-space:normal;margin:.4em 0">'
                        f'<span style="display:inline-block;max-width:100%">{barcode_svg(block.payload)}'
                        '</span></div>')
        elif isinstance(block, Cut):
            rows.append('<div class="yf-cut" style="border-top:1px dashed #888;margin-top:.6em" '
                        'title="cut"></div>')
    return (f'<div class="yf-receipt" lang="{lang}" data-profile="{html.escape(printer.name)}" '
            f'style="font-family:\'Noto Sans Mono CJK SC\',\'Sarasa Mono SC\',monospace;white-space:pre;'
            f'box-sizing:content-box;width:{printer.width_chars}ch;padding:1ch;background:#fff;color:#000;line-height:1.35;'
            f'overflow:hidden">' + "".join(rows) + "</div>")  # no newlines between rows: white-space is pre


ESC, GS, FS = b"\x1b", b"\x1d", b"\x1c"
INIT = ESC + b"@"
CHINESE_MODE_ON = FS + b"&"
SIZE_DOUBLE, SIZE_NORMAL = GS + b"!\x11", GS + b"!\x00"


def render_escpos(receipt: Receipt, printer: PrinterProfile, *, kick_drawer: bool) -> bytes:
    """ESC/POS bytes for the ticket, built with python-escpos's ``Dummy`` (explicit capability profile).

    ``ESC @``; ``FS &`` for gbk/gb18030/big5; text pre-encoded in the profile's encoding and sent with ``_raw``;
    ``ESC a`` alignment, ``ESC E`` bold, ``GS !`` double size (scales CJK too, unlike ``ESC !``); Code 128 through
    GS k function B; a cut when the profile has a cutter; ``ESC p`` pin 2 when ``kick_drawer`` and the profile has a
    drawer."""
    from escpos.printer import Dummy

    blocks = layout(receipt, printer, kick_drawer=kick_drawer)
    p = Dummy(profile=printer.escpos_profile)
    p._raw(INIT)
    if printer.chinese_mode:
        p._raw(CHINESE_MODE_ON)
    state = {"align": "left", "bold": False, "double": False}

    def style(align: str, bold: bool, double: bool) -> None:
        if align != state["align"]:
            p.set(align=align)
        if bold != state["bold"]:
            p.set(bold=bold)
        if double != state["double"]:
            p.set(custom_size=True, width=2 if double else 1, height=2 if double else 1)  # GS ! n
        state.update(align=align, bold=bold, double=double)

    for block in blocks:
        if isinstance(block, TextLine):
            style(block.align, block.bold, block.double)
            p._raw(encode_text(block.text, printer.encoding) + b"\n")
        elif isinstance(block, Rule):
            style("left", False, False)
            p._raw(encode_text(block.char * printer.width_chars, printer.encoding) + b"\n")
        elif isinstance(block, Barcode):
            style("center", False, False)  # ESC a 1 (align_ct=False below: it would send it again)
            # _hw_barcode is what Escpos.barcode() calls for a profile with barcodeB; called directly it neither
            # prints "Using hardware barcode renderer" to stdout nor falls back to a software image.
            p._hw_barcode(block.escpos_data, "CODE128", height=BARCODE_HEIGHT_DOTS, width=BARCODE_MODULE_DOTS,
                          pos="BELOW", font="A", align_ct=False, function_type="B", check=True)
            p._raw(b"\n")
        elif isinstance(block, Cut):
            style("left", False, False)
            p.cut()  # ESC d 6 (feed past the blade), GS V 0
        elif isinstance(block, DrawerKick):
            p.cashdraw(block.pin)  # ESC p 0 50 50
    style("left", False, False)
    return p.output


__all__ = [
    "ReceiptLine", "Tender", "Receipt", "PrinterProfile", "PROFILES", "profile", "TextLine", "Rule", "Barcode",
    "Cut", "DrawerKick", "Block", "DayReport", "layout", "render_text", "render_html", "render_escpos", "format_fen", "sanitize",
    "encode_text", "display_width", "char_width", "wrap", "truncate", "pad", "escpos_code128_data", "barcode_svg",
]
