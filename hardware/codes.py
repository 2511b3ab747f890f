"""Check digits and shapes of the codes Yaofang handles (pure functions, no database)."""
from __future__ import annotations


def gs1_check_digit(body: str) -> int:
    """GS1 mod-10 check digit for the digits before it (EAN-8/13, UPC-A, GTIN-14)."""
    total = 0
    for i, ch in enumerate(reversed(body)):
        total += int(ch) * (3 if i % 2 == 0 else 1)
    return (10 - total % 10) % 10


def is_valid_gtin(code: str) -> bool:
    """EAN-8, UPC-A (12), EAN-13 or GTIN-14 with a correct check digit."""
    if not isinstance(code, str) or not code.isascii() or not code.isdigit() or len(code) not in (8, 12, 13, 14):
        return False
    return gs1_check_digit(code[:-1]) == int(code[-1])


def is_in_store_code(code: str) -> bool:
    """EAN-13 from the GS1 restricted-circulation range 20–29, which a store may assign to its own items."""
    return is_valid_gtin(code) and len(code) == 13 and code[:2] in {str(n) for n in range(20, 30)}


def make_in_store_ean13(number: int, prefix: str = "29") -> str:
    body = f"{prefix}{number:010d}"
    if len(body) != 12:
        raise ValueError("in-store number too long")
    return body + str(gs1_check_digit(body))


def lot_label_code(lot_id: int) -> str:
    """The Code 128 payload of a lot label ("YL" + 8 digits), which the scan decoder reads back as kind lot_label."""
    if not 0 < lot_id < 10**8:
        raise ValueError(f"lot id {lot_id} does not fit a lot label")
    return f"YL{lot_id:08d}"
