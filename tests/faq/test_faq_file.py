"""Loading and writing FAQ files."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.faq.file_format import FaqEntry, FaqFileError, dump_faq_file, load_faq_file

GOOD = """\
faqs:
  - id: postage
    category: 配送
    question: 送料はいくら?
    variants: ["送料無料の条件は?"]
    keywords: ["送料"]
    answer: 全国一律600円です。
  - id: hours
    question: 営業時間は?
    answer: 平日10時から17時です。
"""


def test_loads_entries_from_text() -> None:
    entries = load_faq_file(GOOD)
    assert entries == [
        FaqEntry(
            "postage",
            "送料はいくら?",
            ("送料無料の条件は?",),
            ("送料",),
            "全国一律600円です。",
            "配送",
        ),
        FaqEntry("hours", "営業時間は?", (), (), "平日10時から17時です。", None),
    ]


def test_loads_entries_from_a_path(tmp_path: Path) -> None:
    path = tmp_path / "faq.yaml"
    path.write_text(GOOD, encoding="utf-8")
    assert load_faq_file(path) == load_faq_file(str(path)) == load_faq_file(GOOD)


@pytest.mark.parametrize(
    ("text", "line", "reason"),
    [
        ("faqs:\n  - id: a\n    question: q\n", 2, "no answer"),
        (
            "faqs:\n  - id: a\n    question: q\n    answer: x\n"
            "  - id: a\n    question: r\n    answer: y\n",
            5,
            "duplicate id 'a'",
        ),
        ("faqs:\n  - id: 12\n    question: q\n    answer: x\n", 2, "id must be a string"),
        ("faqs:\n  - id: a\n    question: q\n    answer: x\n    variants: abc\n", 5, "variants"),
        ("faqs:\n  - id: a\n    question: q\n    answer: x\n    keywords: [1]\n", 5, "keywords"),
        ("faqs:\n  - id: a\n    question: q\n    answer: ''\n", 4, "must not be empty"),
        ("faqs:\n  - id: a\n    question: [q\n    answer: x\n", 4, "not valid YAML"),
        ("faqs:\n  - id: a\n    question: q\n    answr: x\n", 4, "unknown field 'answr'"),
        ("faqs:\n  - id: a\n    id: b\n    question: q\n    answer: x\n", 3, "appears twice"),
        ("entries: []\n", 1, "unknown top-level key"),
        ("faqs: {}\n", 1, "faqs must be a list"),
        ("faqs:\n  - id: has space\n    question: q\n    answer: x\n", 2, "may use only"),
        (
            "faqs:\n  - id: a\n    question: 送料は?\n    answer: " + "あ" * 5001 + "\n",
            4,
            "answer has 5,001 characters",
        ),
    ],
)
def test_refuses_invalid_files_with_line(text: str, line: int, reason: str) -> None:
    with pytest.raises(FaqFileError) as caught:
        load_faq_file(text)
    assert caught.value.line == line
    assert reason in caught.value.reason
    assert str(caught.value).startswith(f"line {line}: ")


def test_an_answer_of_exactly_one_message_is_accepted() -> None:
    text = "faqs:\n  - id: a\n    question: 送料は?\n    answer: " + "あ" * 5000 + "\n"
    assert len(load_faq_file(text)[0].answer) == 5000


def test_empty_file_is_refused() -> None:
    with pytest.raises(FaqFileError, match="empty") as caught:
        load_faq_file("# only a comment\n")
    assert caught.value.line is None


def test_dump_round_trips() -> None:
    entries = load_faq_file(GOOD)
    text = dump_faq_file(entries)
    assert load_faq_file(text) == entries
    assert "送料はいくら?" in text  # written as readable Japanese, not escapes


def test_sample_and_shared_files_round_trip(sample_entries: list[FaqEntry]) -> None:
    assert len(sample_entries) >= 20
    assert load_faq_file(dump_faq_file(sample_entries)) == sample_entries


def test_shared_file_loads(shared_entries: list[FaqEntry]) -> None:
    assert len({e.id for e in shared_entries}) == len(shared_entries) >= 30
    assert load_faq_file(dump_faq_file(shared_entries)) == shared_entries
