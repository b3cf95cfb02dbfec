"""Tests of billing.money; one of them fails on purpose (see the module docstring)."""

from __future__ import annotations

import pytest
from billing import apply_discount, format_cents, split_bill


def test_split_bill_gives_everyone_a_share() -> None:
    assert len(split_bill(1000, 3)) == 3


def test_split_bill_of_an_even_total_is_equal() -> None:
    assert split_bill(900, 3) == [300, 300, 300]


def test_split_bill_parts_add_up_to_the_total() -> None:
    assert sum(split_bill(1000, 3)) == 1000


def test_split_bill_rejects_nobody() -> None:
    with pytest.raises(ValueError):
        split_bill(1000, 0)


@pytest.mark.parametrize(
    ("total", "percent", "expected"), [(1000, 10, 900), (999, 50, 499), (1000, 0, 1000)]
)
def test_apply_discount_rounds_half_up(total: int, percent: int, expected: int) -> None:
    assert apply_discount(total, percent) == expected


def test_format_cents_pads_the_cents() -> None:
    assert format_cents(1205) == "12.05"
    assert format_cents(-7) == "-0.07"
