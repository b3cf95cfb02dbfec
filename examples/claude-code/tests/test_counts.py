"""Tests of textstats.counts."""

from __future__ import annotations

from textstats import word_count
from textstats.counts import words


def test_words_are_lower_cased_in_order() -> None:
    assert words("The cat saw THE dog") == ["the", "cat", "saw", "the", "dog"]


def test_inner_apostrophes_and_hyphens_stay_in_a_word() -> None:
    assert words("don't re-run it") == ["don't", "re-run", "it"]


def test_word_count_of_empty_text_is_zero() -> None:
    assert word_count("") == 0
