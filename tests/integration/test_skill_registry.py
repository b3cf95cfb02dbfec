"""The skill registry on a real SQLite file (DESIGN §1, §2, §8).

Built-ins, folder sources, the conflict rule, re-indexing, FTS5-ranked search, batch
validation against the registry and the skill version every run records. Skills are real
folders in ``tmp_path``; the registry is the one a :class:`~brahmi.service.Brahmi` opens.
"""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import update

import brahmi.registry as registry_module
from brahmi import errors
from brahmi.config import Settings
from brahmi.domain.models import TaskRecord, TaskStatus
from brahmi.registry import SkillRegistry
from brahmi.service import Brahmi
from brahmi.skills.catalog import BUILTIN_DIR
from brahmi.skills.skill import load_skill
from brahmi.store import tables
from brahmi.testing import run_until_settled


@pytest.fixture
def database_url(either_database: str | None) -> str | None:
    """Every test here runs on SQLite and on PostgreSQL."""
    return either_database


BUILTINS = sorted(p.name for p in BUILTIN_DIR.iterdir() if (p / "SKILL.md").is_file())

#: The (category, tag) searches the seed planners make, and the skill that must come first.
SEED_SEARCHES = [
    ("development", "backend", "backend-development"),
    ("development", "frontend", "frontend-development"),
    ("development", "metadata", "aramb-metadata"),
    ("testing", "backend", "backend-testing"),
    ("testing", "frontend", "frontend-testing"),
    ("critique", "backend", "backend-critique"),
    ("critique", "frontend", "frontend-critique"),
    ("deployment", "backend", "backend-deployment"),
    ("deployment", "frontend", "frontend-deployment"),
]

ECHO_SCRIPT = """\
import json, sys
request = json.load(sys.stdin)
print(json.dumps({"outputs": {"echoed": request["task"]["inputs"]}}))
"""


def write_skill(
    root: Path,
    name: str,
    description: str = "",
    *,
    category: str | None = None,
    tags: str | None = None,
    body: str = "",
    folder: str | None = None,
    extra: str = "",
) -> Path:
    """A spec-convention skill ``root/(folder or name)``."""
    path = root / (folder or name)
    path.mkdir(parents=True, exist_ok=True)
    meta = ""
    if category is not None or tags is not None:
        meta = "metadata:\n"
        meta += f"  category: {category}\n" if category is not None else ""
        meta += f"  tags: {json.dumps(tags)}\n" if tags is not None else ""
    (path / "SKILL.md").write_text(
        f"---\nname: {name}\ndescription: {json.dumps(description or f'The {name} skill.')}\n"
        f"{meta}{extra}---\n\n# {name}\n\n{body or 'Follow the task.'}\n",
        encoding="utf-8",
    )
    return path


@pytest.fixture
def brahmi(settings: Settings) -> Iterator[Brahmi]:
    """A Brahmi on a real SQLite file whose tasks run on the runtimes their skills name."""
    instance = Brahmi(settings.with_(forced_executor=None))
    yield instance
    instance.close()


@pytest.fixture
def registry(brahmi: Brahmi) -> SkillRegistry:
    """The registry of ``brahmi``."""
    return brahmi.registry


@pytest.fixture
def library(tmp_path: Path) -> Path:
    """A folder of skills to search: categories, tags and text chosen for each test."""
    root = tmp_path / "library"
    write_skill(
        root,
        "zebra-herding",
        "Keeps a herd together on open ground.",
        category="data",
        tags="ETL,Animals",
    )
    write_skill(
        root,
        "savanna-survey",
        "Counts animals on the plains from aerial photographs.",
        category="Data",
        tags="etl-tools,survey",
        body="Count every animal in each photograph. One of them may be a zebra. "
        + "Write the totals per species and per square kilometre. " * 20,
    )
    write_skill(
        root,
        "warehouse-loader",
        "Loads CSV exports into the warehouse.",
        category="database",
        tags="etl,warehouse",
    )
    write_skill(
        root,
        "report-writer",
        "Writes a weekly report from the warehouse tables.",
        category="development",
        tags="bookkeeping,Warehouse",
    )
    return root


def settle(brahmi: Brahmi, batch_id: str) -> list[TaskRecord]:
    """Run a real worker until every task of the batch has settled."""
    return asyncio.run(run_until_settled(brahmi, batch_id, timeout_s=30))


def spec(skill_id: str, uid: int = 1) -> dict[str, object]:
    """One snake_case task naming ``skill_id``."""
    return {
        "unique_id": uid,
        "task_name": f"Task {uid}",
        "description": "Do it.",
        "skill_id": skill_id,
        "task_order": 1,
        "inputs": {"n": uid},
    }


# -- built-ins ------------------------------------------------------------------------------


def test_every_builtin_is_indexed_on_a_fresh_home(registry: SkillRegistry) -> None:
    full_ids = registry.full_ids()

    assert {f"brahmi/builtin/{name}" for name in BUILTINS} <= full_ids
    assert {
        "brahmi/builtin/run-command",
        "brahmi/builtin/pytest-critique",
        "brahmi/builtin/backend-development",
    } <= full_ids
    assert [s.kind for s in registry.sources()] == ["builtin"]
    assert registry.index.problems() == []
    skill = registry.get("brahmi/builtin/run-command")
    assert skill.path == BUILTIN_DIR / "run-command"
    assert skill.version == load_skill(BUILTIN_DIR / "run-command", "brahmi/builtin").version


def test_a_builtin_whose_indexed_version_is_stale_is_reindexed_on_next_open(
    brahmi: Brahmi, settings: Settings
) -> None:
    real = brahmi.registry.get("brahmi/builtin/run-command").version
    with brahmi.store.engine.begin() as conn:
        conn.execute(
            update(tables.skills)
            .where(tables.skills.c.full_id == "brahmi/builtin/run-command")
            .values(version="sha256:stale", description="stale")
        )

    reopened = Brahmi(settings)
    try:
        skill = reopened.registry.get("brahmi/builtin/run-command")
        assert skill.version == real
        assert skill.description != "stale"
    finally:
        reopened.close()


def test_a_changed_added_or_dropped_builtin_is_reindexed_when_the_package_changes(
    brahmi: Brahmi, settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = brahmi.registry.get("brahmi/builtin/backend-critique").version
    shipped = tmp_path / "next-release"
    shutil.copytree(BUILTIN_DIR, shipped)
    skill_md = shipped / "backend-critique" / "SKILL.md"
    text = skill_md.read_text(encoding="utf-8")
    text = re.sub(
        r"^description: .*$", "description: Reviews quokka services.", text, count=1, flags=re.M
    )
    skill_md.write_text(text, encoding="utf-8")
    write_skill(shipped, "brand-new", category="meta", tags="new")
    shutil.rmtree(shipped / "frontend-deployment")
    monkeypatch.setattr(registry_module, "BUILTIN_DIR", shipped)

    reopened = Brahmi(settings)
    try:
        registry = reopened.registry
        critique = registry.get("brahmi/builtin/backend-critique")
        assert critique.version != before
        assert critique.path == shipped / "backend-critique"
        assert [h.full_id for h in registry.search(q="quokka")] == [
            "brahmi/builtin/backend-critique"
        ]
        assert "brahmi/builtin/brand-new" in registry.full_ids()
        assert "brahmi/builtin/frontend-deployment" not in registry.full_ids()
        assert [s.kind for s in registry.sources()] == ["builtin"]
    finally:
        reopened.close()


def test_the_builtin_source_cannot_be_removed(registry: SkillRegistry) -> None:
    with pytest.raises(errors.InvalidSkill) as raised:
        registry.remove("brahmi/builtin")

    assert raised.value.code == "invalid_skill"
    assert "brahmi/builtin/run-command" in registry.full_ids()


# -- adding sources -------------------------------------------------------------------------


def test_a_folder_is_added_as_local_folder_name_by_default(
    registry: SkillRegistry, tmp_path: Path
) -> None:
    root = tmp_path / "team-skills"
    write_skill(root, "alpha")
    write_skill(root, "beta")

    record, outcome = registry.add(str(root))

    assert record.kind == "local"
    assert record.owner_repo == "local/team-skills"
    assert record.location == str(root.resolve())
    assert outcome.indexed == 2
    assert outcome.problems == []
    assert {"local/team-skills/alpha", "local/team-skills/beta"} <= registry.full_ids()
    assert registry.get("local/team-skills/alpha").path == root / "alpha"
    assert [s.kind for s in registry.sources()] == ["builtin", "local"]


def test_a_folder_is_added_under_the_owner_repo_given(
    registry: SkillRegistry, tmp_path: Path
) -> None:
    write_skill(tmp_path / "team-skills", "alpha")

    record, _ = registry.add(str(tmp_path / "team-skills"), owner_repo="acme/tools")

    assert record.owner_repo == "acme/tools"
    assert registry.get("acme/tools/alpha").name == "alpha"
    assert "local/team-skills/alpha" not in registry.full_ids()


def test_a_single_skill_folder_is_a_source_of_one_skill(
    registry: SkillRegistry, tmp_path: Path
) -> None:
    folder = write_skill(tmp_path / "team-skills", "alpha")
    write_skill(tmp_path / "team-skills", "beta")

    _, outcome = registry.add(str(folder), owner_repo="acme/one")

    assert outcome.indexed == 1
    assert registry.get("acme/one/alpha").path == folder
    assert "acme/one/beta" not in registry.full_ids()


@pytest.mark.parametrize(
    ("location", "owner_repo", "ref"),
    [
        ("missing-folder", None, None),
        ("team-skills", "no-slash", None),
        ("team-skills", "a/b/c", None),
        ("team-skills", "acme/tools", "main"),
    ],
    ids=["missing-folder", "owner-without-repo", "three-parts", "ref-on-a-folder"],
)
def test_an_unusable_source_is_invalid_skill_and_registers_nothing(
    registry: SkillRegistry, tmp_path: Path, location: str, owner_repo: str | None, ref: str | None
) -> None:
    write_skill(tmp_path / "team-skills", "alpha")

    with pytest.raises(errors.InvalidSkill) as raised:
        registry.add(str(tmp_path / location), owner_repo=owner_repo, ref=ref)

    assert raised.value.code == "invalid_skill"
    assert [s.kind for s in registry.sources()] == ["builtin"]


def test_a_malformed_skill_is_reported_and_skipped_while_the_others_index(
    registry: SkillRegistry, tmp_path: Path
) -> None:
    root = tmp_path / "mixed"
    write_skill(root, "good-one")
    write_skill(root, "odd-one", category="astrology")
    broken = root / "broken-yaml"
    broken.mkdir()
    (broken / "SKILL.md").write_text(
        "---\nname: broken-yaml\ndescription: [unclosed\n---\nBody.\n", encoding="utf-8"
    )
    write_skill(root, "renamed", folder="misnamed")

    record, outcome = registry.add(str(root), owner_repo="acme/mixed")

    assert outcome.indexed == 3
    # A name that differs from its folder is indexed under its frontmatter name, warned.
    assert registry.full_ids() >= {
        "acme/mixed/good-one",
        "acme/mixed/odd-one",
        "acme/mixed/renamed",
    }
    stored = {
        (p["code"], p["severity"], Path(p["file"]).parent.name) for p in registry.index.problems()
    }
    assert stored == {
        ("invalid_yaml", "error", "broken-yaml"),
        ("name_mismatch", "warning", "misnamed"),
        ("unknown_category", "warning", "odd-one"),
    }
    assert {p["source"] for p in registry.index.problems()} == {record.location}
    assert str(broken / "SKILL.md") in {file for file, _ in registry.problems}


def test_the_first_source_keeps_a_full_id_and_the_second_copy_is_duplicate_full_id(
    registry: SkillRegistry, tmp_path: Path
) -> None:
    first = tmp_path / "first"
    second = tmp_path / "second"
    write_skill(first, "shared", "The first copy.")
    write_skill(second, "shared", "The second copy.")
    write_skill(second, "only-second")

    registry.add(str(first), owner_repo="acme/x")
    _, outcome = registry.add(str(second), owner_repo="acme/x")

    assert outcome.indexed == 1
    assert [(p.code, Path(p.file).parent.name) for p in outcome.problems] == [
        ("duplicate_full_id", "shared")
    ]
    assert registry.get("acme/x/shared").description == "The first copy."
    assert registry.get("acme/x/only-second").path == second / "only-second"
    assert [p["code"] for p in registry.index.problems()] == ["duplicate_full_id"]

    registry.remove(str(first))
    registry.update(str(second))

    assert registry.get("acme/x/shared").description == "The second copy."
    assert registry.index.problems() == []


def test_a_source_cannot_file_its_skills_under_the_builtins_owner_repo(
    registry: SkillRegistry, tmp_path: Path
) -> None:
    write_skill(tmp_path / "impostor", "run-command", "Not the real one.")
    write_skill(tmp_path / "impostor", "future-builtin", "Squats a name.")

    with pytest.raises(errors.InvalidSkill) as raised:
        registry.add(str(tmp_path / "impostor"), owner_repo="brahmi/builtin")

    assert raised.value.code == "invalid_skill"
    assert [s.kind for s in registry.sources()] == ["builtin"]
    assert registry.get("brahmi/builtin/run-command").path == BUILTIN_DIR / "run-command"
    assert "brahmi/builtin/future-builtin" not in registry.full_ids()


def test_a_source_whose_skill_shares_a_builtin_name_gets_its_own_full_id(
    registry: SkillRegistry, tmp_path: Path
) -> None:
    write_skill(tmp_path / "mine", "backend-critique", "Our own critique.")

    _, outcome = registry.add(str(tmp_path / "mine"), owner_repo="acme/qa")

    assert outcome.problems == []
    assert registry.get("acme/qa/backend-critique").description == "Our own critique."
    assert registry.get("brahmi/builtin/backend-critique").path.parent == BUILTIN_DIR


def test_adding_the_same_folder_again_reindexes_the_one_source(
    registry: SkillRegistry, tmp_path: Path
) -> None:
    root = tmp_path / "team-skills"
    write_skill(root, "alpha")
    registry.add(str(root))
    write_skill(root, "beta")

    _, outcome = registry.add(str(root))

    assert outcome.indexed == 2
    assert [s.kind for s in registry.sources()] == ["builtin", "local"]


# -- update and remove ----------------------------------------------------------------------


def test_update_rereads_a_folder_and_search_shows_the_new_description(
    registry: SkillRegistry, tmp_path: Path
) -> None:
    root = tmp_path / "team-skills"
    write_skill(root, "alpha", "Counts penguins.")
    write_skill(root, "beta")
    registry.add(str(root), owner_repo="acme/tools")
    before = registry.get("acme/tools/alpha")

    write_skill(root, "alpha", "Counts walruses.")
    shutil.rmtree(root / "beta")
    write_skill(root, "gamma")
    [(record, outcome)] = registry.update("acme/tools")

    assert record.owner_repo == "acme/tools"
    assert outcome.indexed == 2
    after = registry.get("acme/tools/alpha")
    assert after.description == "Counts walruses."
    assert after.version != before.version
    assert [h.full_id for h in registry.search(q="walruses")] == ["acme/tools/alpha"]
    assert registry.search(q="penguins") == []
    assert "acme/tools/beta" not in registry.full_ids()
    assert "acme/tools/gamma" in registry.full_ids()


def test_update_without_a_source_rereads_every_added_source(
    registry: SkillRegistry, tmp_path: Path
) -> None:
    write_skill(tmp_path / "one", "alpha")
    write_skill(tmp_path / "two", "beta")
    registry.add(str(tmp_path / "one"), owner_repo="acme/one")
    registry.add(str(tmp_path / "two"), owner_repo="acme/two")
    write_skill(tmp_path / "one", "alpha-two")
    write_skill(tmp_path / "two", "beta-two")

    results = registry.update()

    assert sorted(record.owner_repo for record, _ in results) == ["acme/one", "acme/two"]
    assert {"acme/one/alpha-two", "acme/two/beta-two"} <= registry.full_ids()


def test_a_source_whose_folder_is_gone_loses_its_skills_on_update(
    registry: SkillRegistry, tmp_path: Path
) -> None:
    write_skill(tmp_path / "fleeting", "alpha")
    registry.add(str(tmp_path / "fleeting"), owner_repo="acme/fleeting")
    shutil.rmtree(tmp_path / "fleeting")

    [(_, outcome)] = registry.update("acme/fleeting")

    assert outcome.indexed == 0
    assert [p.code for p in outcome.problems] == ["source_missing"]
    assert registry.find("acme/fleeting/alpha") is None


def test_remove_forgets_the_source_and_its_skills(registry: SkillRegistry, tmp_path: Path) -> None:
    write_skill(tmp_path / "team-skills", "alpha")
    write_skill(tmp_path / "team-skills", "beta")
    record, _ = registry.add(str(tmp_path / "team-skills"), owner_repo="acme/tools")
    assert registry.get("acme/tools/alpha").name == "alpha"  # cached lookups are dropped too

    removed_record, removed = registry.remove(record.id)

    assert removed_record.location == record.location
    assert removed == 2
    assert registry.find("acme/tools/alpha") is None
    assert not any(f.startswith("acme/tools/") for f in registry.full_ids())
    assert registry.search(q="alpha") == []
    assert [s.kind for s in registry.sources()] == ["builtin"]
    assert (tmp_path / "team-skills" / "alpha" / "SKILL.md").is_file()  # a folder is kept


def test_a_source_is_named_by_its_location_owner_repo_or_id(
    registry: SkillRegistry, tmp_path: Path
) -> None:
    write_skill(tmp_path / "team-skills", "alpha")
    record, _ = registry.add(str(tmp_path / "team-skills"), owner_repo="acme/tools")

    for name in (record.id, record.location, "acme/tools"):
        assert registry.resolve_source(name).id == record.id
    with pytest.raises(errors.SkillNotFound) as raised:
        registry.remove("acme/nothing")
    assert raised.value.code == "skill_not_found"


# -- search ---------------------------------------------------------------------------------


def test_category_filter_is_exact_and_case_insensitive(
    registry: SkillRegistry, library: Path
) -> None:
    registry.add(str(library), owner_repo="acme/lib")

    for category in ("data", "DATA", " Data "):
        hits = registry.search(category=category)
        assert [h.name for h in hits] == ["savanna-survey", "zebra-herding"]
    assert [h.name for h in registry.search(category="database")] == ["warehouse-loader"]
    assert registry.search(category="dat") == []


def test_tag_filter_is_exact_and_case_insensitive(registry: SkillRegistry, library: Path) -> None:
    registry.add(str(library), owner_repo="acme/lib")

    assert [h.name for h in registry.search(tag="etl")] == ["warehouse-loader", "zebra-herding"]
    assert [h.name for h in registry.search(tag="ETL")] == ["warehouse-loader", "zebra-herding"]
    assert [h.name for h in registry.search(tag="Etl-Tools")] == ["savanna-survey"]
    assert registry.search(tag="et") == []


def test_a_skill_named_after_the_word_ranks_above_one_whose_body_mentions_it(
    registry: SkillRegistry, library: Path
) -> None:
    registry.add(str(library), owner_repo="acme/lib")

    hits = registry.search(q="zebra")

    assert [h.name for h in hits] == ["zebra-herding", "savanna-survey"]
    assert hits[0].rank is not None
    assert hits[1].rank is not None


@pytest.mark.parametrize(
    "q",
    [
        '"zebra',
        "zebra*",
        "NEAR(zebra",
        "-zebra",
        "name:zebra",
        "zebra AND OR",
        "AND OR zebra",
        "zebra NOT",
        "(zebra) ^ {x}",
        "ZEBRA!!",
    ],
)
def test_fts_syntax_in_q_never_raises_and_still_finds_by_the_words(
    registry: SkillRegistry, library: Path, q: str
) -> None:
    registry.add(str(library), owner_repo="acme/lib")

    hits = registry.search(q=q)

    assert hits[0].full_id == "acme/lib/zebra-herding"


@pytest.mark.parametrize("q", ['"', "*", "(", "-", ":", "()", "'", "^", "   "])
def test_a_q_without_words_never_raises_and_filters_nothing(
    registry: SkillRegistry, library: Path, q: str
) -> None:
    registry.add(str(library), owner_repo="acme/lib")

    assert registry.search(q=q, limit=100) == registry.search(limit=100)
    assert [h.name for h in registry.search(q=q, category="data", tag="etl")] == ["zebra-herding"]


def test_q_matches_word_prefixes_and_every_indexed_field(
    registry: SkillRegistry, library: Path
) -> None:
    registry.add(str(library), owner_repo="acme/lib")

    assert [h.name for h in registry.search(q="herd")] == ["zebra-herding"]  # name, prefix
    assert [h.name for h in registry.search(q="aerial")] == ["savanna-survey"]  # description
    assert [h.name for h in registry.search(q="kilometre")] == ["savanna-survey"]  # body
    assert [h.name for h in registry.search(q="bookkeeping")] == ["report-writer"]  # tags


def test_filters_and_q_combine(registry: SkillRegistry, library: Path) -> None:
    registry.add(str(library), owner_repo="acme/lib")

    assert {h.name for h in registry.search(category="data", q="animals")} == {
        "savanna-survey",
        "zebra-herding",
    }
    assert [h.name for h in registry.search(category="data", tag="etl", q="animals")] == [
        "zebra-herding"
    ]
    assert [h.name for h in registry.search(tag="warehouse", q="weekly")] == ["report-writer"]
    assert registry.search(category="database", q="zebra") == []


@pytest.fixture
def parts(registry: SkillRegistry, tmp_path: Path) -> SkillRegistry:
    """The registry with thirty skills that all say "widget", three of them "sprocket"
    (one twice): "widget" is held by more than half of the skills, built-ins included."""
    for i in range(30):
        extra = {3: "sprocket", 7: "sprocket sprocket", 11: "sprocket"}.get(i, "")
        write_skill(tmp_path / "parts", f"part-{i:02d}", f"A widget part number {i}. {extra}")
    registry.add(str(tmp_path / "parts"), owner_repo="acme/parts")
    return registry


def test_a_word_most_skills_hold_changes_no_order_and_the_rarer_words_decide(
    parts: SkillRegistry,
) -> None:
    with_common = parts.search(q="widget sprocket", limit=3)
    alone = parts.search(q="sprocket", limit=3)

    assert [h.name for h in with_common] == [h.name for h in alone]
    assert with_common[0].name == "part-07"  # says sprocket twice
    if parts.index.fts:  # FTS5's bm25 gives the common word no weight at all
        assert [h.rank for h in with_common] == pytest.approx([h.rank for h in alone], abs=1e-4)


def test_when_the_rarer_words_match_too_few_skills_the_common_word_fills_the_list(
    parts: SkillRegistry,
) -> None:
    hits = parts.search(q="widget sprocket", limit=10)

    assert len(hits) == 10
    assert {h.name for h in hits[:3]} == {"part-03", "part-07", "part-11"}
    assert all(h.name.startswith("part-") for h in hits[3:])


def test_a_query_of_common_words_alone_still_finds_and_ranks(parts: SkillRegistry) -> None:
    hits = parts.search(q="widget part", limit=5)

    assert len(hits) == 5
    assert all(h.name.startswith("part-") for h in hits)


def test_limit_caps_the_results(registry: SkillRegistry, library: Path) -> None:
    registry.add(str(library), owner_repo="acme/lib")

    assert len(registry.search(limit=1000)) == len(BUILTINS) + 4
    assert len(registry.search(limit=3)) == 3
    assert len(registry.search(q="the", limit=2)) == 2
    assert len(registry.search(category="data", limit=1)) == 1


def test_a_result_carries_what_a_planner_needs_to_choose(
    registry: SkillRegistry, library: Path
) -> None:
    record, _ = registry.add(str(library), owner_repo="acme/lib")

    [hit] = registry.search(tag="survey")

    assert hit.full_id == "acme/lib/savanna-survey"
    assert hit.name == "savanna-survey"
    assert hit.description == "Counts animals on the plains from aerial photographs."
    assert hit.category == "Data"
    assert hit.tags == ("etl-tools", "survey")
    assert hit.version == registry.get("acme/lib/savanna-survey").version
    assert hit.source == record.location
    assert set(hit.to_dict()) >= {
        "full_id",
        "name",
        "description",
        "category",
        "tags",
        "version",
        "source",
    }


@pytest.mark.parametrize(("category", "tag", "first"), SEED_SEARCHES)
def test_each_seed_search_finds_a_builtin_named_after_its_tag_first(
    registry: SkillRegistry, category: str, tag: str, first: str
) -> None:
    hits = registry.search(category=category, tag=tag)

    assert hits[0].full_id == f"brahmi/builtin/{first}"
    assert all(h.full_id.startswith("brahmi/builtin/") for h in hits)
    assert all(h.category == category for h in hits)


def test_backend_critique_comes_before_pytest_critique(registry: SkillRegistry) -> None:
    names = [h.name for h in registry.search(category="critique", tag="backend")]

    assert "pytest-critique" in names
    assert names.index("backend-critique") < names.index("pytest-critique")


# -- batches bind to the registry ------------------------------------------------------------


def test_a_task_naming_a_skill_of_an_added_source_validates(brahmi: Brahmi, tmp_path: Path) -> None:
    write_skill(tmp_path / "team-skills", "alpha")
    brahmi.registry.add(str(tmp_path / "team-skills"), owner_repo="acme/tools")

    batch = brahmi.validate_batch([spec("acme/tools/alpha")])

    assert [t.skill_id for t in batch.tasks] == ["acme/tools/alpha"]
    assert batch.warnings == []


def test_an_unknown_full_id_is_unknown_skill_listing_the_closest(
    brahmi: Brahmi, tmp_path: Path
) -> None:
    write_skill(tmp_path / "team-skills", "alpha")
    brahmi.registry.add(str(tmp_path / "team-skills"), owner_repo="acme/tools")

    with pytest.raises(errors.InvalidBatch) as raised:
        brahmi.validate_batch([spec("acme/tools/alpah")])

    [problem] = raised.value.problems
    assert (problem.path, problem.code) == ("tasks[0].skill_id", "unknown_skill")
    assert "acme/tools/alpha" in problem.message


def test_a_short_name_resolves_to_its_full_id_with_a_warning(
    brahmi: Brahmi, tmp_path: Path, workspace: Path
) -> None:
    write_skill(tmp_path / "team-skills", "alpha")
    brahmi.registry.add(str(tmp_path / "team-skills"), owner_repo="acme/tools")

    created = brahmi.create_tasks_batch(brahmi.project_for(workspace).id, [spec("alpha")])

    assert [(w.path, w.code) for w in created.warnings] == [
        ("tasks[0].skill_id", "skill_short_name")
    ]
    assert brahmi.get_task(created.task_ids["1"]).skill_id == "acme/tools/alpha"


def test_a_short_name_shared_with_a_builtin_resolves_to_the_users_skill(
    brahmi: Brahmi, tmp_path: Path
) -> None:
    assert brahmi.validate_batch([spec("backend-critique")]).tasks[0].skill_id == (
        "brahmi/builtin/backend-critique"
    )
    write_skill(tmp_path / "mine", "backend-critique", category="critique", tags="backend")
    brahmi.registry.add(str(tmp_path / "mine"), owner_repo="acme/qa")

    batch = brahmi.validate_batch([spec("backend-critique")])

    assert [t.skill_id for t in batch.tasks] == ["acme/qa/backend-critique"]
    assert [w.code for w in batch.warnings] == ["skill_short_name"]


def test_a_short_name_of_two_user_skills_is_ambiguous(brahmi: Brahmi, tmp_path: Path) -> None:
    write_skill(tmp_path / "one", "alpha")
    write_skill(tmp_path / "two", "alpha")
    brahmi.registry.add(str(tmp_path / "one"), owner_repo="acme/one")
    brahmi.registry.add(str(tmp_path / "two"), owner_repo="acme/two")

    with pytest.raises(errors.InvalidBatch) as raised:
        brahmi.validate_batch([spec("alpha")])

    assert [p.code for p in raised.value.problems] == ["ambiguous_skill"]


def test_every_run_records_the_version_of_the_skill_it_ran(
    brahmi: Brahmi, tmp_path: Path, workspace: Path
) -> None:
    folder = write_skill(
        tmp_path / "team-skills",
        "echo-inputs",
        extra="metadata:\n  brahmi-runtime: command\n"
        '  brahmi-command: "{python} {skill_dir}/scripts/run.py"\n',
    )
    (folder / "scripts").mkdir()
    (folder / "scripts" / "run.py").write_text(textwrap.dedent(ECHO_SCRIPT), encoding="utf-8")
    brahmi.registry.add(str(tmp_path / "team-skills"), owner_repo="acme/tools")
    version = brahmi.registry.get("acme/tools/echo-inputs").version
    project = brahmi.project_for(workspace)

    created = brahmi.create_tasks_batch(project.id, [spec("acme/tools/echo-inputs")])
    [task] = settle(brahmi, created.batch_id)

    assert task.status is TaskStatus.COMPLETED, task.error
    assert task.outputs["echoed"] == {"n": 1}
    assert brahmi.get_task(task.id).skill_version == version
    assert [a.skill_version for a in brahmi.store.attempts_for(task.id)] == [version]
