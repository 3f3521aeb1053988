"""FAQ matching: outcomes, requests for a person, JSON shape and the quality bars."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from bot.faq.calibration import evaluate, read_eval_rows
from bot.faq.file_format import FaqEntry
from bot.faq.human_request import is_human_request
from bot.faq.matcher import Candidate, FaqMatcher, MatchResult

HELDOUT = Path(__file__).resolve().parent / "heldout.tsv"
HELDOUT2 = Path(__file__).resolve().parent / "heldout2.tsv"
BLIND_TUNE = Path(__file__).resolve().parent / "blind_tune.tsv"
BLIND_TUNE2 = Path(__file__).resolve().parent / "blind_tune2.tsv"
BLIND_TUNE3 = Path(__file__).resolve().parent / "blind_tune3.tsv"
OLD_FINAL = Path(__file__).resolve().parent / "old_final.tsv"


def test_answers_a_clear_question(sample_matcher: FaqMatcher) -> None:
    result = sample_matcher.ask("送料っていくらかかるんですか？")
    assert (result.outcome, result.intent, result.faq_id) == ("answer", "faq", "postage")
    assert 0.0 < result.score <= 1.0
    assert result.candidates[0] == Candidate("postage", result.candidates[0].score)


def test_answers_through_width_kana_and_emoji(sample_matcher: FaqMatcher) -> None:
    result = sample_matcher.ask("ﾎﾟｲﾝﾄの有効期限は？？😅")
    assert result.faq_id == "points_usage"


def test_suggests_when_two_entries_fit_equally(sample_matcher: FaqMatcher) -> None:
    # 荷物 alone could be "where is it" or "it never came": offer both, answer neither.
    result = sample_matcher.ask("荷物")
    assert (result.outcome, result.intent, result.faq_id) == ("suggest", "faq", None)
    assert {c.faq_id for c in result.candidates[:2]} == {"parcel_status", "parcel_missing"}


@pytest.mark.parametrize(
    "text",
    ["こんにちは", "今日はいい天気ですね", "おすすめのラーメン屋は?", "ありがとうございます", ""],
)
def test_never_answers_chit_chat(sample_matcher: FaqMatcher, text: str) -> None:
    result = sample_matcher.ask(text)
    assert (result.outcome, result.intent, result.faq_id) == ("none", "none", None)


@pytest.mark.parametrize(
    "text",
    [
        "担当者と話したい",
        "オペレーターさんにつないでもらえますか",
        "人と話したいです",
        "スタッフの方に相談したい",
        "有人対応でお願いします",
        "電話で話したいんですが",
        "人間につないで！",
        "ボットじゃなくて人がいい",
        "係の方を呼んでください",
        "誰かに代わってもらえますか",
        "オペレーター",
        "担当の人とやりとりしたい",
    ],
)
def test_requests_for_a_person(sample_matcher: FaqMatcher, text: str) -> None:
    assert is_human_request(text)
    result = sample_matcher.ask(text)
    assert (result.outcome, result.intent, result.faq_id, result.candidates) == (
        "human",
        "human",
        None,
        [],
    )


@pytest.mark.parametrize(
    "text",
    [
        "電話は何時までつながりますか",  # a question about the phone line, not a request to call
        "人気の商品はどれ?",
        "本人確認が必要ですか",
        "オペレーターは不要です",
        "2人分のギフト包装をお願いしたい",
    ],
)
def test_not_requests_for_a_person(text: str) -> None:
    assert not is_human_request(text)


def test_human_wins_over_a_matching_faq(sample_matcher: FaqMatcher) -> None:
    # This also matches the returns entry, but asking for a person comes first.
    assert sample_matcher.ask("返品のことで担当者と話したい").intent == "human"


def test_to_json_shape(sample_matcher: FaqMatcher) -> None:
    answered = sample_matcher.ask("返品できますか").to_json()
    assert list(answered) == ["intent", "faq_id", "score", "candidates"]
    assert answered["intent"] == "faq" and answered["faq_id"] == "returns"
    assert all(set(c) == {"faq_id", "score"} for c in answered["candidates"])  # type: ignore[union-attr]
    human = MatchResult("human", None, 1.0, [], "human").to_json()
    assert human == {"intent": "human", "faq_id": None, "score": 1.0, "candidates": []}


def test_candidates_are_ordered_and_bounded(sample_matcher: FaqMatcher) -> None:
    result = sample_matcher.ask("注文した商品を変更したい")
    scores = [c.score for c in result.candidates]
    assert scores == sorted(scores, reverse=True)
    assert all(0.0 <= s <= 1.0 for s in scores) and len(scores) <= 3


def test_rebuild_reflects_a_changed_faq(sample_entries: list[FaqEntry]) -> None:
    before = FaqMatcher.build(sample_entries)
    assert before.ask("盆栽の水やりの頻度は?").outcome == "none"
    extra = FaqEntry("bonsai", "盆栽の水やりはどのくらいの頻度ですか?", (), ("盆栽",), "毎日です。")
    after = FaqMatcher.build([*sample_entries, extra])
    assert after.ask("盆栽の水やりの頻度は?").faq_id == "bonsai"
    assert before.ask("盆栽の水やりの頻度は?").outcome == "none"  # the old index is untouched


def test_empty_faq_matches_nothing() -> None:
    assert FaqMatcher.build([]).ask("送料はいくら?").outcome == "none"


def test_safe_from_several_threads(sample_matcher: FaqMatcher) -> None:
    expected = sample_matcher.ask("領収書はもらえますか").faq_id
    seen: list[str | None] = []

    def work() -> None:
        for _ in range(20):
            seen.append(sample_matcher.ask("領収書はもらえますか").faq_id)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert seen == [expected] * 80 and expected == "receipt_issue"


def test_dev_set_meets_the_issue_bar(shared_matcher: FaqMatcher, shared_faq_dir: Path) -> None:
    # The issue's bar: FAQ top-1 95%, human 100%, none 90%.
    report = evaluate(shared_matcher, read_eval_rows(shared_faq_dir / "dev_queries.tsv"))
    assert report.totals["faq"] >= 30
    assert report.accuracy("faq") >= 0.95, report.misses
    assert report.accuracy("human") == 1.0, report.misses
    assert report.accuracy("none") >= 0.9, report.misses


def test_heldout_set(shared_matcher: FaqMatcher) -> None:
    # The first engineer's paraphrases (tests/faq/heldout.tsv), written before the thesaurus;
    # bars: FAQ 93%, human 100%, none 90%.
    report = evaluate(shared_matcher, read_eval_rows(HELDOUT))
    assert report.totals == {"faq": 67, "human": 10, "none": 10}
    assert report.accuracy("faq") >= 0.93, report.misses
    assert report.accuracy("human") == 1.0, report.misses
    assert report.accuracy("none") >= 0.9, report.misses


def test_heldout2_set(shared_matcher: FaqMatcher) -> None:
    # Blind paraphrases (tests/faq/heldout2.tsv), written from the FAQ's meaning before the
    # thesaurus existed and never tuned to line by line; bars: FAQ 90%, human 100%, none 85%.
    report = evaluate(shared_matcher, read_eval_rows(HELDOUT2))
    assert report.totals == {"faq": 120, "human": 16, "none": 28}
    assert report.accuracy("faq") >= 0.9, report.misses
    assert report.accuracy("human") == 1.0, report.misses
    assert report.accuracy("none") >= 0.85, report.misses


def test_blind_sets_keep_their_measured_level(shared_matcher: FaqMatcher) -> None:
    # tests/faq/blind_tune.tsv and blind_final.tsv were written before the paraphrase work,
    # blind_tune2.tsv and blind_tune3.tsv before the calibration was fitted on them; the final
    # set was never tuned on. These bars only stop a regression below what was measured
    # (README): the issue's goal (117 first, at most 1 wrong answer) is not met yet.
    tune = evaluate(shared_matcher, read_eval_rows(BLIND_TUNE))
    assert tune.totals == {"faq": 60, "human": 5, "none": 5}
    assert tune.correct["faq"] >= 56 and tune.answered >= 52, tune.misses
    assert tune.correct["human"] == 5 and tune.confident_wrong <= 1, tune.misses
    tune2 = evaluate(shared_matcher, read_eval_rows(BLIND_TUNE2))
    assert tune2.totals == {"faq": 90, "human": 10, "none": 12}
    assert tune2.correct["faq"] >= 89 and tune2.answered >= 87, tune2.misses
    assert tune2.correct["human"] == 10 and tune2.correct["none"] >= 11, tune2.misses
    assert tune2.confident_wrong <= 1, tune2.misses
    tune3 = evaluate(shared_matcher, read_eval_rows(BLIND_TUNE3))
    assert tune3.totals == {"faq": 90, "human": 10, "none": 15}
    assert tune3.correct["faq"] >= 87 and tune3.answered >= 85, tune3.misses
    assert tune3.correct["human"] == 10 and tune3.correct["none"] >= 12, tune3.misses
    assert tune3.confident_wrong <= 2, tune3.misses
    final = evaluate(shared_matcher, read_eval_rows(OLD_FINAL))
    assert final.totals == {"faq": 120, "human": 10, "none": 10}
    assert final.correct["faq"] >= 111 and final.answered >= 109, final.misses
    assert final.correct["human"] == 10 and final.correct["none"] >= 9, final.misses
    assert final.confident_wrong <= 2, final.misses
