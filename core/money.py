"""Money is integer fen (分) in storage and Decimal yuan in code; never float."""
from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

FEN_PER_YUAN = 100


def yuan_to_fen(value: Decimal | str | int) -> int:
    """Parse yuan ("12.3", Decimal("12.30"), 12) into fen. Refuses floats and more than 2 decimals."""
    if isinstance(value, float):
        raise TypeError("money must not be a float")
    try:
        amount = Decimal(str(value).strip())
    except (InvalidOperation, ValueError) as exc:
        raise ValueError(f"not an amount: {value!r}") from exc
    if not amount.is_finite():
        raise ValueError(f"not an amount: {value!r}")
    fen = amount * FEN_PER_YUAN
    if fen != fen.to_integral_value():
        raise ValueError(f"more than two decimals: {value!r}")
    return int(fen)


def fen_to_yuan(fen: int) -> Decimal:
    return (Decimal(fen) / FEN_PER_YUAN).quantize(Decimal("0.01"))


def format_fen(fen: int | None) -> str:
    """Display form: ￥12.30 (U+FFE5, which also prints correctly on GBK receipt printers)."""
    if fen is None:
        return "—"
    sign = "-" if fen < 0 else ""
    return f"{sign}￥{fen_to_yuan(abs(fen))}"


def multiply(unit_fen: int, quantity: int) -> int:
    return unit_fen * quantity


def divide_round(fen: int, parts: int) -> int:
    """Split an amount into a per-part amount, rounding half up to the fen."""
    return int((Decimal(fen) / parts).quantize(Decimal("1"), rounding=ROUND_HALF_UP))
