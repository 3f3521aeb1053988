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
BLIND_TUNE4 = Path(__file__).resolve().parent / "blind_tune4.tsv"
BLIND_TUNE5 = Path(__file__).resolve().parent / "blind_tune5.tsv"
OLD_FINAL = Path(__file__).resolve().parent / "old_final.tsv"
BLIND_FINAL2 = Path(__file__).resolve().parent / "blind_final2.tsv"


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
    # The tuning sets were each written and committed before any tuning on them; the calibration
    # is fitted on all of them now. These bars only stop a regression below what was measured
    # (README): the issue's goal (117 first, at most 1 wrong answer) is not met.
    bars = {
        # set: (totals, right first, answered at once, human, none, wrong answers at most)
        BLIND_TUNE: ({"faq": 60, "human": 5, "none": 5}, 59, 52, 5, 5, 0),
        BLIND_TUNE2: ({"faq": 90, "human": 10, "none": 12}, 88, 85, 10, 11, 0),
        BLIND_TUNE3: ({"faq": 90, "human": 10, "none": 15}, 88, 82, 10, 13, 0),
        BLIND_TUNE4: ({"faq": 120, "human": 10, "none": 10}, 97, 79, 10, 6, 4),
        BLIND_TUNE5: ({"faq": 142, "human": 14, "none": 19}, 104, 84, 14, 13, 7),
        OLD_FINAL: ({"faq": 120, "human": 10, "none": 10}, 112, 105, 10, 10, 2),
    }
    for path, (totals, first, answered, human, none, wrong) in bars.items():
        report = evaluate(shared_matcher, read_eval_rows(path))
        assert report.totals == totals, path.name
        assert report.correct["faq"] >= first and report.answered >= answered, report.misses
        assert report.correct["human"] >= human, report.misses
        assert report.correct.get("none", 0) >= none, report.misses
        assert report.confident_wrong <= wrong, report.misses


def test_the_never_tuned_set_keeps_its_measured_level(shared_matcher: FaqMatcher) -> None:
    # Only figures: a failure here must not show which questions were missed.
    report = evaluate(shared_matcher, read_eval_rows(BLIND_FINAL2))
    assert report.totals == {"faq": 120, "human": 10, "none": 10}
    figures = (report.correct["faq"], report.answered, report.confident_wrong)
    assert figures[0] >= 99 and figures[1] >= 84 and figures[2] <= 2, figures
    assert report.correct["human"] >= 10 and report.correct["none"] >= 8, report.correct


def test_a_message_mostly_of_words_the_entry_does_not_know_is_offered_not_answered(
    shared_matcher: FaqMatcher,
) -> None:
    # A keyword of the entry (キャンセル) in chat about something else: a choice at most.
    chat = shared_matcher.ask("美容院の予約キャンセルしなきゃ")
    assert chat.outcome != "answer" and chat.score >= shared_matcher.calibration.answer_at
    asked = shared_matcher.ask("注文をキャンセルしたい")
    assert (asked.outcome, asked.faq_id) == ("answer", "order_cancel")
