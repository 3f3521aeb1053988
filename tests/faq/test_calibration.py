"""FAQ confidence: the two logistic models, their fitting, the file and `flask faq calibrate`."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from bot.faq import cli
from bot.faq.calibration import Sample, fit_calibration, query_samples
from bot.faq.matcher import (
    CALIBRATION_PATH,
    DEFAULT_CALIBRATION,
    NO_SIGNALS,
    Calibration,
    FaqMatcher,
    Logistic,
    Signals,
    load_calibration,
)
from tests.helpers.faq import FAQ_FILE

N_SIGNALS = len(Signals._fields)


def signals(**values: float) -> Signals:
    return NO_SIGNALS._replace(**values)


def test_the_stored_calibration_is_the_default_and_round_trips(tmp_path: Path) -> None:
    assert load_calibration(CALIBRATION_PATH) == DEFAULT_CALIBRATION
    path = tmp_path / "cal.json"
    path.write_text(json.dumps(DEFAULT_CALIBRATION.to_json()), encoding="utf-8")
    again = load_calibration(path)
    s = signals(top=0.3, margin=0.1, coverage=0.8, sem=0.6)
    assert again.confidence(s) == pytest.approx(DEFAULT_CALIBRATION.confidence(s), abs=1e-3)
    assert 0.0 < again.suggest_at <= again.relevant_to_answer < 1.0
    assert 0.0 < again.answer_at < 1.0


def test_a_file_must_name_exactly_the_signals() -> None:
    data = DEFAULT_CALIBRATION.to_json()
    del data["answer"]["weights"]["sem"]
    with pytest.raises(ValueError, match="signals"):
        Calibration.from_json(data)
    data = DEFAULT_CALIBRATION.to_json()
    data["relevance"]["weights"]["guess"] = 1.0
    with pytest.raises(ValueError, match="signals"):
        Calibration.from_json(data)


def test_a_message_judged_irrelevant_is_never_answered(sample_matcher: FaqMatcher) -> None:
    text = "送料っていくらかかるんですか?"
    assert sample_matcher.ask(text).outcome == "answer"
    # Same answer model, but a relevance model that says no to everything.
    deaf = replace(sample_matcher.calibration, relevance=Logistic(-30.0, (0.0,) * N_SIGNALS))
    result = replace(sample_matcher, calibration=deaf).ask(text)
    assert (result.outcome, result.intent, result.faq_id) == ("none", "none", None)
    assert result.candidates[0].faq_id == "postage"  # still listed, for the log


@pytest.mark.parametrize(
    "change", [{"answer_at": 1.01}, {"relevant_to_answer": 1.01}], ids=["unsure", "maybe chat"]
)
def test_a_relevant_message_below_an_answer_line_is_offered(
    sample_matcher: FaqMatcher, change: dict[str, float]
) -> None:
    text = "送料っていくらかかるんですか?"
    unsure = replace(sample_matcher.calibration, **change)
    result = replace(sample_matcher, calibration=unsure).ask(text)
    assert (result.outcome, result.intent, result.faq_id) == ("suggest", "faq", None)
    assert result.score == sample_matcher.ask(text).score


def _sample(top: float, coverage: float, *, right: bool, off: bool, tied: bool = False) -> Sample:
    return Sample(signals(top=top, coverage=coverage), right, off, tied)


def test_fitting_learns_both_models_and_places_the_thresholds() -> None:
    # Questions score high and are right; off-topic chat scores low and covers little.
    good = [_sample(0.3 + 0.05 * k, 0.9, right=True, off=False) for k in range(8)]
    wrong = [_sample(0.25, 0.7, right=False, off=False) for _ in range(2)]
    chat = [_sample(0.02 * k, 0.1 * k, right=False, off=True) for k in range(10)]
    cal = fit_calibration([*good, *wrong, *chat])
    assert cal.answer(good[-1].signals) > cal.answer(wrong[0].signals)
    assert cal.relevance(good[0].signals) > cal.relevance(chat[-1].signals)
    # At most one chat line in ten reaches the suggest line, and answers above answer_at are
    # at least 97.5 % right.
    assert sum(cal.relevance(s.signals) >= cal.suggest_at for s in chat) <= 1
    assert cal.relevant_to_answer >= cal.suggest_at
    assert not any(cal.relevance(s.signals) >= cal.relevant_to_answer for s in chat)
    answered = [s for s in good + wrong if cal.answer(s.signals) >= cal.answer_at]
    assert answered and all(s.right for s in answered)


def test_answer_line_follows_the_real_queries_when_given() -> None:
    base = [_sample(0.5, 0.9, right=True, off=False) for _ in range(10)] + [
        _sample(0.01, 0.1, right=False, off=True) for _ in range(10)
    ]
    # The queries: right ones with a low score, wrong ones lower still; a tied one is skipped.
    queries = [_sample(0.2, 0.9, right=True, off=False) for _ in range(10)] + [
        _sample(0.1, 0.9, right=False, off=False) for _ in range(3)
    ]
    tied_wrong = [_sample(0.4, 0.9, right=False, off=False, tied=True)]
    cal = fit_calibration(base, queries + tied_wrong)
    assert cal.answer(queries[0].signals) >= cal.answer_at > cal.answer(queries[-1].signals)


def test_query_samples_skip_requests_for_a_person(sample_matcher: FaqMatcher) -> None:
    rows = [
        ("送料っていくらかかるんですか?", "postage"),
        ("担当者と話したい", "HUMAN"),
        ("オペレーターにつないで", "postage"),  # mislabelled, but still a person request
        ("スマホの画面が割れちゃった", "NONE"),
        ("今日はいい天気ですね", "NONE"),  # shares nothing with the FAQ: nothing to learn from
    ]
    samples = query_samples(sample_matcher, rows)
    assert [(s.right, s.off_topic) for s in samples] == [(True, False), (False, True)]


def test_the_soft_similarity_signal_is_high_for_a_paraphrase(shared_matcher: FaqMatcher) -> None:
    if shared_matcher._entry_words is None:
        pytest.skip("word vectors not installed")
    _, paraphrase = shared_matcher.rank("配送にかかる費用はどのくらい")
    _, chat = shared_matcher.rank("週末に海に行きたいな")
    assert paraphrase.sem > chat.sem
    assert 0.0 <= chat.sem <= paraphrase.sem <= 1.0


CAL_ROWS = (
    "query\texpected\n"
    "送料はいくらですか?\tshipping_fee\n"
    "返品したいです\treturn_policy\n"
    "担当者と話したい\tHUMAN\n"
    "今日はいい天気ですね\tNONE\n"
)


def test_calibrate_writes_a_calibration_the_matcher_can_load(runner, tmp_path):
    tsv = tmp_path / "queries.tsv"
    tsv.write_text(CAL_ROWS, encoding="utf-8")
    out = tmp_path / "cal.json"
    args = ["faq", "calibrate", "--faq", str(FAQ_FILE), "--also", str(FAQ_FILE)]
    result = runner.invoke(args=[*args, "--write", str(out), str(tsv)])
    assert result.exit_code == 0, result.output
    assert "2 queries from 1 sets" in result.output
    cal = load_calibration(out)
    assert 0.0 < cal.suggest_at <= 1.0 and 0.0 < cal.answer_at <= 1.0
    printed = runner.invoke(args=[*args, "--write", "-", str(tsv)])
    assert Calibration.from_json(json.loads(printed.output)) == cal


def test_calibrate_refuses_the_never_tuned_set(runner, tmp_path):
    final = tmp_path / cli.NEVER_TUNED
    final.write_text(CAL_ROWS, encoding="utf-8")
    args = ["faq", "calibrate", "--faq", str(FAQ_FILE), "--write", "-", str(final)]
    result = runner.invoke(args=args)
    assert result.exit_code != 0
    assert "never fitted on" in result.output


def test_calibrate_by_default_reads_every_set_but_the_final_one(runner, tmp_path, monkeypatch):
    for name in ("a.tsv", cli.NEVER_TUNED):
        (tmp_path / name).write_text(CAL_ROWS, encoding="utf-8")
    monkeypatch.setattr(cli, "EVAL_SETS", tmp_path)
    args = ["faq", "calibrate", "--faq", str(FAQ_FILE), "--also", str(FAQ_FILE), "--write"]
    result = runner.invoke(args=[*args, str(tmp_path / "cal.json")])
    assert result.exit_code == 0, result.output
    assert "2 queries from 1 sets" in result.output
