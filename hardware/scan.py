"""One decoder for every scan the counter and receiving see (pure Python, no database, no Flask).

`decode(raw)` classifies a raw scanner string (keyboard wedge or serial) and never raises for a str:

1. surrounding whitespace / CR / LF is stripped (GS is kept); empty → unknown/"empty", > 200 chars → "too_long";
2. an AIM symbology identifier (``]E0`` EAN-13, ``]C1`` GS1-128, ``]d2`` GS1 DataMatrix, ``]Q3`` GS1 QR, …) is
   recorded and removed; ``]C1 ]d2 ]Q3 ]e0 ]J1`` say GS1 data follows;
3. 20 digits starting with 8 → Chinese drug trace code;
4. 13 / 12 / 8 / 14 digits → EAN-13 / UPC-A / EAN-8 / GTIN-14 with the GS1 check digit verified;
5. GS1 element strings (biip), the "(01)…(17)…" HRI form and GS1 Digital Link URIs → kind "gs1";
6. our own Code 128 codes: ``YS<register>-<8 digits>`` sale numbers and ``YL<8 digits>`` lot labels;
7. anything else → unknown/"unrecognised".

Full-width ASCII (a Chinese IME in full-width mode, e.g. "６９２…") is read as the ASCII it stands for.
"""
from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

from biip import ParseConfig, ParseError
from biip.gs1_application_identifiers import GS1ApplicationIdentifier
from biip.gs1_digital_link_uris import GS1DigitalLinkURI
from biip.gs1_element_strings import GS1ElementString
from biip.gs1_messages import GS1Message

from hardware.codes import is_valid_gtin

GS = "\x1d"
MAX_LENGTH = 200

KINDS = ("ean13", "upc_a", "ean8", "gtin14", "trace_code", "gs1", "sale_number", "lot_label", "unknown")

# Machine codes in Scan.error (only for kind "unknown").
ERRORS = (
    "empty",              # nothing but whitespace
    "too_long",           # more than MAX_LENGTH characters
    "bad_check_digit",    # EAN/UPC/GTIN (also inside GS1 data: GTIN, SSCC, GLN) with a wrong check digit
    "bad_date",           # a GS1 date field that is not a real date (e.g. 17 210230)
    "separator_missing",  # GS1 data that only fails because a variable-length field ran on (GS lost, field > max)
    "bad_gs1",            # declared or evidently GS1 data (symbology id, separator, HRI) that does not parse
    "unrecognised",       # anything else
    "decode_failed",      # internal safety net; never expected
)

# Machine codes in Scan.warnings: the scan was decoded but a person should confirm it.
WARNINGS = (
    "lot_may_include_serial",    # GS lost: the lot (AI 10) may have swallowed the fields after it (serial, expiry, …)
    "serial_may_include_lot",    # GS lost: the serial (AI 21) may have swallowed the fields after it
    "separator_may_be_missing",  # GS lost: another variable-length field may have swallowed the fields after it
)

_GS1_SYMBOLOGIES = frozenset({"]C1", "]d2", "]Q3", "]e0", "]J1"})  # GS1 element strings follow
_GTIN_SYMBOLOGIES = frozenset({"]E0", "]E3", "]E4", "]I1"})  # EAN/UPC/ITF-14: the data is a GTIN, never GS1 AIs
_AIM_RE = re.compile(r"\][A-Za-z][0-9]")
_DIGITS_RE = re.compile(r"[0-9]+")
_SALE_RE = re.compile(r"YS([A-Z0-9]{1,16}-[0-9]{8})", re.IGNORECASE | re.ASCII)
_LOT_LABEL_RE = re.compile(r"YL([0-9]{8})", re.IGNORECASE | re.ASCII)
_RETAIL_KINDS = {8: "ean8", 12: "upc_a", 13: "ean13", 14: "gtin14"}
# Python counts FS/GS/RS/US as whitespace; they are data here, never stripped.
_NOT_STRIPPED = frozenset("\x1c\x1d\x1e\x1f")
_DATE_AIS = frozenset({"11", "12", "13", "15", "16", "17", "4324", "4325", "4326", "7003", "7006", "7007", "7011",
                       "8008"})
# AIs whose appearance inside a lot/serial value suggests a lost separator (see _swallowed_fields).
_EMBEDDED_AI_CANDIDATES = frozenset({"01", "10", "11", "15", "17", "21"})
_WARNING_FOR_AI = {"10": "lot_may_include_serial", "21": "serial_may_include_lot"}
# Dates are checked by us (bad_date) instead of biip raising a generic ParseError.
_BIIP_CONFIG = ParseConfig(separator_chars=(GS,), gs1_element_strings_verify_date=False)


@dataclass(frozen=True)
class Scan:
    kind: str  # one of KINDS
    raw: str  # exactly what was passed to decode()
    symbology: str | None = None  # AIM identifier if present: "]E0", "]C1", "]d2", "]Q3", ...
    gtin: str | None = None  # 14-digit GTIN when known (EAN-13 → "0" + ean13); GS1: AI 01 only
    lot: str | None = None  # AI 10
    expiry: date | None = None  # AI 17; day "00" means the last day of that month
    production_date: date | None = None  # AI 11
    serial: str | None = None  # AI 21
    trace_code: str | None = None  # 20-digit Chinese drug trace code
    sale_number: str | None = None  # e.g. "POS1-00000123" (letters upper-cased)
    lot_label_id: int | None = None
    warnings: tuple[str, ...] = ()  # codes from WARNINGS
    error: str | None = None  # code from ERRORS, for kind == "unknown"
    best_before: date | None = None  # AI 15 (food and health products; not an expiry)
    elements: tuple[tuple[str, str], ...] = ()  # every GS1 (AI, value) in scan order, e.g. 710–714 reimbursement no.

    @property
    def retail_code(self) -> str | None:
        """The code to look up in the drug barcode table.

        EAN-13 (13 digits) when the GTIN-14 starts with "0", else the GTIN-14; EAN-8 and UPC-A as scanned.
        """
        if self.gtin is None:
            return None
        if self.kind == "ean8":
            return self.gtin[-8:]
        if self.kind == "upc_a":
            return self.gtin[-12:]
        if self.kind not in ("ean13", "gtin14", "gs1"):
            return None
        return self.gtin[1:] if self.gtin.startswith("0") else self.gtin

    @property
    def hri(self) -> str | None:
        """GS1 human-readable interpretation, e.g. "(01)05901234123457(17)211200", for GS1 scans."""
        return "".join(f"({ai}){value}" for ai, value in self.elements) or None


def decode(raw: str, *, separator_chars: str | Iterable[str] = GS) -> Scan:
    """Classify and parse one raw scan. Never raises for a str (a non-str is a programming error: TypeError).

    separator_chars: characters the scanner sends instead of GS ("GS substitution", e.g. "|" or "~"); GS itself is
    always a separator. Letters, digits and parentheses are ignored as separators.
    """
    if not isinstance(raw, str):
        raise TypeError(f"decode() needs a str, got {type(raw).__name__}")
    try:
        return _decode(raw, separator_chars)
    except Exception:  # safety net: a scan must never take the counter down
        return Scan(kind="unknown", raw=raw, error="decode_failed")


def _decode(raw: str, separator_chars: str | Iterable[str]) -> Scan:
    declared = (_fullwidth_to_ascii(c) for c in separator_chars if isinstance(c, str) and len(c) == 1)
    seps = {GS} | {c for c in declared if not (c.isascii() and c.isalnum()) and c not in "()"}
    text = _strip(raw, seps)
    if not text:
        return Scan(kind="unknown", raw=raw, error="empty")
    if len(text) > MAX_LENGTH:
        return Scan(kind="unknown", raw=raw, error="too_long")
    text = _fullwidth_to_ascii(text)

    symbology = None
    if _AIM_RE.match(text):
        symbology, text = text[:3], text[3:]
        if not text:
            return Scan(kind="unknown", raw=raw, symbology=symbology, error="empty")
    gs1_declared = symbology in _GS1_SYMBOLOGIES

    if _DIGITS_RE.fullmatch(text) and not gs1_declared:
        if len(text) == 20 and text[0] == "8":
            return Scan(kind="trace_code", raw=raw, symbology=symbology, trace_code=text)
        kind = _RETAIL_KINDS.get(len(text))
        if kind is not None:
            if is_valid_gtin(text):
                return Scan(kind=kind, raw=raw, symbology=symbology, gtin=text.zfill(14))
            # A wrong check digit is almost always a misread or mistyped retail code. Only when no EAN/UPC
            # symbology was declared and the digits read as GS1 fields of fixed length only (e.g. "17211200",
            # an expiry on its own) is it GS1; a lot/serial would swallow any digit tail, so those don't count.
            if symbology not in _GTIN_SYMBOLOGIES:
                gs1 = _decode_gs1(raw, text, symbology, seps, gs1_declared)
                if gs1.kind == "gs1" and not any(_is_variable(ai) for ai, _ in gs1.elements):
                    return gs1
            return Scan(kind="unknown", raw=raw, symbology=symbology, error="bad_check_digit")

    if symbology in _GTIN_SYMBOLOGIES:  # an EAN/UPC/ITF symbol never carries GS1 element strings
        gs1 = Scan(kind="unknown", raw=raw, symbology=symbology, error="unrecognised")
    else:
        gs1 = _decode_gs1(raw, text, symbology, seps, gs1_declared)
    if gs1.kind == "gs1":
        return gs1
    if gs1_declared and len(text) == 20 and text[0] == "8" and _DIGITS_RE.fullmatch(text):
        # Trace codes are plain Code 128C (no FNC1); accept one sent with a GS1 identifier if it is not GS1 data.
        return Scan(kind="trace_code", raw=raw, symbology=symbology, trace_code=text)

    m = _SALE_RE.fullmatch(text)
    if m:
        return Scan(kind="sale_number", raw=raw, symbology=symbology, sale_number=m.group(1).upper())
    m = _LOT_LABEL_RE.fullmatch(text)
    if m:
        return Scan(kind="lot_label", raw=raw, symbology=symbology, lot_label_id=int(m.group(1)))
    return gs1  # unknown, with the GS1 error ("unrecognised" when it did not look like GS1 either)


# --- GS1 ---------------------------------------------------------------------------------------------------------


class _Gs1Failure(Exception):
    def __init__(self, error: str):
        super().__init__(error)
        self.error = error


def _decode_gs1(raw: str, text: str, symbology: str | None, seps: set[str], gs1_declared: bool) -> Scan:
    """Parse text as GS1 data; return a gs1 Scan or an unknown Scan with the error code."""
    warnings: tuple[str, ...] = ()
    evident = gs1_declared
    try:
        if text.startswith("("):
            evident = True
            elements = _parse_hri(text)
        elif text.lower().startswith(("http://", "https://")):
            elements = _parse_digital_link(text)
        else:
            body = "".join(GS if c in seps else c for c in text)
            gs_seen = GS in body
            evident = evident or gs_seen
            # Leading GS = FNC1 in first position (sent by some scanners); trailing GS is ignored.
            pairs = _parse_element_string(body.strip(GS))
            elements = [es for es, _ in pairs]
            if not gs_seen:
                warnings = _gs_lost_warnings(pairs)
    except _Gs1Failure as exc:
        error = exc.error
        if error == "unrecognised" and evident:
            error = "bad_gs1"
        return Scan(kind="unknown", raw=raw, symbology=symbology, error=error)

    values: dict[str, str] = {}
    for es in elements:
        if values.setdefault(es.ai.ai, es.value) != es.value:  # one AI, two values: not a valid GS1 message
            return Scan(kind="unknown", raw=raw, symbology=symbology, error="bad_gs1")

    def day(ai: str) -> date | None:
        return next((es.date for es in elements if es.ai.ai == ai), None)

    return Scan(
        kind="gs1", raw=raw, symbology=symbology, gtin=values.get("01"), lot=values.get("10"), expiry=day("17"),
        production_date=day("11"), serial=values.get("21"), best_before=day("15"), warnings=warnings,
        elements=tuple((es.ai.ai, es.value) for es in elements),
    )


def _extract(rest: str) -> GS1ElementString:
    """The first element string of rest, or _Gs1Failure with the error code."""
    try:
        es = GS1ElementString.extract(rest, config=_BIIP_CONFIG)
    except (ParseError, ValueError) as exc:
        raise _Gs1Failure("unrecognised") from exc
    _check_element(es)
    return es


def _check_element(es: GS1ElementString) -> None:
    if es.ai.ai in ("01", "02", "03") and not is_valid_gtin(es.value):
        raise _Gs1Failure("bad_check_digit")
    if es.sscc_error or es.gln_error:  # SSCC (00) and GLN (41x) are fixed-length digits: only the check digit fails
        raise _Gs1Failure("bad_check_digit")
    if es.gtin_error:
        raise _Gs1Failure("bad_gs1")
    if es.ai.ai in _DATE_AIS and es.date is None:
        raise _Gs1Failure("bad_date")


def _parse_element_string(body: str) -> list[tuple[GS1ElementString, bool]]:
    """Element strings of body (separator GS), each with whether a GS followed it."""
    if not body:
        raise _Gs1Failure("empty")
    pairs: list[tuple[GS1ElementString, bool]] = []
    rest = body
    while rest:
        try:
            es = _extract(rest)
        except _Gs1Failure as exc:
            # A variable-length field followed by more data with no GS in between was cut at its maximum length:
            # the GS was lost and the field ran on into the next one.
            if exc.error == "unrecognised" and pairs and _is_variable(pairs[-1][0].ai.ai) and not pairs[-1][1]:
                raise _Gs1Failure("separator_missing") from exc
            raise
        rest = rest[len(es):]
        followed = rest.startswith(GS)
        rest = rest.lstrip(GS)  # double separators are tolerated
        pairs.append((es, followed))
    return pairs


def _parse_hri(text: str) -> list[GS1ElementString]:
    try:
        message = GS1Message.parse_hri(text, config=_BIIP_CONFIG)
    except (ParseError, ValueError) as exc:
        raise _Gs1Failure("bad_gs1") from exc
    # biip skips text it cannot match (e.g. "(01)…()"); accept only if the message spells the whole input.
    if message.as_hri() != "".join(text.split()):
        raise _Gs1Failure("bad_gs1")
    for es in message.element_strings:
        _check_element(es)
    return list(message.element_strings)


def _parse_digital_link(text: str) -> list[GS1ElementString]:
    try:
        elements = list(GS1DigitalLinkURI.parse(text, config=_BIIP_CONFIG).element_strings)
    except (ParseError, ValueError) as exc:
        raise _Gs1Failure("unrecognised") from exc  # most URLs in QR codes are not GS1 Digital Links
    if not elements:
        raise _Gs1Failure("unrecognised")
    for es in elements:
        _check_element(es)
    return elements


def _is_variable(ai: str) -> bool:
    """True for AIs whose field must end with GS unless last (lot, serial, …)."""
    try:
        return GS1ApplicationIdentifier.extract(ai).separator_required
    except ParseError:
        return True


# GS-lost heuristic. A scanner that drops GS joins "…10AB-123<GS>21SN0001" into "…10AB-12321SN0001", and biip
# (correctly, for what it sees) reads lot "AB-12321SN0001". It is only looked for when no GS (or declared substitute)
# occurs anywhere in the scan: a scanner that sends GS at all sends every one of them. Then a variable-length field
# is suspect if
#   (a) it is not the last field: nothing ended it but its maximum length, so it ran on into the next field; or
#   (b) it is the last field and, from some position after its first character, its value reads completely as GS1
#       fields that start with AI 01, 10, 11, 15, 17 or 21 not already in the scan, with valid dates and check
#       digits ("AB-123|21SN0001", "AB-123|17260331"). Dates and check digits make 01/11/15/17 specific; 21/10 are
#       not ("B2021A" contains "21A"), so date-like lots give false alarms. We accept that: a false alarm costs one
#       confirmation, a missed one records a wrong lot for recall and traceability. An AI already present elsewhere
#       in the scan cannot be hidden in the tail, which clears the common 01-21-17-10 order (serial first).
# The warning asks the UI to confirm lot/serial with the user (DOMAIN §14 (4)); nothing is guessed or split.
def _gs_lost_warnings(pairs: list[tuple[GS1ElementString, bool]]) -> tuple[str, ...]:
    present = {es.ai.ai for es, _ in pairs}
    warnings: list[str] = []
    for index, (es, _) in enumerate(pairs):
        if not es.ai.separator_required:
            continue
        last = index == len(pairs) - 1
        if not last or _swallowed_fields(es.value, present):
            code = _WARNING_FOR_AI.get(es.ai.ai, "separator_may_be_missing")
            if code not in warnings:
                warnings.append(code)
    return tuple(warnings)


def _swallowed_fields(value: str, present: set[str]) -> bool:
    for i in range(1, len(value) - 2):
        ai = value[i:i + 2]
        if ai not in _EMBEDDED_AI_CANDIDATES or ai in present:
            continue
        try:
            _parse_element_string(value[i:])
        except _Gs1Failure:
            continue
        return True
    return False


# --- text helpers ------------------------------------------------------------------------------------------------


def _strip(raw: str, keep: set[str]) -> str:
    start, end = 0, len(raw)
    while start < end and _strippable(raw[start], keep):
        start += 1
    while end > start and _strippable(raw[end - 1], keep):
        end -= 1
    return raw[start:end]


def _strippable(c: str, keep: set[str]) -> bool:
    return c.isspace() and c not in _NOT_STRIPPED and c not in keep


def _fullwidth_to_ascii(text: str) -> str:
    """"６９２…" → "692…": full-width forms U+FF01–U+FF5E map to ASCII 0x21–0x7E."""
    return "".join(chr(ord(c) - 0xFEE0) if "\uff01" <= c <= "\uff5e" else c for c in text)
