"""Splitting text into words, sentences and paragraphs."""

from __future__ import annotations

from textstats.text import paragraphs, sentences, words


def test_words_keep_apostrophes_and_hyphens_inside_a_word() -> None:
    assert words("Don't panic: it's well-known.") == ["Don't", "panic", "it's", "well-known"]


def test_words_ignore_punctuation_and_underscores_but_keep_numbers() -> None:
    assert words("__init__ -- 42 cats, 3 dogs!") == ["init", "42", "cats", "3", "dogs"]


def test_words_of_empty_text_is_empty() -> None:
    assert words("   \n") == []


def test_sentences_end_at_terminal_punctuation_followed_by_space() -> None:
    text = "Pi is about 3.14. Is it? Yes!  Quite sure"
    assert sentences(text) == ["Pi is about 3.14.", "Is it?", "Yes!", "Quite sure"]


def test_closing_quotes_stay_with_their_sentence() -> None:
    assert sentences('He said "hi." Then he left.') == ['He said "hi."', "Then he left."]


def test_pieces_without_words_are_not_sentences() -> None:
    assert sentences("... !!! Real one.") == ["Real one."]


def test_paragraphs_are_separated_by_blank_lines() -> None:
    text = "First line\nstill first.\n\n  \nSecond.\n\n\nThird."
    assert paragraphs(text) == ["First line\nstill first.", "Second.", "Third."]
