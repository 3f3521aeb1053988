"""FAQ matcher benchmark: per-query p50/p95, build time, memory, accuracy.

Run from the repository root: `.venv/bin/python bench/faq.py`. The confidence is refitted by
`flask faq calibrate` (bot/faq/cli.py).
"""

from __future__ import annotations

import argparse
import random
import resource
import statistics
import sys
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot.faq.analyzer import default_analyzer  # noqa: E402
from bot.faq.calibration import evaluate, read_eval_rows  # noqa: E402
from bot.faq.cli import NEVER_TUNED  # noqa: E402
from bot.faq.file_format import FaqEntry, load_faq_file  # noqa: E402
from bot.faq.matcher import FaqMatcher  # noqa: E402

SHARED_FAQ = ROOT / ".." / "shared" / "faq"
SAMPLE_FAQ = ROOT / "data" / "faq_sample.yaml"
EVAL_SETS = ROOT / "tests" / "faq"

_NOUN_TEXT = (
    "送料 配送 返品 交換 ポイント クーポン 会員 パスワード 領収書 請求書 在庫 カート サイズ "
    "ラッピング 海外 店舗 注文 支払い 手数料 メール 住所 商品 予約 保証 修理 色 素材 洗濯 "
    "定期便 おまとめ 同梱 予約商品 名入れ 刺繍 採寸 ギフト券 口コミ レビュー"
)
_NOUNS = _NOUN_TEXT.split()
_FRAMES = (
    "{a}の{b}について教えてください",
    "{a}と{b}はどうなりますか",
    "{a}で{b}を変更できますか",
    "{a}の{b}はいくらですか",
    "{a}が{b}できない",
)


def synthetic_entries(n: int, seed: int = 7) -> list[FaqEntry]:
    """n made-up entries built from shop nouns, for timing only."""
    rng = random.Random(seed)
    entries = []
    for i in range(n):
        a, b, c = rng.sample(_NOUNS, 3)
        frame = rng.choice(_FRAMES)
        entries.append(
            FaqEntry(
                id=f"syn_{i}",
                question=frame.format(a=a, b=b),
                variants=(rng.choice(_FRAMES).format(a=b, b=c),),
                keywords=(a + b, c),
                answer=f"{a}と{b}については、{c}のページをご確認ください。",
                category=None,
            )
        )
    return entries


def wide_entries(n: int, seed: int = 11) -> list[FaqEntry]:
    """n made-up entries over some 3,000 real words (kanji words that have a vector).

    The shop-noun entries above share a few dozen words; soft matching costs grow with the
    number of distinct words in the FAQ, so this set is the harder one for timing.
    """
    import json

    from bot.faq.vectors import default_vectors, package_vocab_dir

    vocab, vectors = package_vocab_dir(), default_vectors()
    if vocab is None or vectors is None:
        return []
    strings = json.loads((vocab / "strings.json").read_text(encoding="utf-8"))
    words = [
        w
        for w in strings
        if 2 <= len(w) <= 3 and all("\u4e00" <= c <= "\u9fff" for c in w) and vectors.row(w)
    ]
    rng = random.Random(seed)
    pool = rng.sample(words, min(3000, len(words)))
    entries = []
    for i in range(n):
        a, b, c, d = rng.sample(pool, 4)
        entries.append(
            FaqEntry(
                id=f"wide_{i}",
                question=rng.choice(_FRAMES).format(a=a, b=b),
                variants=(rng.choice(_FRAMES).format(a=c, b=d),),
                keywords=(a, c),
                answer=f"{a}と{b}については、{c}と{d}のページをご確認ください。",
                category=None,
            )
        )
    return entries


def time_queries(matcher: FaqMatcher, queries: list[str], rounds: int = 5) -> tuple[float, float]:
    """p50 and p95 of one ask() in milliseconds."""
    samples = []
    for _ in range(rounds):
        for q in queries:
            start = time.perf_counter()
            matcher.ask(q)
            samples.append((time.perf_counter() - start) * 1000)
    samples.sort()
    return statistics.median(samples), samples[int(len(samples) * 0.95)]


def time_build(entries: list[FaqEntry]) -> tuple[FaqMatcher, float, float]:
    """Build, returning the matcher, seconds taken and the index's traced MiB."""
    start = time.perf_counter()
    matcher = FaqMatcher.build(entries)
    seconds = time.perf_counter() - start
    # Measured on a second build: tracing slows the build down several times.
    tracemalloc.start()
    traced = FaqMatcher.build(entries)
    size = tracemalloc.get_traced_memory()[0] / 2**20
    tracemalloc.stop()
    del traced
    return matcher, seconds, size


def main() -> None:
    """Print timings, memory and accuracy."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--shared", type=Path, default=SHARED_FAQ, help="folder of faq.yaml and dev_queries.tsv"
    )
    args = parser.parse_args()

    shared = args.shared
    faq_path = shared / "faq.yaml"
    faq_sets = [load_faq_file(SAMPLE_FAQ)]
    if faq_path.exists():
        faq_sets.insert(0, load_faq_file(faq_path))
    start = time.perf_counter()
    default_analyzer().features("辞書を読み込む")
    print(f"dictionary load: {time.perf_counter() - start:.2f} s")

    queries = ["送料はいくら?", "荷物が届かない", "オペレーターと話したい", "今日はいい天気ですね"]
    if faq_path.exists():
        queries = [q for q, _ in read_eval_rows(shared / "dev_queries.tsv")]
    named = [("sample FAQ", faq_sets[-1]), ("1,000 synthetic", synthetic_entries(1000))]
    wide = wide_entries(1000)
    if wide:
        named.append(("1,000 wide-vocab", wide))
    if faq_path.exists():
        named.insert(0, ("shared FAQ", faq_sets[0]))
    for name, entries in named:
        matcher, seconds, peak = time_build(entries)
        p50, p95 = time_queries(matcher, queries)
        print(
            f"{name:>16}: {len(entries)} entries, build {seconds * 1000:.0f} ms "
            f"(index {peak:.1f} MiB), ask p50 {p50:.2f} ms, p95 {p95:.2f} ms"
        )

    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"process peak RSS: {rss:.0f} MiB (the Sudachi dictionary is memory-mapped)")
    matcher = FaqMatcher.build(faq_sets[0])
    # Tuning sets first, the never-tuned one last.
    sets = sorted(EVAL_SETS.glob("*.tsv"), key=lambda p: (p.name == NEVER_TUNED, p.name))
    if faq_path.exists():
        sets.insert(0, shared / "dev_queries.tsv")
    for path in sets:
        name = path.stem
        report = evaluate(matcher, read_eval_rows(path))
        figures = ", ".join(
            f"{kind} {report.accuracy(kind):.1%} ({report.correct.get(kind, 0)}/{total})"
            for kind, total in sorted(report.totals.items())
        )
        print(
            f"{name}: {figures}; answered at once {report.answered}, "
            f"wrong answers {report.confident_wrong}"
        )
        # The never-tuned set's misses are not shown: nothing may be chosen by them.
        for miss in report.misses if path.name != NEVER_TUNED else ():
            print("   miss:", *miss)


if __name__ == "__main__":
    main()
