"""Indexing 10,000 skills and searching them: ``registry.add`` and ``search_skills``.

Generates ``--skills`` spec-convention skills (``metadata.category``, comma-separated
``metadata.tags``) in a temporary folder: categories from DESIGN §1's list, 3-6 tags each
from a vocabulary of 60, descriptions of 20-60 words and bodies of 200-400 words drawn
from a 3,000-word list with Zipf-like frequencies (a few words are everywhere, most are
rare, as in prose), all from a fixed random seed. Then, on a fresh BRAHMI_HOME:

- indexing: ``SkillRegistry.add(folder)`` (read, validate and hash every SKILL.md, then
  one transaction inserting skills, tags and the FTS5 rows), after the built-ins are in;
- ``--searches`` category+tag searches with varied arguments (both filters, as the seed
  planners search), and as many ``q`` searches of 1-3 words, through
  ``SkillRegistry.search`` with the default limit of 20, each timed alone.

Prints p50 and p99 in ms against the targets (p50 <= 5 ms, p99 <= 20 ms; indexing 10,000
skills <= 10 s).

    python -m benchmarks.skill_search [--skills 10000] [--searches 1000] [--seed 4] [--profile]
"""

from __future__ import annotations

import argparse
import cProfile
import itertools
import pstats
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from brahmi.config import Settings
from brahmi.registry import SkillHit, SkillRegistry
from brahmi.service import Brahmi
from brahmi.skills import sources

TARGET_P50_MS = 5.0
TARGET_P99_MS = 20.0
TARGET_INDEX_S = 10.0
TARGET_SKILLS = 10_000
CATEGORIES = [
    "planner",
    "development",
    "testing",
    "critique",
    "deployment",
    "devops",
    "data",
    "meta",
]
#: Words real skills use; the rest of the word list is made of syllables.
_SEED_TEXT = """
backend frontend api rest graphql database schema migration query index cache queue
worker deploy release rollback container image kubernetes docker terraform cloud
bucket storage upload download stream event message broker kafka redis postgres
sqlite mysql python typescript javascript react vue svelte angular component page
route handler middleware auth token session login permission role user account
billing invoice payment order cart product catalog search ranking filter sort
report dashboard chart metric alert log trace monitor incident review critique
test unit integration acceptance fixture mock coverage lint format type check
build compile bundle package version dependency upgrade security audit secret
config environment variable setting flag feature plan task step goal output
input validate parse render template email notify schedule cron retry timeout
limit error failure success status health probe scale replica shard partition
backup restore export import csv json yaml xml markdown document reference
asset script command shell terminal file folder path repository branch commit
merge pull request issue ticket sprint estimate design architecture pattern
service module function class method interface protocol endpoint client server
"""
SEED_WORDS = _SEED_TEXT.split()
SYLLABLES = [
    "ka", "lo", "mi", "ne", "ru", "ta", "vo", "si", "pe", "da", "zu", "fo", "gi", "ho",
    "ba", "xe", "qui", "tor", "lan", "mer", "dis", "pra", "sen", "vel", "cor", "tis",
]  # fmt: skip
VOCABULARY_SIZE = 3_000
TAG_COUNT = 60


def word_list(rng: random.Random) -> list[str]:
    """``VOCABULARY_SIZE`` distinct words: the seed words, then syllable words."""
    words = list(dict.fromkeys(SEED_WORDS))
    seen = set(words)
    while len(words) < VOCABULARY_SIZE:
        word = "".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 4)))
        if word not in seen:
            seen.add(word)
            words.append(word)
    return words


class Corpus:
    """Deterministic text: words drawn with Zipf-like weights (rank r weighs 1/r)."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        words = word_list(self.rng)
        self.rng.shuffle(words)
        self.words = words
        self.cumulative = list(
            itertools.accumulate(1.0 / rank for rank in range(1, len(words) + 1))
        )
        self.tags = self.rng.sample(SEED_WORDS, TAG_COUNT)

    def draw(self, n: int) -> list[str]:
        """``n`` words, common ones often."""
        return self.rng.choices(self.words, cum_weights=self.cumulative, k=n)

    def sentence_text(self, n: int) -> str:
        """``n`` words as sentences of 8-16 words."""
        words = self.draw(n)
        out: list[str] = []
        while words:
            size = self.rng.randint(8, 16)
            chunk, words = words[:size], words[size:]
            out.append(" ".join(chunk).capitalize() + ".")
        return " ".join(out)


def generate(root: Path, count: int, corpus: Corpus) -> None:
    """Write ``count`` spec-convention skills under ``root``."""
    rng = corpus.rng
    for i in range(count):
        name = f"{'-'.join(corpus.draw(2))}-{i:05d}"
        category = CATEGORIES[i % len(CATEGORIES)]
        tags = ",".join(rng.sample(corpus.tags, rng.randint(3, 6)))
        description = corpus.sentence_text(rng.randint(20, 60))[:1024]
        paragraphs = [corpus.sentence_text(rng.randint(40, 80)) for _ in range(5)]
        folder = root / name
        folder.mkdir()
        (folder / "SKILL.md").write_text(
            f"---\nname: {name}\ndescription: {description}\nlicense: MIT\nmetadata:\n"
            f"  category: {category}\n  tags: {tags!r}\n---\n\n# {name}\n\n"
            + "\n\n".join(paragraphs)
            + "\n",
            encoding="utf-8",
        )


def percentile(samples: list[float], fraction: float) -> float:
    """The ``fraction`` quantile of ``samples`` (nearest rank)."""
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, max(0, round(fraction * len(ordered)) - 1))]


def timed(calls: list[Callable[[], list[SkillHit]]]) -> tuple[list[float], int]:
    """Milliseconds of each call, and how many returned no hit."""
    samples: list[float] = []
    empty = 0
    for call in calls:
        started = time.perf_counter()
        hits = call()
        samples.append((time.perf_counter() - started) * 1000)
        empty += not hits
    return samples, empty


def searches(
    registry: SkillRegistry, corpus: Corpus, n: int
) -> dict[str, list[Callable[[], list[SkillHit]]]]:
    """``n`` category+tag searches and ``n`` q searches, with varied arguments."""
    rng = corpus.rng
    filtered: list[Callable[[], list[SkillHit]]] = []
    for _ in range(n):
        category = rng.choice(CATEGORIES)
        tag = rng.choice(corpus.tags)
        if rng.random() < 0.3:  # planners write categories and tags in any case
            category, tag = category.upper(), tag.capitalize()
        filtered.append(lambda c=category, t=tag: registry.search(category=c, tag=t))
    texts: list[Callable[[], list[SkillHit]]] = []
    for _ in range(n):
        q = " ".join(corpus.draw(rng.randint(1, 3)))
        texts.append(lambda q=q: registry.search(q=q))
    return {"category+tag": filtered, "q (1-3 words)": texts}


def report(label: str, samples: list[float], empty: int) -> bool:
    """Print one line of figures; True when both targets are met."""
    p50, p99 = percentile(samples, 0.50), percentile(samples, 0.99)
    met = p50 <= TARGET_P50_MS and p99 <= TARGET_P99_MS
    verdict = "meets" if met else "MISSES"
    print(
        f"{label:<15} {len(samples):>6} {p50:>8.2f} {p99:>8.2f} {statistics.mean(samples):>8.2f}"
        f" {max(samples):>8.2f} {empty:>6}  {verdict} p50<={TARGET_P50_MS:g}, "
        f"p99<={TARGET_P99_MS:g}"
    )
    return met


def profile_of(label: str, call: Callable[[], object], top: int = 20) -> None:
    """Print where ``call`` spends its time."""
    profiler = cProfile.Profile()
    profiler.enable()
    call()
    profiler.disable()
    print(f"\ncProfile of {label}")
    stats = pstats.Stats(profiler)
    stats.sort_stats("cumulative").print_stats(top)
    stats.sort_stats("tottime").print_stats(top)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skills", type=int, default=TARGET_SKILLS, help="skills to index")
    parser.add_argument("--searches", type=int, default=1000, help="searches of each kind")
    parser.add_argument("--seed", type=int, default=4, help="random seed of the corpus")
    parser.add_argument(
        "--profile", action="store_true", help="also print a cProfile of indexing and searches"
    )
    args = parser.parse_args()
    corpus = Corpus(args.seed)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "skills"
        root.mkdir()
        started = time.perf_counter()
        generate(root, args.skills, corpus)
        generated_s = time.perf_counter() - started
        size_mb = sum(p.stat().st_size for p in root.rglob("SKILL.md")) / 1e6
        print(
            f"{args.skills} spec-convention skills, {size_mb:.1f} MB of SKILL.md "
            f"(generated in {generated_s:.1f} s, seed {args.seed}); SQLite WAL, FTS5"
        )

        started = time.perf_counter()
        scan = sources.scan(root, "bench/skills")
        read_s = time.perf_counter() - started
        assert len(scan.skills) == args.skills, scan.problems[:3]

        brahmi = Brahmi(Settings(home=Path(tmp) / "home", forced_executor="noop"))
        try:
            registry = brahmi.registry
            registry.sync_builtins()  # the built-ins are in before the clock starts
            started = time.perf_counter()
            _, outcome = registry.add(str(root), owner_repo="bench/skills")
            index_s = time.perf_counter() - started
            assert outcome.indexed == args.skills, outcome.problems[:3]
            verdict = "meets" if index_s <= TARGET_INDEX_S else "MISSES"
            note = (
                f"  {verdict} the {TARGET_INDEX_S:g} s target"
                if args.skills == TARGET_SKILLS
                else ""
            )
            print(
                f"indexing: registry.add {index_s:.2f} s ({args.skills / index_s:,.0f} skills/s;"
                f" reading the files alone {read_s:.2f} s){note}"
            )

            runs = searches(registry, corpus, args.searches)
            for call in itertools.islice(itertools.chain(*runs.values()), 50):
                call()  # warm-up: statement caches, the page cache
            print(
                f"\n{'search':<15} {'count':>6} {'p50 ms':>8} {'p99 ms':>8} {'mean ms':>8}"
                f" {'max ms':>8} {'empty':>6}"
            )
            for label, calls in runs.items():
                samples, empty = timed(calls)
                report(label, samples, empty)

            if args.profile:
                folder = Path(tmp) / "home-profile"
                again = Brahmi(Settings(home=folder, forced_executor="noop"))
                try:
                    again.registry.sync_builtins()
                    profile_of(
                        "indexing (registry.add)",
                        lambda: again.registry.add(str(root), owner_repo="bench/skills"),
                    )
                finally:
                    again.close()
                for label, calls in runs.items():
                    profile_of(f"{label} searches", lambda calls=calls: [c() for c in calls])
        finally:
            brahmi.close()


if __name__ == "__main__":
    main()
