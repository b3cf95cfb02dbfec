"""Money arithmetic in whole cents: splitting a bill, applying a discount."""

from billing.money import apply_discount, format_cents, split_bill

__all__ = ["apply_discount", "format_cents", "split_bill"]
