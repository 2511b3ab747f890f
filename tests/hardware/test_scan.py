"""The scan decoder (hardware/scan.py): every raw scanner string the counter and receiving see."""
from __future__ import annotations

import csv
import json
from datetime import date
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hardware.codes import gs1_check_digit
from hardware.scan import ERRORS, KINDS, MAX_LENGTH, WARNINGS, Scan, decode

DEMO = Path(__file__).resolve().parents[2] / "inventory" / "demo_data"
GS = "\x1d"


def with_check(body: str) -> str:
    return body + str(gs1_check_digit(body))


def wrong_check(code: str) -> str:
    return code[:-1] + str((int(code[-1]) + 1) % 10)


def assert_unknown(scan: Scan, error: str) -> None:
    assert (scan.kind, scan.error) == ("unknown", error), scan


# --- real scanner strings --------------------------------------------------------------------------------------

SAMPLES = json.loads((DEMO / "scan_samples.json").read_text(encoding="utf-8"))["samples"]
KIND_OF_SAMPLE = {"gs1_element_string": "gs1", "ean13": "ean13"}
HANDLED_KEYS = {"gtin", "gtin13", "check_digit", "valid", "error", "lot", "serial", "expiry", "expiry_raw",
                "production_date", "production_date_raw", "best_before", "best_before_raw", "hri",
                "symbology_identifier"}


@pytest.mark.parametrize("sample", SAMPLES, ids=[s["id"] for s in SAMPLES])
def test_scan_samples_decode_to_their_expected_values(sample):
    expected = sample["expected"]
    assert set(expected) <= HANDLED_KEYS, "a new expected key needs a comparison here"
    scan = decode(sample["raw"])
    assert scan.raw == sample["raw"]
    assert scan.symbology == expected.get("symbology_identifier")
    if expected.get("valid") is False:
        assert_unknown(scan, "bad_check_digit")  # biip's wording is in expected["error"]; we give the machine code
        return
    assert scan.kind == KIND_OF_SAMPLE[sample["kind"]]
    assert scan.error is None
    assert scan.warnings == ()  # none of the samples lost a separator
    assert scan.gtin == expected.get("gtin")
    assert scan.lot == expected.get("lot")
    assert scan.serial == expected.get("serial")
    for field in ("expiry", "production_date", "best_before"):
        want = expected.get(field)
        assert getattr(scan, field) == (date.fromisoformat(want) if want else None), field
    for field, ai in (("expiry_raw", "17"), ("production_date_raw", "11"), ("best_before_raw", "15")):
        if field in expected:
            assert (ai, expected[field]) in scan.elements
    if "hri" in expected:
        assert scan.hri == expected["hri"]
    if "gtin13" in expected:
        assert scan.retail_code == expected["gtin13"]
    if "check_digit" in expected:
        assert int(scan.gtin[-1]) == expected["check_digit"]


# --- EAN-13 on Chinese drug packs ------------------------------------------------------------------------------

with (DEMO / "drug_barcodes_cn.csv").open(encoding="utf-8", newline="") as fh:
    CN_BARCODES = [row["barcode"] for row in csv.DictReader(fh)]


def test_there_are_real_drug_barcodes_to_test():
    assert len(CN_BARCODES) >= 5


@pytest.mark.parametrize("barcode", CN_BARCODES)
def test_real_chinese_drug_ean13_decodes_with_its_retail_code(barcode):
    scan = decode(barcode)
    assert scan.kind == "ean13"
    assert scan.retail_code == barcode
    assert scan.gtin == "0" + barcode
    assert scan.error is None and scan.warnings == ()


@pytest.mark.parametrize("barcode", CN_BARCODES)
def test_real_chinese_drug_ean13_with_any_other_last_digit_is_a_bad_check_digit(barcode):
    for digit in "0123456789":
        if digit != barcode[-1]:
            assert_unknown(decode(barcode[:-1] + digit), "bad_check_digit")


# --- trace codes -----------------------------------------------------------------------------------------------

# Made-up values of the right shape: no real 20-digit drug trace codes with known product data are public.
FAKE_TRACE_CODES = ["81234560000000011234", "80000000000000000000", "89999999999999999999"]


@pytest.mark.parametrize("code", FAKE_TRACE_CODES)
def test_twenty_digits_starting_with_8_is_a_trace_code(code):
    scan = decode(code)
    assert scan.kind == "trace_code"
    assert scan.trace_code == code
    assert scan.gtin is None and scan.retail_code is None and scan.elements == ()


def test_trace_code_with_code128_symbology_and_crlf():
    scan = decode("]C0" + FAKE_TRACE_CODES[0] + "\r\n")
    assert (scan.kind, scan.symbology, scan.trace_code) == ("trace_code", "]C0", FAKE_TRACE_CODES[0])


@pytest.mark.parametrize("code", ["71234560000000011234", "01234560000000011234", "12345678901234567890"])
def test_twenty_digits_not_starting_with_8_is_not_a_trace_code(code):
    scan = decode(code)
    assert scan.kind != "trace_code" and scan.trace_code is None


@pytest.mark.parametrize("code", ["8123456000000001123", "812345600000000112345", "8123456000000001123A"])
def test_trace_code_needs_exactly_twenty_digits(code):
    assert decode(code).kind != "trace_code"


# --- UPC-A, EAN-8, GTIN-14 -------------------------------------------------------------------------------------


def test_upc_a():
    scan = decode("036000291452")
    assert (scan.kind, scan.gtin, scan.retail_code) == ("upc_a", "00036000291452", "036000291452")
    assert_unknown(decode("036000291453"), "bad_check_digit")


def test_ean8():
    scan = decode("96385074")
    assert (scan.kind, scan.gtin, scan.retail_code) == ("ean8", "00000096385074", "96385074")
    assert_unknown(decode("96385075"), "bad_check_digit")


def test_gtin14():
    case = decode("15901234123454")  # indicator digit 1: a case of 5901234123457
    assert (case.kind, case.gtin, case.retail_code) == ("gtin14", "15901234123454", "15901234123454")
    unit = decode("05901234123457")  # leading 0: the retail code is the EAN-13
    assert (unit.kind, unit.gtin, unit.retail_code) == ("gtin14", "05901234123457", "5901234123457")
    assert_unknown(decode("15901234123455"), "bad_check_digit")


def test_gs1_retail_code_is_the_ean13_for_a_leading_zero_else_the_gtin14():
    assert decode("0105901234123457").retail_code == "5901234123457"
    assert decode("0115901234123454").retail_code == "15901234123454"
    assert decode("10ABC").retail_code is None  # a lot label without GTIN


def test_digits_with_a_bad_check_digit_are_gs1_only_as_fixed_length_fields():
    # "17211200" fails the EAN-8 check but is a complete AI 17 (expiry) element string.
    assert decode("17211200").expiry == date(2021, 12, 31)
    # A lot swallows any digit tail, so a mistyped EAN-13 starting "10" stays a bad check digit, not lot "…".
    code = wrong_check(with_check("100000000001"))
    assert_unknown(decode(code), "bad_check_digit")


# --- AIM symbology identifiers ---------------------------------------------------------------------------------


def test_aim_ean13():
    scan = decode("]E05901234123457")
    assert (scan.kind, scan.symbology, scan.retail_code) == ("ean13", "]E0", "5901234123457")


def test_aim_ean8_and_itf14():
    assert (decode("]E496385074").kind, decode("]E496385074").symbology) == ("ean8", "]E4")
    assert decode("]I115901234123454").kind == "gtin14"


def test_aim_ean_symbology_never_falls_back_to_gs1():
    assert_unknown(decode("]E017211200"), "bad_check_digit")
    assert decode("]E00105901234123457").kind == "unknown"


def test_gs1_symbology_makes_digits_an_element_string():
    # "17260930" has a valid EAN-8 check digit and is also AI 17 = 2026-09-30: the identifier decides.
    assert decode("17260930").kind == "ean8"
    scan = decode("]C117260930")
    assert (scan.kind, scan.symbology, scan.expiry) == ("gs1", "]C1", date(2026, 9, 30))
    assert_unknown(decode("]C15901234123457"), "bad_gs1")  # a bare GTIN is not an element string


@pytest.mark.parametrize("prefix", ["]C1", "]d2", "]Q3", "]e0"])
def test_gs1_symbologies(prefix):
    scan = decode(prefix + "0105901234123457" + "17260331" + "10LOT7")
    assert (scan.kind, scan.symbology) == ("gs1", prefix)
    assert (scan.gtin, scan.expiry, scan.lot) == ("05901234123457", date(2026, 3, 31), "LOT7")


def test_aim_identifier_alone_is_empty():
    assert_unknown(decode("]d2"), "empty")


def test_gs1_symbology_with_a_trace_code_shape_that_is_not_gs1():
    # 89… is no GS1 AI: a trace code sent with a GS1 identifier by a misconfigured scanner.
    scan = decode("]C1" + FAKE_TRACE_CODES[2])
    assert (scan.kind, scan.trace_code) == ("trace_code", FAKE_TRACE_CODES[2])


# --- GS1 element strings: HRI, separators, dates, check digits -------------------------------------------------


def test_hri_form():
    scan = decode("(01)05901234123457(17)211200(10)AB1(21)SN42")
    assert scan.kind == "gs1"
    assert (scan.gtin, scan.expiry, scan.lot, scan.serial) == ("05901234123457", date(2021, 12, 31), "AB1", "SN42")
    assert scan.hri == "(01)05901234123457(17)211200(10)AB1(21)SN42"
    assert decode("(01) 05901234123457 (10) AB1").lot == "AB1"


def test_hri_errors():
    assert_unknown(decode("(01)05901234123458(10)AB1"), "bad_check_digit")
    assert_unknown(decode("(01)05901234123457()"), "bad_gs1")
    assert_unknown(decode("(99999)1"), "bad_gs1")
    assert_unknown(decode("(17)210230"), "bad_date")


def test_gs1_digital_link_uri():
    scan = decode("https://id.gs1.org/01/07032069804988/10/0329?17=260331")
    assert (scan.kind, scan.gtin, scan.lot, scan.expiry) == ("gs1", "07032069804988", "0329", date(2026, 3, 31))
    assert_unknown(decode("https://weixin.qq.com/r/abc"), "unrecognised")


@pytest.mark.parametrize("sep", ["|", "~", "^"])
def test_substitute_separators(sep):
    raw = "010357466145194721118165795226" + sep + "17210331101724847.1"
    scan = decode(raw, separator_chars=sep)
    assert (scan.kind, scan.serial, scan.lot, scan.expiry) == ("gs1", "118165795226", "1724847.1", date(2021, 3, 31))
    assert scan.warnings == () and scan.raw == raw
    assert decode(raw).kind == "unknown"  # undeclared: "|" is not a GS1 character


def test_several_substitutes_and_real_gs_together():
    raw = "]d20105901234123457" + "10AB~" + "21SN1|" + "17260331"
    scan = decode(raw, separator_chars="|~")
    assert (scan.lot, scan.serial, scan.expiry) == ("AB", "SN1", date(2026, 3, 31))
    assert decode("0105901234123457" + "10AB" + GS + "21SN1", separator_chars="|").serial == "SN1"


def test_substitute_separators_leave_our_own_codes_alone():
    assert decode("YSPOS1-00000123", separator_chars="-").sale_number == "POS1-00000123"


def test_letters_digits_and_parentheses_are_never_separators():
    assert decode("5901234123457", separator_chars="5(").kind == "ean13"


@pytest.mark.parametrize("raw, expiry", [
    ("17211200", date(2021, 12, 31)),
    ("0105901234123457" + "17240200", date(2024, 2, 29)),  # leap year
    ("0105901234123457" + "17250200" + "10X", date(2025, 2, 28)),
    ("]d2" + "0105901234123457" + "17260400", date(2026, 4, 30)),
])
def test_expiry_day_00_is_the_last_day_of_the_month(raw, expiry):
    assert decode(raw).expiry == expiry


def test_bad_gs1_dates():
    assert_unknown(decode("0105901234123457" + "17250230"), "bad_date")
    assert_unknown(decode("0105901234123457" + "11250000"), "bad_date")


def test_gtin_with_bad_check_digit_inside_gs1():
    assert_unknown(decode(GS + "0105901234123458" + "10AB"), "bad_check_digit")
    assert_unknown(decode("]d2" + "0105901234123458"), "bad_check_digit")


def test_lot_only_label_and_other_ais_are_kept():
    scan = decode("10123" + GS + "17221231" + GS + "7101234567")
    assert (scan.kind, scan.gtin, scan.lot, scan.expiry) == ("gs1", None, "123", date(2022, 12, 31))
    assert ("710", "1234567") in scan.elements


def test_conflicting_repeated_ai_is_rejected():
    assert_unknown(decode("10AB" + GS + "10CD"), "bad_gs1")


def test_only_separators():
    assert_unknown(decode(GS + GS), "empty")


# --- GS lost ---------------------------------------------------------------------------------------------------


def test_gs_lost_lot_swallows_serial():
    scan = decode("0103453120000011" + "10AB-123" + "21SN0001")  # GS between lot and serial was dropped
    assert scan.kind == "gs1"
    assert scan.lot == "AB-12321SN0001" and scan.serial is None  # what biip reads …
    assert scan.warnings == ("lot_may_include_serial",)  # … so the UI asks the user to confirm


def test_gs_lost_lot_swallows_expiry():
    scan = decode("]d2" + "0103453120000011" + "10AB123" + "17260331")
    assert scan.lot == "AB12317260331" and scan.expiry is None
    assert scan.warnings == ("lot_may_include_serial",)


def test_gs_lost_serial_swallows_lot():
    scan = decode("0103453120000011" + "17260331" + "21SN0001" + "10AB-123")
    assert scan.serial == "SN000110AB-123"
    assert scan.warnings == ("serial_may_include_lot",)


def test_gs_lost_field_cut_at_its_maximum_length():
    scan = decode("10" + "ABCDEFGHIJKLMNOPQRST" + "17260331")  # a 20-character lot, then expiry, no GS
    assert (scan.lot, scan.expiry) == ("ABCDEFGHIJKLMNOPQRST", date(2026, 3, 31))
    assert scan.warnings == ("lot_may_include_serial",)


def test_gs_lost_and_too_long_to_parse():
    assert_unknown(decode("0103453120000011" + "10AB-123" + "21SN00012345678901"), "separator_missing")


def test_no_gs_lost_warning_when_the_lot_is_last_or_a_gs_was_seen():
    assert decode("]d2" + "0103453120000011" + "17191125" + "10ABCD1234").warnings == ()
    assert decode("0103453120000011" + "10AB-123" + GS + "21SN0001").warnings == ()
    assert decode(GS + "0103453120000011" + "17260331" + "10AB21X").warnings == ()  # leading GS: scanner sends GS
    assert decode("0103453120000011" + "10AB-123" + "|" + "21SN0001", separator_chars="|").warnings == ()
    # Serial before the lot (01-21-17-10): an AI already in the scan cannot hide inside the lot.
    assert decode("0103453120000011" + "21SN0001" + "17260331" + "10B2021").warnings == ()


def test_gs_lost_heuristic_false_alarm_is_a_known_cost():
    # A lot that really contains "21…" warns: one confirmation is cheaper than a wrong lot on record.
    assert decode("0103453120000011" + "17260331" + "10B2021A").warnings == ("lot_may_include_serial",)


# --- our own Code 128 codes ------------------------------------------------------------------------------------


@pytest.mark.parametrize("raw", ["YSPOS1-00000123", "yspos1-00000123", "Yspos1-00000123", "]C0YSPOS1-00000123"])
def test_sale_number(raw):
    scan = decode(raw)
    assert (scan.kind, scan.sale_number) == ("sale_number", "POS1-00000123")


def test_sale_number_register_code_limits():
    assert decode("YS" + "A" * 16 + "-00000001").sale_number == "A" * 16 + "-00000001"
    for raw in ["YS" + "A" * 17 + "-00000001", "YS-00000123", "YSPOS1-0000012", "YSPOS1-000001234", "YSPOS_1-00000123",
                "YSPOS1 00000123", "YSPOſ1-00000123"]:
        assert_unknown(decode(raw), "unrecognised")


@pytest.mark.parametrize("raw", ["YL00000042", "yl00000042", "yL00000042", "]C0YL00000042", " YL00000042\r\n"])
def test_lot_label(raw):
    scan = decode(raw)
    assert (scan.kind, scan.lot_label_id) == ("lot_label", 42)


@pytest.mark.parametrize("raw", ["YL0000042", "YL000000042", "YL0000004A", "YLX0000042"])
def test_lot_label_needs_eight_digits(raw):
    assert_unknown(decode(raw), "unrecognised")


# --- whitespace, length, odd input -----------------------------------------------------------------------------


@pytest.mark.parametrize("raw", ["6920855052082\r\n", "6920855052082\n", "\r\n 6920855052082 \t",
                                 "\u30006920855052082"])
def test_surrounding_whitespace_and_crlf_are_stripped(raw):
    scan = decode(raw)
    assert (scan.kind, scan.retail_code, scan.raw) == ("ean13", "6920855052082", raw)


def test_gs_is_not_stripped_as_whitespace():
    # Python counts GS as whitespace; a trailing GS still marks GS1 data (not a 14-digit GTIN with a bad check digit).
    scan = decode("15210526100329" + GS + "\r\n")
    assert (scan.kind, scan.lot, scan.best_before) == ("gs1", "0329", date(2021, 5, 26))


@pytest.mark.parametrize("raw", ["", " ", "\r\n", "\t\r\n  "])
def test_empty(raw):
    assert_unknown(decode(raw), "empty")


def test_too_long():
    assert_unknown(decode("1" * (MAX_LENGTH + 1)), "too_long")
    assert_unknown(decode(" " + "A" * MAX_LENGTH + "\r\n"), "unrecognised")  # 200 after stripping is fine


def test_full_width_digits_from_a_chinese_ime():
    assert decode("６９２０８５５０５２０８２").retail_code == "6920855052082"
    full_width_trace = "".join(chr(ord(c) + 0xFEE0) for c in FAKE_TRACE_CODES[0])
    assert decode(full_width_trace).trace_code == FAKE_TRACE_CODES[0]
    assert decode("ＹＳＰＯＳ１－００００００１２").sale_number == "POS1-00000012"


@pytest.mark.parametrize("raw", ["hello", "药品", "123", "６９２", "]", "]]]", "()", "YS", "http://", "\x00\x01\x02"])
def test_unrecognised(raw):
    scan = decode(raw)
    assert scan.kind == "unknown" and scan.error in ("unrecognised", "bad_gs1")


def test_non_text_is_a_programming_error():
    with pytest.raises(TypeError):
        decode(b"5901234123457")  # type: ignore[arg-type]


def test_scan_is_immutable_and_hashable():
    scan = decode("0105901234123457" + "10AB")
    with pytest.raises(AttributeError):
        scan.lot = "X"  # type: ignore[misc]
    assert hash(scan) == hash(decode("0105901234123457" + "10AB"))


# --- properties ------------------------------------------------------------------------------------------------


def assert_well_formed(scan: Scan, raw: str) -> None:
    assert isinstance(scan, Scan)
    assert scan.raw is raw
    assert scan.kind in KINDS
    assert (scan.kind == "unknown") == (scan.error is not None)
    if scan.error is not None:
        assert scan.error in ERRORS and scan.error != "decode_failed"
    assert set(scan.warnings) <= set(WARNINGS)
    if scan.gtin is not None:
        assert len(scan.gtin) == 14 and scan.gtin.isdigit()
    if scan.kind == "gs1":
        assert scan.elements


SCANNER_CHARS = st.sampled_from(list("0123456789") + [GS, "(", ")", "]", "|", "~", "-", "A", "Y", "S", "L", "d", "C",
                                                     "E", "Q", "\r", "\n", " ", "８", "．"])


@settings(max_examples=500, deadline=None)
@given(raw=st.text(alphabet=st.one_of(st.characters(), SCANNER_CHARS), max_size=60),
       seps=st.sampled_from(["\x1d", "|", "~|", "", "a(", "\x1d ", "８"]))
def test_decode_never_raises_on_arbitrary_text(raw, seps):
    assert_well_formed(decode(raw, separator_chars=seps), raw)


GS1ISH = (r"\A(\][CdQe][0-9])?\x1d?"
          r"((01[0-9]{14}|17[0-9]{6}|11[0-9]{6}|10[0-9A-Za-z\-.]{1,22}|21[0-9A-Za-z]{1,22}|[0-9]{1,6})\x1d{0,2}){1,5}"
          r"[\r\n]{0,2}\Z")


@settings(max_examples=500, deadline=None)
@given(raw=st.from_regex(GS1ISH, fullmatch=True))
def test_decode_never_raises_on_gs1ish_strings(raw):
    scan = decode(raw)
    assert_well_formed(scan, raw)
    if scan.kind == "gs1" and GS not in raw:
        # every warning names a real, variable-length field of the scan
        for code in scan.warnings:
            assert code != "lot_may_include_serial" or scan.lot is not None


@settings(max_examples=500, deadline=None)
@given(body=st.from_regex(r"[0-9]{12}", fullmatch=True))
def test_ean13_round_trip(body):
    code = with_check(body)
    scan = decode(code)
    assert (scan.kind, scan.retail_code, scan.gtin) == ("ean13", code, "0" + code)
    wrong = decode(wrong_check(code))
    # A wrong check digit is never an EAN-13; it may read as GS1 only as fixed-length fields (e.g. "17…" + "20…").
    if wrong.kind != "gs1":
        assert_unknown(wrong, "bad_check_digit")
    else:
        assert wrong.lot is None and wrong.serial is None


@settings(max_examples=200, deadline=None)
@given(tail=st.from_regex(r"[0-9]{19}", fullmatch=True))
def test_any_twenty_digits_starting_with_8_is_a_trace_code(tail):
    assert decode("8" + tail).trace_code == "8" + tail
