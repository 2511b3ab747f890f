"""Receipt layout and its three renderings (text, HTML preview, ESC/POS bytes)."""
from __future__ import annotations

import dataclasses
import re
import unicodedata
from datetime import date
from html.parser import HTMLParser

import pytest

from hardware.receipt import (
    PROFILES, Barcode, DayReport, PrinterProfile, Receipt, ReceiptLine, Tender, TextLine, display_width,
    escpos_code128_data,
    format_fen, layout, profile, render_escpos, render_html, render_text, sanitize, truncate, wrap,
)
from tests.hardware.printer_sink import escpos_commands, escpos_text

ESC_INIT, CHINESE_MODE = b"\x1b@", b"\x1c&"
DRAWER_KICK = b"\x1bp\x00"
FULL_CUT = b"\x1dV\x00"
MONEY_COLUMN = re.compile(r"(?:\s{2,}|^\s*)-?￥\d+\.\d\d$")  # an amount in the right-hand column


def cols(text: str) -> int:
    """Display columns by East Asian width, computed independently of hardware.receipt (W, F, A = 2)."""
    return sum(0 if unicodedata.combining(c) else 2 if unicodedata.east_asian_width(c) in "WFA" else 1 for c in text)


def flat(text: str) -> str:
    """All lines stripped and joined, so values wrapped over several lines can be searched for."""
    return "".join(line.strip() for line in text.splitlines())


def make_receipt(**changes) -> Receipt:
    base = Receipt(
        store_name="仁心大药房（人民路店）",
        licence_no="粤CB0201234",
        sale_number="POS1-20260615-0123",
        sold_at="2026-06-15 10:00:12",
        cashier="张敏",
        pharmacist="李建国",
        lines=[
            ReceiptLine("连花清瘟胶囊", "0.35g×24粒/盒", "石家庄以岭药业股份有限公司", "B2305011", date(2027, 5, 31),
                        2, "盒", 1480, 2960),
            ReceiptLine("阿莫西林胶囊", "0.25g×24粒", "珠海联邦制药股份有限公司中山分公司", "2405117",
                        date(2026, 11, 30), 1, "盒", 1250, 1250, rx=True),
            ReceiptLine("复方氨酚烷胺片", "12片", "吉林省吴太感康药业有限公司", "A1", None, 3, "板", 999, 2997,
                        note="拆零"),
        ],
        tenders=[Tender("微信支付", 5000, "4200002024061512345678"), Tender("现金", 3000)],
        total_fen=7207,
        change_fen=793,
        footer=("请核对药品与找零，谢谢惠顾",),
        extra_totals=(("医保统筹支付", 0),),
        barcode_payload="YSPOS1-00000123",
    )
    return dataclasses.replace(base, **changes)


LONG = make_receipt(
    store_name="国药控股国大药房有限公司上海浦东新区张江高科技园区第一百二十三连锁门店",
    lines=[
        ReceiptLine("注射用头孢哌酮钠舒巴坦钠（舒普深）复方制剂超长通用名称测试用例一二三四五六七八九十", "1.0g(0.5g+0.5g)×10瓶",
                    "辉瑞制药有限公司Pfizer Pharmaceuticals Limited (Dalian) Incorporated",
                    "LOT-ABCDEFGHIJKLMNOPQRSTUVWXYZ0123",
                    date(2028, 1, 31), 120, "瓶", 1234567, 148148040, rx=True,
                    note="自费 患者已签署知情同意书，家属代签，关系：配偶，联系电话13800138000"),
        ReceiptLine("ABCDEFGHIJKLMNOPQRSTUVWXYZABCDEFGHIJKLMNOPQRSTUVWXYZ", "x" * 70, "y", "z", None, 1, "支", 1, 1),
    ],
    tenders=[Tender("银联卡（尾号6225，工商银行借记卡）", 148148041, "参考号012345678901234567890123456789")],
    total_fen=148148041, change_fen=0,
    footer=("药品属特殊商品，非质量问题不予退换；如有疑问请拨打客服热线400-123-4567，" * 2,),
)


# --- profiles, money, text helpers -----------------------------------------------------------------------------------

def test_profiles():
    assert set(PROFILES) == {"gbk-80mm", "gbk-58mm", "gb18030-80mm", "gb18030-58mm", "big5-80mm", "utf8-80mm"}
    assert (profile("gbk-80mm").encoding, profile("gbk-80mm").width_chars) == ("gbk", 48)
    assert (profile("gbk-58mm").encoding, profile("gbk-58mm").width_chars) == ("gbk", 32)
    assert (profile("big5-80mm").encoding, profile("utf8-80mm").encoding) == ("big5", "utf-8")
    assert profile("gb18030-58mm").width_chars == 32 and profile("gb18030-80mm").width_chars == 48
    assert profile("gbk-80mm").dots == 576 and profile("gbk-58mm").dots == 384
    for bad in ("ascii", "", "GBK-80MM", None):
        with pytest.raises(ValueError):
            profile(bad)


@pytest.mark.parametrize("fen, shown", [(0, "￥0.00"), (5, "￥0.05"), (1230, "￥12.30"), (123456789, "￥1234567.89"),
                                        (-1230, "-￥12.30"), (-5, "-￥0.05")])
def test_money_is_fullwidth_yen_from_integer_fen(fen, shown):
    assert format_fen(fen) == shown
    assert "\u00a5" not in format_fen(fen)


@pytest.mark.parametrize("bad", [12.3, 1230.0, True, "1230", None])
def test_money_must_be_integer_fen(bad):
    with pytest.raises(TypeError):
        format_fen(bad)


def test_float_money_in_a_line_is_refused():
    bad = make_receipt(lines=[dataclasses.replace(make_receipt().lines[0], unit_price_fen=14.8)])
    with pytest.raises(TypeError):
        render_text(bad, profile("gbk-80mm"))
    with pytest.raises(TypeError):
        render_text(make_receipt(total_fen=72.07), profile("gbk-80mm"))


def test_display_width_counts_wide_characters_twice():
    assert display_width("abc") == 3
    assert display_width("连花清瘟") == 8
    assert display_width("￥12.30") == 7
    assert display_width("0.35g×24粒", "gbk") == cols("0.35g×24粒") == 11  # × is ambiguous: two bytes in GBK
    assert display_width("é", "big5") == 1  # not in Big5: printed as "?"


def test_wrap_never_splits_a_character_and_respects_width():
    text = "注射用头孢哌酮钠舒巴坦钠Cefoperazone Sodium and Sulbactam Sodium for Injection"
    for width in (7, 10, 16, 29, 48):
        lines = wrap(text, width, "gbk")
        assert all(cols(line) <= width for line in lines)
        assert "".join(lines).replace(" ", "") == text.replace(" ", "")
    assert wrap("ab Sulbactam", 10) == ["ab", "Sulbactam"]  # a word that fits on its own line moves whole
    assert wrap("连花清瘟胶囊", 5) == ["连花", "清瘟", "胶囊"]  # an odd width leaves a column free
    cut = wrap("连花清瘟胶囊连花清瘟胶囊", 6, "gbk", max_lines=2)
    assert len(cut) == 2 and cut[-1].endswith("…") and all(cols(line) <= 6 for line in cut)
    assert truncate("连花清瘟胶囊", 7, "gbk") == "连花…" and truncate("连花", 7, "gbk") == "连花"


def test_sanitize_removes_control_characters_and_marks_unencodable_ones():
    assert sanitize("A\x1b@B\tC\nD\u200bE", "gbk") == "A?@B C DE"
    assert sanitize("价格¥5", "gbk") == "价格￥5"  # U+00A5 is not in GBK; the full-width sign is
    assert sanitize("𠮷野家", "gbk") == "?野家"
    assert sanitize("𠮷野家", "gb18030") == "𠮷野家"
    assert sanitize("连花清瘟胶囊", "big5") == "?花清瘟?囊"  # simplified-only characters are not in Big5
    assert sanitize("連花清瘟膠囊", "big5") == "連花清瘟膠囊"


# --- text rendering --------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["gbk-80mm", "gbk-58mm"])
def test_text_contains_every_required_field(name):
    text = render_text(make_receipt(), profile(name))
    f = flat(text)
    for expected in ["仁心大药房（人民路店）", "许可证 粤CB0201234", "单号 POS1-20260615-0123", "时间 2026-06-15 10:00:12",
                     "收银员 张敏", "审方药师 李建国",
                     "连花清瘟胶囊", "规格 0.35g×24粒/盒", "厂家 石家庄以岭药业股份有限公司", "批号 B2305011",
                     "有效期 2027-05-31", "2盒 × ￥14.80", "￥29.60",
                     "阿莫西林胶囊 [处方药]", "厂家 珠海联邦制药股份有限公司中山分公司", "有效期 2026-11-30", "1盒 × ￥12.50",
                     "复方氨酚烷胺片", "规格 12片", "批号 A1", "备注 拆零", "3板 × ￥9.99", "￥29.97",
                     "共3种 6件", "医保统筹支付", "微信支付", "￥50.00", "参考号 4200002024061512345678",
                     "现金", "￥30.00", "YSPOS1-00000123", "请核对药品与找零，谢谢惠顾"]:
        assert expected in f, (expected, text)
    lines = text.splitlines()
    assert any(line.startswith("合计") and line.endswith("￥72.07") for line in lines)
    assert any(line.startswith("找零") and line.endswith("￥7.93") for line in lines)
    assert "有效期" not in flat(text).split("复方氨酚烷胺片")[1]  # no expiry given: no empty field
    assert "重印" not in text and "退货" not in text


def test_pharmacist_only_when_given():
    assert "审方药师" not in render_text(make_receipt(pharmacist=None), profile("gbk-80mm"))


@pytest.mark.parametrize("name", sorted(PROFILES))
@pytest.mark.parametrize("receipt", [make_receipt(), LONG, make_receipt(reprint=True, is_return=True,
                                                                        original_sale_number="POS1-20260601-0001")],
                         ids=["normal", "long", "reprint-return"])
def test_no_line_is_wider_than_the_paper(name, receipt):
    printer = profile(name)
    text = render_text(receipt, printer)
    for line in text.splitlines():
        assert display_width(line, printer.encoding) <= printer.width_chars, (name, line)
        if printer.encoding == "gbk":
            assert cols(line) <= printer.width_chars, line
    for block in layout(receipt, printer):
        if isinstance(block, TextLine):
            limit = printer.width_chars // 2 if block.double else printer.width_chars
            assert display_width(block.text, printer.encoding) <= limit, block


@pytest.mark.parametrize("name", ["gbk-80mm", "gbk-58mm"])
def test_amounts_are_right_aligned_under_chinese_names(name):
    printer = profile(name)
    for receipt in (make_receipt(), LONG):
        money_lines = [line for line in render_text(receipt, printer).splitlines() if MONEY_COLUMN.search(line)]
        assert len(money_lines) >= 6
        assert {cols(line) for line in money_lines} == {printer.width_chars}, money_lines


def test_long_names_wrap_with_a_hanging_indent_and_are_kept_whole():
    printer = profile("gbk-58mm")
    text = render_text(LONG, printer)
    lines = text.splitlines()
    first = next(i for i, line in enumerate(lines) if line.startswith("1. 注射用"))
    assert lines[first + 1].startswith("   ") and lines[first + 1].strip()
    assert "注射用头孢哌酮钠舒巴坦钠（舒普深）复方制剂超长通用名称测试用例" in flat(text)
    assert "ABCDEFGHIJKLMNOPQRSTUVWXYZABCDEFGHIJKLMNOPQRSTUVWXYZ" in flat(text)  # an over-long word is split


def test_yen_sign_is_the_fullwidth_one():
    receipt = make_receipt(footer=("满¥100减¥10",))
    text = render_text(receipt, profile("gbk-80mm"))
    assert "￥" in text and "\u00a5" not in text
    assert "满￥100减￥10" in text
    data = render_escpos(receipt, profile("gbk-80mm"), kick_drawer=False)
    assert "￥72.07".encode("gbk") in data
    assert "\u00a5".encode("gb18030") not in data


def test_reprint_is_marked_as_a_copy():
    text = render_text(make_receipt(reprint=True), profile("gbk-80mm"))
    assert "*** 重印 ***" in text
    assert "重印副本 非原始票据" in text
    first_rule = text.index("-" * 48)
    assert text.index("重印") < first_rule  # marked in the header, before anything else
    blocks = layout(make_receipt(reprint=True), profile("gbk-80mm"))
    assert TextLine("*** 重印 ***", "center", bold=True, double=True) in blocks


def test_return_shows_the_original_sale():
    text = render_text(make_receipt(is_return=True, original_sale_number="POS1-20260601-0001", total_fen=-2960,
                                    tenders=[Tender("现金退款", -2960)]), profile("gbk-80mm"))
    assert "*** 退货 ***" in text
    assert "原单号 POS1-20260601-0001" in text
    assert any(line.startswith("合计") and line.endswith("-￥29.60") for line in text.splitlines())


# --- HTML preview ----------------------------------------------------------------------------------------------------

class _Collector(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags: list[str] = []
        self.text: list[str] = []
        self.stack: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.stack.append(tag)

    def handle_startendtag(self, tag, attrs):
        self.tags.append(tag)

    def handle_endtag(self, tag):
        assert self.stack and self.stack.pop() == tag, f"unbalanced </{tag}>"

    def handle_data(self, data):
        self.text.append(data)


def test_html_is_escaped_and_has_an_inline_svg_barcode():
    evil = make_receipt(lines=[dataclasses.replace(make_receipt().lines[0], name='<script>alert("x")</script>&药')],
                        cashier="O'Brien & <b>")
    out = render_html(evil, profile("gbk-80mm"))
    assert "<script" not in out and "<b>" not in out
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;" in out
    assert "O&#x27;Brien &amp; &lt;b&gt;" in out
    assert out.count("<svg") == 1 and "<?xml" not in out and "<!DOCTYPE" not in out
    assert "width:48ch" in out and "monospace" in out and 'lang="zh-Hans"' in out
    parser = _Collector()
    parser.feed(out)
    parser.close()
    assert parser.tags[0] == "div" and "svg" in parser.tags and "script" not in parser.tags
    assert not parser.stack
    shown = "".join(parser.text)
    assert '<script>alert("x")</script>&药' in shown and "O'Brien & <b>" in shown  # what the reader sees
    assert "YSPOS1-00000123" in shown  # the barcode's human-readable text
    assert "http" not in out.replace("http://www.w3.org/2000/svg", "")  # self-contained: nothing loaded


def test_html_preview_follows_the_profile():
    out = render_html(make_receipt(), profile("big5-80mm"))
    parser = _Collector()
    parser.feed(out)
    assert 'lang="zh-Hant"' in out and "合計" in "".join(parser.text)
    assert "width:32ch" in render_html(make_receipt(), profile("gbk-58mm"))


# --- ESC/POS ---------------------------------------------------------------------------------------------------------

def code128_command(data: str) -> bytes:
    return b"\x1dkI" + bytes([len(data)]) + data.encode("ascii")


def test_escpos_bytes_for_a_gbk_printer():
    printer = profile("gbk-80mm")
    data = render_escpos(make_receipt(), printer, kick_drawer=False)
    assert data.startswith(ESC_INIT + CHINESE_MODE)
    assert "连花清瘟胶囊".encode("gbk") in data
    assert "合计".encode("gbk") in data
    assert "仁心大药房（人民路店）".encode("gbk") in data
    assert code128_command("{BYSPOS1-00000123") in data
    assert b"\x1dh@" in data and b"\x1dw\x02" in data and b"\x1dH\x02" in data  # height 64, module 2, text below
    assert b"\x1d!\x11" in data and b"\x1d!\x00" in data  # GS ! scales CJK headings; ESC ! would not
    assert b"\x1bE\x01" in data  # bold
    assert data.endswith(b"\x1bd\x06" + FULL_CUT)
    assert DRAWER_KICK not in data
    assert data.count(ESC_INIT) == 1


def test_drawer_kick_only_when_asked_and_the_printer_has_one():
    kicked = render_escpos(make_receipt(), profile("gbk-80mm"), kick_drawer=True)
    assert kicked.count(b"\x1bp\x00\x32\x32") == 1  # ESC p, pin 2, 100 ms on / 100 ms off
    assert kicked.startswith(ESC_INIT + CHINESE_MODE + b"\x1bp\x00")  # opens while the ticket prints
    no_drawer = dataclasses.replace(profile("gbk-80mm"), name="custom", drawer=False)
    assert DRAWER_KICK not in render_escpos(make_receipt(), no_drawer, kick_drawer=True)


def test_58mm_without_cutter_feeds_and_fits_the_barcode():
    printer = profile("gbk-58mm")
    data = render_escpos(make_receipt(), printer, kick_drawer=False)
    assert b"\x1dV" not in data
    # "{B" + 15 characters is 200 modules, wider than 384 dots / 2; the digit tail goes in code set C
    compact = "{BYSPOS1-{C" + "".join(chr(int(p)) for p in ("00", "00", "01", "23"))
    assert code128_command(compact) in data
    assert code128_command("{BYSPOS1-00000123") not in data
    assert escpos_code128_data("YSPOS1-00000123", 288) == "{BYSPOS1-00000123"
    assert escpos_code128_data("YSPOS1-00000123", 192) == compact
    assert escpos_code128_data("ABCDEFGHIJKLMNOPQRST", 192) is None


def test_barcode_that_cannot_fit_is_printed_as_text():
    receipt = make_receipt(barcode_payload="YAOFANG-SALE-NUMBER-ABCDEFGHIJ")
    data = render_escpos(receipt, profile("gbk-58mm"), kick_drawer=False)
    assert b"\x1dk" not in data and b"YAOFANG-SALE-NUMBER-ABCDEFGHIJ" in data
    assert not any(isinstance(b, Barcode) for b in layout(receipt, profile("gbk-58mm")))


@pytest.mark.parametrize("payload", ["{B123", "销售单001", "A\x00B", "", "X" * 81])
def test_barcode_payload_is_validated_before_printing(payload):
    with pytest.raises(ValueError):
        render_escpos(make_receipt(barcode_payload=payload), profile("gbk-80mm"), kick_drawer=False)


def test_no_barcode_without_payload():
    data = render_escpos(make_receipt(barcode_payload=None), profile("gbk-80mm"), kick_drawer=False)
    assert b"\x1dk" not in data


def test_gb18030_encodes_characters_outside_gbk():
    receipt = make_receipt(cashier="𠮷田")
    gb = render_escpos(receipt, profile("gb18030-80mm"), kick_drawer=False)
    assert gb.startswith(ESC_INIT + CHINESE_MODE)
    assert "连花清瘟胶囊".encode("gb18030") in gb and "收银员 𠮷田".encode("gb18030") in gb
    gbk = render_escpos(receipt, profile("gbk-80mm"), kick_drawer=False)
    assert "收银员 ?田".encode("gbk") in gbk  # not in GBK: replaced, the ticket still prints


def test_big5_prints_traditional_and_marks_simplified_only_characters():
    printer = profile("big5-80mm")
    receipt = make_receipt(lines=[make_receipt().lines[0], dataclasses.replace(make_receipt().lines[0], name="連花清瘟膠囊")])
    data = render_escpos(receipt, printer, kick_drawer=False)
    assert data.startswith(ESC_INIT + CHINESE_MODE)
    assert "連花清瘟膠囊".encode("big5") in data  # Traditional names print
    assert "?花清瘟?囊".encode("big5") in data  # 连 and 胶 exist only in Simplified: documented '?'
    assert "合計".encode("big5") in data and "單號".encode("big5") in data  # the ticket's own labels are Traditional
    assert b"\xa2\x44" + b"72.07" in data  # Big5 full-width yen sign
    text = render_text(receipt, printer)
    assert "?花清瘟?囊" in text and "連花清瘟膠囊" in text


def test_utf8_profile_sends_utf8_without_chinese_mode():
    data = render_escpos(make_receipt(), profile("utf8-80mm"), kick_drawer=False)
    assert data.startswith(ESC_INIT) and CHINESE_MODE not in data
    assert "连花清瘟胶囊".encode("utf-8") in data and "￥72.07".encode("utf-8") in data


def test_text_cannot_inject_printer_commands():
    receipt = make_receipt(lines=[dataclasses.replace(make_receipt().lines[0], name="感冒灵\x1b@\x1dV\x00\x1bp\x00")])
    data = render_escpos(receipt, profile("gbk-80mm"), kick_drawer=False)
    assert data.count(ESC_INIT) == 1 and DRAWER_KICK not in data and data.count(b"\x1dV") == 1
    assert "感冒灵?@?V??p?".encode("gbk") in data


@pytest.mark.parametrize("name", ["gbk-80mm", "gbk-58mm", "gb18030-58mm", "big5-80mm", "utf8-80mm"])
def test_escpos_decodes_back_to_the_text_rendering(name):
    printer = profile(name)
    receipt = make_receipt(reprint=True)
    data = render_escpos(receipt, printer, kick_drawer=True)
    printed = escpos_text(data, printer.encoding)
    if printer.encoding == "big5":
        printed = printed.replace("\u00a5", "￥")  # Python's big5 codec decodes 0xA244 as U+00A5
    text_lines = render_text(receipt, printer).splitlines()
    bar = next(i for i, line in enumerate(text_lines) if line.strip().startswith("|||"))
    del text_lines[bar:bar + 2]  # the barcode and its human-readable line are drawn by the printer
    want = [line.strip() for line in text_lines if line.strip()]
    got = [line.strip() for line in printed.splitlines() if line.strip()]
    assert got == want
    if printer.encoding == "gbk":
        assert "1. 连花清瘟胶囊" in got
        assert any(line.startswith("合计") and line.endswith("￥72.07") for line in got)


def test_escpos_stream_has_only_known_commands():
    data = render_escpos(LONG, profile("gbk-80mm"), kick_drawer=True)
    commands = [cmd for cmd, _ in escpos_commands(data) if cmd]
    assert commands[:3] == [b"\x1b@", b"\x1c&", b"\x1bp"]
    assert set(commands) <= {b"\x1b@", b"\x1c&", b"\x1bp", b"\x1ba", b"\x1bE", b"\x1d!", b"\x1dh", b"\x1dw", b"\x1df",
                             b"\x1dH", b"\x1dk", b"\x1bd", b"\x1dV"}


def test_custom_profile_is_used_as_given():
    narrow = PrinterProfile("gbk-76mm-42", "gbk", 42, cut=True, drawer=False, escpos_profile="TM-T88V")
    text = render_text(make_receipt(), narrow)
    assert max(cols(line) for line in text.splitlines()) == 42
    assert render_escpos(make_receipt(), narrow, kick_drawer=True).endswith(FULL_CUT)


@pytest.mark.parametrize("kwargs", [{"encoding": "klingon"}, {"width_chars": 8}, {"width_chars": 48.0}])
def test_bad_custom_profile(kwargs):
    args = {"name": "x", "encoding": "gbk", "width_chars": 48, "cut": True, "drawer": True, **kwargs}
    with pytest.raises(ValueError):
        PrinterProfile(**args)


def test_html_boxes_wide_characters_so_columns_line_up():
    out = render_html(make_receipt(), profile("gbk-80mm"))
    assert '<span style="display:inline-block;width:2ch;text-align:center">连</span>' in out
    assert '<span style="display:inline-block;width:2ch;text-align:center">￥</span>72.07' in out


# --- the day report (日结单) ------------------------------------------------------------------------------------------

def make_day_report(**changes) -> DayReport:
    report = DayReport(store_name="药房演示门店 Yaofang Demo Pharmacy", register_code="POS1",
                       business_date="2026-06-15", closed_at="2026-06-15 21:05:09", closed_by="店长 周涛",
                       first_sale_number="POS1-20260615-0001", last_sale_number="POS1-20260615-0042",
                       sale_count=40, return_count=2, prescription_count=5,
                       by_tender=(("现金", 123450), ("微信支付", 98000), ("医保个人账户", 4300)),
                       by_cashier=(("收银员 孙丽 (cashier)", 200000), ("执业药师 张华 (pharmacist)", 25750)),
                       refunded_fen=-5600, net_total_fen=225750, grand_total_fen=98765432,
                       chain_head_hash="9f" * 32)
    return dataclasses.replace(report, **changes)


@pytest.mark.parametrize("name", sorted(PROFILES))
def test_the_day_report_fits_the_paper_and_carries_every_figure(name):
    printer, report = profile(name), make_day_report()
    text = render_text(report, printer)
    for line in text.splitlines():
        assert display_width(line, printer.encoding) <= printer.width_chars, (name, line)
    title = "日結單" if printer.traditional else "日结单"
    whole = flat(text)
    for expected in (title, "POS1", "2026-06-15", "POS1-20260615-0001", "POS1-20260615-0042", "9f" * 32,
                     *(format_fen(fen) for fen in (123450, 98000, 4300, 200000, 25750, -5600, 225750, 98765432))):
        assert expected in whole, (name, expected)
    # Every amount sits in the right-hand column.
    assert all(MONEY_COLUMN.search(line) for line in text.splitlines() if "￥" in line), text
    data = render_escpos(report, printer, kick_drawer=True)
    assert b"\x1bp" not in data  # the drawer stays shut for a report
    assert escpos_commands(data)  # only known commands
    assert title in escpos_text(data, printer.encoding)


def test_a_reprinted_day_report_says_so_and_money_must_be_fen():
    assert "重印" in render_text(make_day_report(reprint=True), profile("gbk-80mm"))
    assert "重印" not in render_text(make_day_report(), profile("gbk-80mm"))
    with pytest.raises(TypeError):
        layout(make_day_report(by_tender=(("现金", 12.5),)), profile("gbk-80mm"))
    html = render_html(make_day_report(), profile("gbk-58mm"))
    assert "日" in html and "<script" not in html
