"""Whole-cent money arithmetic.

``split_bill`` has a genuine bug, kept on purpose: it drops the remainder, so the shares
of 1000 cents among 3 people add up to 999. The example's QA task finds it on every turn;
its build step (byte-compiling) cannot fix it, so Brahmi's correctness loop stops with
``rebuild_stalled`` instead of rebuilding forever.
"""

from __future__ import annotations


def split_bill(total_cents: int, people: int) -> list[int]:
    """Shares of ``total_cents`` for ``people`` people, as equal as whole cents allow.

    Raises:
        ValueError: When ``people`` is not positive or ``total_cents`` is negative.
    """
    if people < 1:
        raise ValueError("people must be at least 1")
    if total_cents < 0:
        raise ValueError("total_cents must not be negative")
    share = total_cents // people
    return [share] * people  # BUG: the remainder (total_cents % people) is lost


def apply_discount(total_cents: int, percent: int) -> int:
    """``total_cents`` less ``percent`` per cent, rounded half up to a whole cent.

    Raises:
        ValueError: When ``percent`` is outside 0–100.
    """
    if not 0 <= percent <= 100:
        raise ValueError("percent must be between 0 and 100")
    discount = (total_cents * percent + 50) // 100
    return total_cents - discount


def format_cents(cents: int) -> str:
    """``1234`` → ``"12.34"``; negative amounts keep their sign."""
    sign = "-" if cents < 0 else ""
    whole, part = divmod(abs(cents), 100)
    return f"{sign}{whole}.{part:02d}"
