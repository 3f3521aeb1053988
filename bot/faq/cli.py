"""`flask faq ...`: import, export, ask and evaluate the shop's FAQ."""

from __future__ import annotations

import json
from pathlib import Path

import click
from flask.cli import with_appcontext

from bot.core.db import transaction
from bot.core.services import current_services
from bot.core.settings import REPO_ROOT
from bot.faq import store as faq_store
from bot.faq.calibration import (
    calibration_samples,
    evaluate,
    fit_calibration,
    floor_right_first,
    query_samples,
    read_eval_rows,
)
from bot.faq.file_format import FaqFileError
from bot.faq.matcher import CALIBRATION_PATH, FaqMatcher

SAMPLE_FAQ = REPO_ROOT / "data" / "faq_sample.yaml"
_FILE = click.Path(exists=True, dir_okay=False, path_type=Path)


@click.group("faq")
def faq_group() -> None:
    """The FAQ knowledge base the bot answers from."""


def _read(path: Path) -> list:
    try:
        return faq_store.read_faq_file(path)
    except FaqFileError as exc:
        raise click.ClickException(f"{path}: {exc} (nothing was changed)") from None


def default_faq_path() -> Path | None:
    """FAQ_PATH, or the shipped sample FAQ in development."""
    settings = current_services().settings
    if settings.faq_path is not None:
        return settings.faq_path
    return SAMPLE_FAQ if settings.env == "development" else None


@faq_group.command("import")
@click.argument("file", type=_FILE, required=False)
@click.option(
    "--if-empty", is_flag=True, help="Only import when no FAQ was ever imported (for start-up)."
)
@with_appcontext
def import_command(file: Path | None, if_empty: bool) -> None:
    """Replace the FAQ with FILE (default: FAQ_PATH, or the sample FAQ in development)."""
    path = file or default_faq_path()
    if path is None:
        raise click.UsageError("give a FILE or set FAQ_PATH")
    services = current_services()
    session = services.db.session()
    if if_empty and faq_store.current_version(session):
        click.echo("FAQ already present; nothing imported")
        return
    entries = _read(path)
    with transaction(session):
        result = faq_store.import_entries(session, entries, services.clock.now(), source=str(path))
    click.echo(
        f"imported {path.name}: {result.added} added, {result.updated} updated, "
        f"{result.removed} removed, {result.unchanged} unchanged (version {result.version})"
    )


@faq_group.command("export")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path), required=False)
@with_appcontext
def export_command(file: Path | None) -> None:
    """Print the stored FAQ as YAML (or write it to FILE)."""
    text = faq_store.export_yaml(current_services().db.session())
    if file is None:
        click.echo(text, nl=False)
    else:
        file.write_text(text, encoding="utf-8")
        click.echo(f"wrote {file}")


def _matcher(faq: Path | None) -> FaqMatcher:
    if faq is not None:
        return FaqMatcher.build(_read(faq))
    return FaqMatcher.build(faq_store.load_entries(current_services().db.session()))


@faq_group.command("ask")
@click.argument("text")
@click.option("--faq", type=_FILE, help="Match against this YAML file instead of the database.")
@with_appcontext
def ask_command(text: str, faq: Path | None) -> None:
    """Print how the bot would take TEXT, as one JSON object."""
    result = _matcher(faq).ask(text)
    click.echo(json.dumps(result.to_json(), ensure_ascii=False))


EVAL_SETS = REPO_ROOT / "tests" / "faq"


def _line(label: str, right: int, total: int, note: str = "") -> str:
    share = f"{right / total:.1%}" if total else "-"
    return f"{label:<6} {right}/{total}  {share}" + (f"  {note}" if note else "")


def _entries(faq: Path | None) -> list:
    if faq is not None:
        return _read(faq)
    return faq_store.load_entries(current_services().db.session())


@faq_group.command("eval")
@click.argument("tsv", type=_FILE, nargs=-1)
@click.option("--faq", type=_FILE, help="Evaluate this YAML file instead of the database.")
@click.option("--misses/--no-misses", default=True, help="List the questions that came out wrong.")
@with_appcontext
def eval_command(tsv: tuple[Path, ...], faq: Path | None, misses: bool) -> None:
    """Figures per TSV of query / expected (default: every set under tests/faq), with the floor.

    For FAQ questions: the right entry first (answered or first choice offered), answered at
    once, and the naive character-bigram TF-IDF floor; then requests for a person, off-topic,
    and answers given from the wrong entry.
    """
    paths = tsv or tuple(sorted(EVAL_SETS.glob("*.tsv")))
    if not paths:
        raise click.UsageError("give a TSV of query<TAB>expected")
    entries = _entries(faq)
    matcher = FaqMatcher.build(entries)
    for n, path in enumerate(paths):
        try:
            rows = read_eval_rows(path)
        except ValueError:
            raise click.ClickException(f"{path}: each line needs query<TAB>expected") from None
        report = evaluate(matcher, rows)
        if len(paths) > 1:
            click.echo(("" if n == 0 else "\n") + f"== {path.name} ({len(rows)} questions)")
        faq_total = report.totals.get("faq", 0)
        if faq_total:
            click.echo(_line("faq", report.correct.get("faq", 0), faq_total, "right entry first"))
            click.echo(_line("", report.answered, faq_total, "answered at once"))
            floor = floor_right_first(entries, rows)
            click.echo(_line("", floor, faq_total, "naive floor: character-bigram TF-IDF first"))
        for kind in ("human", "none"):
            total = report.totals.get(kind, 0)
            if total:
                click.echo(_line(kind, report.correct.get(kind, 0), total))
        overall = sum(report.totals.values())
        if overall:
            click.echo(_line("all", sum(report.correct.values()), overall))
        click.echo(f"confident wrong answers: {report.confident_wrong} of {overall}")
        click.echo(f"misses: {len(report.misses)}")
        if path.name == NEVER_TUNED:
            # Nothing may be chosen by the never-tuned set's misses: only its figures are shown.
            continue
        if misses:
            for query, expected, got in report.misses:
                click.echo(f"  {query}\texpected {expected}\tgot {got}")


# Measured only, never fitted on: the calibration must not see it.
NEVER_TUNED = "blind_final2.tsv"


def _tuning_sets(faq: Path | None) -> tuple[Path, ...]:
    sets = [p for p in sorted(EVAL_SETS.glob("*.tsv")) if p.name != NEVER_TUNED]
    if faq is not None and (faq.parent / "dev_queries.tsv").exists():
        sets.insert(0, faq.parent / "dev_queries.tsv")
    return tuple(sets)


@faq_group.command("calibrate")
@click.argument("tsv", type=_FILE, nargs=-1)
@click.option("--faq", type=_FILE, help="The FAQ the query sets are labelled against (YAML).")
@click.option(
    "--also",
    "others",
    type=_FILE,
    multiple=True,
    help="More FAQ files whose own phrasings are left out and asked (default: the sample FAQ).",
)
@click.option(
    "--write",
    "out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=CALIBRATION_PATH,
    show_default=True,
    help="Where the fitted calibration goes; '-' prints it only.",
)
@with_appcontext
def calibrate_command(tsv: tuple[Path, ...], faq: Path | None, others: tuple, out: Path) -> None:
    """Refit the confidence models and thresholds (default sets: tests/faq but the final one).

    Samples: each phrasing of the FAQ (and of the --also FAQs) left out of its entry and
    asked, the built-in off-topic lines, and the labelled queries of TSV against the FAQ.
    """
    paths = tsv or _tuning_sets(faq)
    if any(p.name == NEVER_TUNED for p in paths):
        raise click.UsageError(f"{NEVER_TUNED} is only measured, never fitted on")
    entries = _entries(faq)
    if not entries:
        raise click.UsageError("the FAQ is empty")
    samples = calibration_samples(entries)
    for other in others or (SAMPLE_FAQ,):
        samples += calibration_samples(_read(other))
    matcher = FaqMatcher.build(entries)
    queries = []
    for path in paths:
        try:
            queries += query_samples(matcher, read_eval_rows(path))
        except ValueError:
            raise click.ClickException(f"{path}: each line needs query<TAB>expected") from None
    calibration = fit_calibration(samples, queries)
    text = json.dumps(calibration.to_json(), ensure_ascii=False, indent=1) + "\n"
    if str(out) == "-":
        click.echo(text, nl=False)
        return
    out.write_text(text, encoding="utf-8")
    click.echo(
        f"wrote {out}: {len(samples)} phrasing and off-topic samples, {len(queries)} queries "
        f"from {len(paths)} sets; answer at {calibration.answer_at:.3f} (relevance at least "
        f"{calibration.relevant_to_answer:.3f}), suggest at relevance "
        f"{calibration.suggest_at:.3f} (restart to load it)"
    )
