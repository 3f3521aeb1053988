"""FAQ storage and `flask faq ...`: import, re-import, refusal, export, ask, eval, reload."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.app import create_app
from bot.faq import cli
from bot.faq import store as faq_store
from bot.faq.file_format import FaqFileError, load_faq_file
from bot.models import Faq, FaqState
from tests.helpers.faq import FAQ_FILE

CHANGED = """\
faqs:
  - id: return_policy
    category: 返品
    question: 返品はできますか?
    variants: ["商品を返品したい"]
    keywords: ["返品", "返却"]
    answer: 商品到着から14日以内であれば、未使用品の返品を承ります。
  - id: shipping_fee
    category: 配送
    question: 送料はいくらですか?
    variants: ["送料無料になる条件は?"]
    keywords: ["送料", "配送料"]
    answer: 送料は全国一律600円(税込)です。8,000円(税込)以上のご注文で送料無料になります。
  - id: point_card
    question: ポイントは貯まりますか?
    keywords: ["ポイント"]
    answer: お買い上げ100円ごとに1ポイント貯まります。
"""


def stored(app) -> dict[str, Faq]:
    with app.app_context():
        session = app.extensions["db"].session()
        return {row.faq_id: row for row in session.scalars(select(Faq).order_by(Faq.position))}


def version(app) -> int:
    with app.app_context():
        return faq_store.current_version(app.extensions["db"].session())


def write(tmp_path: Path, text: str, name: str = "faq.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_import_stores_every_entry_in_file_order(app, runner):
    result = runner.invoke(args=["faq", "import", str(FAQ_FILE)])
    assert result.exit_code == 0, result.output
    assert "6 added, 0 updated, 0 removed, 0 unchanged (version 1)" in result.output
    rows = stored(app)
    assert list(rows) == [
        "shipping_fee",
        "delivery_time",
        "return_policy",
        "gift_wrapping",
        "payment_methods",
        "order_cancel",
    ]
    assert rows["return_policy"].variants == ["商品を返品したい", "イメージと違ったので返したい"]
    assert rows["gift_wrapping"].category == "ギフト"


def test_reimport_updates_in_place_adds_and_removes(app, runner, tmp_path):
    runner.invoke(args=["faq", "import", str(FAQ_FILE)])
    before = stored(app)
    result = runner.invoke(args=["faq", "import", str(write(tmp_path, CHANGED))])
    assert result.exit_code == 0, result.output
    assert "1 added, 1 updated, 4 removed, 1 unchanged (version 2)" in result.output
    after = stored(app)
    assert list(after) == ["return_policy", "shipping_fee", "point_card"]
    # Updated in place: same row, new answer; the variant that is gone from the file is gone.
    assert after["return_policy"].id == before["return_policy"].id
    assert after["return_policy"].answer.startswith("商品到着から14日以内")
    assert after["return_policy"].variants == ["商品を返品したい"]
    assert after["shipping_fee"].updated_at == before["shipping_fee"].updated_at


def test_same_file_again_keeps_the_version(app, runner):
    runner.invoke(args=["faq", "import", str(FAQ_FILE)])
    result = runner.invoke(args=["faq", "import", str(FAQ_FILE)])
    assert "0 added, 0 updated, 0 removed, 6 unchanged (version 1)" in result.output
    assert version(app) == 1


@pytest.mark.parametrize(
    ("text", "line", "reason"),
    [
        ("faqs:\n  - id: a\n    question: 送料は?\n", 2, "entry has no answer"),
        (
            "faqs:\n  - id: a\n    question: q\n    answer: x\n  - id: a\n    question: q\n"
            "    answer: y\n",
            5,
            "duplicate id 'a'",
        ),
        ("faqs:\n  - id: a\n    question: q\n    answer: x\n    extra: 1\n", 5, "unknown field"),
        ("faqs:\n  - id: a\n    question: [\n", 4, "not valid YAML"),
    ],
)
def test_invalid_file_is_refused_with_line_and_reason_and_changes_nothing(
    app, runner, tmp_path, text, line, reason
):
    runner.invoke(args=["faq", "import", str(FAQ_FILE)])
    result = runner.invoke(args=["faq", "import", str(write(tmp_path, text))])
    assert result.exit_code == 1
    assert f"line {line}: " in result.output and reason in result.output
    assert "nothing was changed" in result.output
    assert len(stored(app)) == 6 and version(app) == 1


def test_import_is_atomic_when_the_database_fails_midway(app, runner, tmp_path, monkeypatch):
    runner.invoke(args=["faq", "import", str(FAQ_FILE)])

    def fail_after_flush(*args: object) -> None:
        # Reached only after every row change was flushed to the database.
        raise RuntimeError("connection lost")

    monkeypatch.setattr(faq_store, "ImportResult", fail_after_flush)
    result = runner.invoke(args=["faq", "import", str(write(tmp_path, CHANGED))])
    monkeypatch.undo()
    assert result.exit_code != 0
    rows = stored(app)
    assert len(rows) == 6 and rows["return_policy"].answer.startswith("商品到着から7日以内")
    assert version(app) == 1


def test_export_round_trips(app, runner, tmp_path):
    runner.invoke(args=["faq", "import", str(FAQ_FILE)])
    printed = runner.invoke(args=["faq", "export"])
    assert printed.exit_code == 0
    assert load_faq_file(printed.output) == load_faq_file(FAQ_FILE)
    out = tmp_path / "out.yaml"
    assert runner.invoke(args=["faq", "export", str(out)]).exit_code == 0
    # The exported file imports back to no change at all.
    again = runner.invoke(args=["faq", "import", str(out)])
    assert "0 added, 0 updated, 0 removed, 6 unchanged" in again.output


def test_if_empty_imports_only_once(app, runner, tmp_path):
    assert "6 added" in runner.invoke(args=["faq", "import", "--if-empty", str(FAQ_FILE)]).output
    result = runner.invoke(args=["faq", "import", "--if-empty", str(write(tmp_path, CHANGED))])
    assert result.output.strip() == "FAQ already present; nothing imported"
    assert len(stored(app)) == 6


def test_import_without_a_file_needs_faq_path(runner):
    result = runner.invoke(args=["faq", "import"])
    assert result.exit_code == 2 and "FAQ_PATH" in result.output


def test_seed_if_empty(app):
    with app.app_context():
        session = app.extensions["db"].session()
        now = app.extensions["bot"].clock.now()
        first = faq_store.seed_if_empty(session, FAQ_FILE, now)
        session.commit()
        assert first is not None and first.added == 6
        assert faq_store.seed_if_empty(session, FAQ_FILE, now) is None
        with pytest.raises(FaqFileError, match="does not exist"):
            faq_store.read_faq_file(FAQ_FILE.with_name("missing.yaml"))


def test_ask_prints_one_json_object(runner, faq_imported):
    answer = json.loads(runner.invoke(args=["faq", "ask", "送料はいくらですか?"]).output)
    assert set(answer) == {"intent", "faq_id", "score", "candidates"}
    assert answer["intent"] == "faq" and answer["faq_id"] == "shipping_fee"
    assert answer["candidates"][0] == {"faq_id": "shipping_fee", "score": answer["score"]}
    human = json.loads(runner.invoke(args=["faq", "ask", "担当者と話したい"]).output)
    assert human == {"intent": "human", "faq_id": None, "score": 1.0, "candidates": []}
    none = json.loads(runner.invoke(args=["faq", "ask", "今日はいい天気ですね"]).output)
    assert none["intent"] == "none" and none["faq_id"] is None


def test_ask_uses_the_database_or_a_file(runner, tmp_path):
    empty = json.loads(runner.invoke(args=["faq", "ask", "送料はいくらですか?"]).output)
    assert empty["intent"] == "none"  # nothing imported yet
    from_file = runner.invoke(args=["faq", "ask", "--faq", str(FAQ_FILE), "送料はいくらですか?"])
    assert json.loads(from_file.output)["faq_id"] == "shipping_fee"


EVAL_ROWS = (
    "query\texpected\n"
    "送料はいくらですか?\tshipping_fee\n"
    "返品したいです\treturn_policy\n"
    "ギフト包装はできますか?\tpayment_methods\n"
    "担当者と話したい\tHUMAN\n"
    "今日はいい天気ですね\tNONE\n"
)


def test_eval_prints_accuracy_per_kind_and_the_misses(runner, faq_imported, tmp_path):
    tsv = write(tmp_path, EVAL_ROWS, "queries.tsv")
    result = runner.invoke(args=["faq", "eval", str(tsv)])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[:8] == [
        "faq    2/3  66.7%  right entry first",
        "       2/3  66.7%  answered at once",
        "       2/3  66.7%  naive floor: character-bigram TF-IDF first",
        "human  1/1  100.0%",
        "none   1/1  100.0%",
        "all    4/5  80.0%",
        "confident wrong answers: 1 of 5",
        "misses: 1",
    ]
    assert lines[8].startswith(
        "  ギフト包装はできますか?\texpected payment_methods\tgot gift_wrapping (answer"
    )


def test_eval_never_lists_the_misses_of_the_never_tuned_set(runner, faq_imported, tmp_path):
    # Nothing may be chosen by the never-tuned set's misses: eval shows its figures only.
    tsv = write(tmp_path, EVAL_ROWS, cli.NEVER_TUNED)
    result = runner.invoke(args=["faq", "eval", str(tsv)])
    assert result.exit_code == 0, result.output
    assert "misses: 1" in result.output
    assert "\texpected" not in result.output


def test_eval_against_a_file_instead_of_the_database(runner, tmp_path):
    tsv = write(tmp_path, EVAL_ROWS, "queries.tsv")
    result = runner.invoke(args=["faq", "eval", "--faq", str(FAQ_FILE), str(tsv)])
    assert result.output.startswith("faq    2/3  66.7%  right entry first")


def test_eval_prints_every_set_with_its_own_figures(runner, tmp_path):
    first = write(tmp_path, EVAL_ROWS, "first.tsv")
    # Nothing in the test FAQ speaks of shoes; the floor ranks anything sharing a bigram first.
    second = write(
        tmp_path,
        "query\texpected\n# a comment line is skipped\n"
        "送料はいくら?\tshipping_fee\n靴のサイズ\tgift_wrapping\n",
        "second.tsv",
    )
    args = ["faq", "eval", "--no-misses", "--faq", str(FAQ_FILE), str(first), str(second)]
    result = runner.invoke(args=args)
    assert result.exit_code == 0, result.output
    out = result.output
    assert "== first.tsv (5 questions)" in out and "== second.tsv (2 questions)" in out
    second_part = out.split("== second.tsv")[1]
    assert "faq    1/2  50.0%  right entry first" in second_part
    assert re.search(r"^confident wrong answers: \d+ of 2$", second_part, re.M)
    assert "human" not in second_part  # no rows of that kind, no line
    assert "\texpected" not in out  # --no-misses


def test_eval_without_files_reads_every_set_in_the_repository(runner, tmp_path, monkeypatch):
    from bot.faq import cli

    write(tmp_path, EVAL_ROWS, "a.tsv")
    write(tmp_path, EVAL_ROWS, "b.tsv")
    monkeypatch.setattr(cli, "EVAL_SETS", tmp_path)
    result = runner.invoke(args=["faq", "eval", "--no-misses", "--faq", str(FAQ_FILE)])
    assert result.exit_code == 0, result.output
    assert "== a.tsv (5 questions)" in result.output and "== b.tsv" in result.output


def test_eval_refuses_a_line_without_a_tab(runner, tmp_path):
    bad = write(tmp_path, "query\texpected\n送料はいくら?\n", "bad.tsv")
    result = runner.invoke(args=["faq", "eval", "--faq", str(FAQ_FILE), str(bad)])
    assert result.exit_code != 0
    assert "query<TAB>expected" in result.output


def test_a_second_process_picks_up_a_reimport_without_restart(
    app, runner, settings, db, redis, line, tmp_path
):
    runner.invoke(args=["faq", "import", str(FAQ_FILE)])
    other = create_app(settings, line=line, redis=redis, database=db)  # another process
    cache = faq_store.FaqCache(check_every=5.0, monotonic=lambda: ticks[0])
    ticks = [100.0]
    with other.app_context():
        session = other.extensions["db"].session()
        assert cache.matcher(session).ask("ポイントは貯まりますか?").faq_id != "point_card"
        built = cache.matcher(session)

    runner.invoke(args=["faq", "import", str(write(tmp_path, CHANGED))])
    with other.app_context():
        session = other.extensions["db"].session()
        assert cache.matcher(session) is built  # within the check interval: no query, no rebuild
        ticks[0] += 5.0
        assert cache.is_stale(session)
        fresh = cache.matcher(session)
        assert fresh is not built and cache.version == 2
        assert fresh.ask("ポイントは貯まりますか?").faq_id == "point_card"
        assert not cache.is_stale(session)
    with app.app_context():
        state = app.extensions["db"].session().get(FaqState, faq_store.STATE_ID)
        assert state.entry_count == 3 and state.source.endswith("faq.yaml")
