"""Checking SKILL.md folders: both frontmatter conventions, DESIGN §1's rules with the line
of each problem, and with ``spec=True`` what the Agent Skills specification's validator
rejects.

Every skill is a real folder in ``tmp_path``; problems are asserted by ``code`` and line.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from brahmi import errors
from brahmi.skills.discovery import validate_path
from brahmi.skills.skill import load_skill
from brahmi.skills.validate import (
    DESCRIPTION_MAX,
    NAME_MAX,
    SkillReport,
    read_frontmatter,
    validate_skill,
)

ARAMB = textwrap.dedent("""\
    name: {name}
    description: Builds REST endpoints.
    category: development
    tags: [backend, api]
""")
SPEC = textwrap.dedent("""\
    name: {name}
    description: Builds REST endpoints.
    metadata:
      category: development
      tags: "backend, api"
""")


def write_skill(root: Path, folder: str, frontmatter: str, body: str = "# Body\n") -> Path:
    """``root/folder/SKILL.md`` with ``frontmatter`` between ``---`` lines."""
    path = root / folder
    path.mkdir(parents=True, exist_ok=True)
    text = f"---\n{frontmatter}---\n{body}"
    (path / "SKILL.md").write_text(text, encoding="utf-8")
    return path


def codes(report: SkillReport) -> list[str]:
    """The codes of a report's problems, in order."""
    return [p.code for p in report.problems]


def only(report: SkillReport, code: str) -> tuple[int | None, str]:
    """The line and severity of the one problem with ``code``."""
    [problem] = [p for p in report.problems if p.code == code]
    return problem.line, problem.severity


# -- conventions ----------------------------------------------------------------------------


def test_top_level_category_and_tag_list_is_the_aramb_convention(tmp_path: Path) -> None:
    report = validate_skill(write_skill(tmp_path, "api-builder", ARAMB.format(name="api-builder")))

    assert report.ok
    assert report.problems == []
    assert report.convention == "aramb"
    assert report.name == "api-builder"


def test_metadata_category_and_comma_separated_tags_is_the_spec_convention(
    tmp_path: Path,
) -> None:
    report = validate_skill(write_skill(tmp_path, "api-builder", SPEC.format(name="api-builder")))

    assert report.ok
    assert report.problems == []
    assert report.convention == "spec"


def test_a_skill_without_category_or_tags_follows_no_convention_and_is_valid(
    tmp_path: Path,
) -> None:
    folder = write_skill(tmp_path, "plain", "name: plain\ndescription: Just a prompt.\n")

    report = validate_skill(folder)

    assert report.ok
    assert report.convention == "none"


def test_both_conventions_load_to_the_same_category_and_tags(tmp_path: Path) -> None:
    aramb = load_skill(write_skill(tmp_path / "a", "api", ARAMB.format(name="api")), "acme/a")
    spec = load_skill(write_skill(tmp_path / "s", "api", SPEC.format(name="api")), "acme/s")

    assert (aramb.category, aramb.tags) == ("development", ("backend", "api"))
    assert (spec.category, spec.tags) == ("development", ("backend", "api"))
    assert aramb.full_id == "acme/a/api"


def test_a_spec_convention_skill_passes_the_spec_checks(tmp_path: Path) -> None:
    frontmatter = SPEC.format(name="api-builder") + "license: MIT\ncompatibility: Python 3.11\n"
    folder = write_skill(tmp_path, "api-builder", frontmatter)

    assert validate_skill(folder, spec=True).problems == []


# -- name -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    ["Backend-dev", "backend--dev", "-backend", "backend-", "back_end", "x" * (NAME_MAX + 1)],
    ids=["uppercase", "double-hyphen", "leading-hyphen", "trailing-hyphen", "underscore", "65"],
)
def test_a_name_outside_the_rules_is_invalid_name_at_its_line(tmp_path: Path, name: str) -> None:
    folder = write_skill(tmp_path, name, f"description: A skill.\nname: '{name}'\n")

    report = validate_skill(folder)

    assert codes(report) == ["invalid_name"]
    assert only(report, "invalid_name") == (3, "error")
    assert not report.ok


def test_a_name_of_64_characters_is_valid(tmp_path: Path) -> None:
    name = "a" * NAME_MAX
    assert validate_skill(write_skill(tmp_path, name, f"name: {name}\ndescription: d\n")).ok


def test_a_name_that_differs_from_its_folder_is_a_name_mismatch_warning_at_the_name_line(
    tmp_path: Path,
) -> None:
    folder = write_skill(
        tmp_path, "api-builder", "description: Builds APIs.\nlicense: MIT\nname: api-maker\n"
    )

    report = validate_skill(folder)

    assert codes(report) == ["name_mismatch"]
    assert only(report, "name_mismatch") == (4, "warning")
    assert report.problems[0].file == str(folder / "SKILL.md")
    assert report.ok
    assert load_skill(folder, "acme/apis").full_id == "acme/apis/api-maker"


def test_spec_makes_a_name_mismatch_an_error(tmp_path: Path) -> None:
    folder = write_skill(tmp_path, "api-builder", "name: api-maker\ndescription: Builds APIs.\n")

    report = validate_skill(folder, spec=True)

    assert only(report, "name_mismatch") == (2, "error")
    assert not report.ok


def test_a_missing_name_is_missing_name(tmp_path: Path) -> None:
    report = validate_skill(write_skill(tmp_path, "nameless", "description: A skill.\n"))

    assert codes(report) == ["missing_name"]


# -- description ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("description_line", "code"),
    [
        ("", "missing_description"),
        ("description: ''\n", "missing_description"),
        ("description: '   '\n", "missing_description"),
        ("description: [a, list]\n", "missing_description"),
    ],
    ids=["missing", "empty", "blank", "not-a-string"],
)
def test_a_description_outside_1_to_1024_characters_is_refused(
    tmp_path: Path, description_line: str, code: str
) -> None:
    report = validate_skill(write_skill(tmp_path, "wordy", f"name: wordy\n{description_line}"))

    assert codes(report) == [code]
    assert not report.ok
    if description_line:
        assert report.problems[0].line == 3


def test_a_description_over_1024_characters_loads_with_a_warning_and_fails_spec(
    tmp_path: Path,
) -> None:
    description = "x" * 1100
    folder = write_skill(tmp_path, "wordy", f"name: wordy\ndescription: {description}\n")

    relaxed = validate_skill(folder)
    strict = validate_skill(folder, spec=True)

    assert only(relaxed, "description_too_long") == (3, "warning")
    assert load_skill(folder, "acme/words").description == description
    assert only(strict, "description_too_long") == (3, "error")
    assert not strict.ok


def test_a_compatibility_over_500_characters_is_a_warning_without_spec(tmp_path: Path) -> None:
    frontmatter = f"name: compat\ndescription: d\ncompatibility: {'x' * 501}\n"
    folder = write_skill(tmp_path, "compat", frontmatter)

    report = validate_skill(folder)

    assert only(report, "compatibility_too_long") == (4, "warning")
    assert report.ok


def test_a_description_of_1024_characters_is_valid(tmp_path: Path) -> None:
    folder = write_skill(tmp_path, "wordy", f"name: wordy\ndescription: {'x' * DESCRIPTION_MAX}\n")

    assert validate_skill(folder).ok


# -- the file itself ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("frontmatter", "line"),
    [
        ("name: broken\ndescription: [unclosed\nlicense: MIT\n", 4),
        ("name: broken\ndescription: ok\nfoo: : bar\n", 4),
        ("name: broken\n  description: indented too far\n", 3),
    ],
    ids=["unclosed-flow", "colon-value", "bad-indent"],
)
def test_malformed_yaml_is_invalid_yaml_with_the_file_line(
    tmp_path: Path, frontmatter: str, line: int
) -> None:
    folder = write_skill(tmp_path, "broken", frontmatter)

    report = validate_skill(folder)

    assert codes(report) == ["invalid_yaml"]
    assert report.problems[0].line == line
    assert report.problems[0].file == str(folder / "SKILL.md")
    assert report.frontmatter is None


def test_a_file_without_frontmatter_is_no_frontmatter(tmp_path: Path) -> None:
    folder = tmp_path / "prose"
    folder.mkdir()
    (folder / "SKILL.md").write_text("# Just prose\n\nNo frontmatter.\n", encoding="utf-8")

    report = validate_skill(folder)

    assert codes(report) == ["no_frontmatter"]
    assert report.problems[0].line == 1


def test_a_frontmatter_that_is_never_closed_is_no_frontmatter(tmp_path: Path) -> None:
    folder = tmp_path / "unclosed"
    folder.mkdir()
    (folder / "SKILL.md").write_text("---\nname: unclosed\ndescription: d\n", encoding="utf-8")

    assert codes(validate_skill(folder)) == ["no_frontmatter"]


def test_a_frontmatter_that_is_not_a_mapping_is_invalid_frontmatter(tmp_path: Path) -> None:
    folder = write_skill(tmp_path, "listy", "- name\n- description\n")

    assert codes(validate_skill(folder)) == ["invalid_frontmatter"]


def test_a_folder_without_skill_md_is_missing_skill_md(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()

    assert codes(validate_skill(tmp_path / "empty")) == ["missing_skill_md"]


def test_read_frontmatter_gives_data_body_and_the_line_of_every_key(tmp_path: Path) -> None:
    folder = write_skill(tmp_path, "api", SPEC.format(name="api"), body="\n# API\n\nSteps.\n")

    front, problems = read_frontmatter(folder / "SKILL.md")

    assert problems == []
    assert front is not None
    assert front.data["metadata"] == {"category": "development", "tags": "backend, api"}
    assert front.body == "# API\n\nSteps.\n"
    assert front.lines == {"name": 2, "description": 3, "metadata": 4}
    assert front.metadata_lines == {"category": 5, "tags": 6}


def test_read_frontmatter_reports_malformed_yaml_without_raising(tmp_path: Path) -> None:
    folder = write_skill(tmp_path, "broken", "name: [\n")

    front, problems = read_frontmatter(folder / "SKILL.md")

    assert front is None
    assert [p.code for p in problems] == ["invalid_yaml"]
    assert problems[0].line is not None


# -- category, tags -------------------------------------------------------------------------


def test_an_unknown_category_is_only_a_warning_and_the_skill_still_loads(tmp_path: Path) -> None:
    frontmatter = "name: odd\ndescription: An odd one.\ncategory: astrology\n"
    folder = write_skill(tmp_path, "odd", frontmatter)

    report = validate_skill(folder)

    assert report.ok
    assert only(report, "unknown_category") == (4, "warning")
    assert report.errors == []
    assert load_skill(folder, "acme/odd").category == "astrology"


def test_a_known_category_in_another_case_is_no_warning(tmp_path: Path) -> None:
    folder = write_skill(tmp_path, "loud", "name: loud\ndescription: d\ncategory: Testing\n")

    assert validate_skill(folder).problems == []


def test_tags_that_are_not_strings_are_invalid_tags(tmp_path: Path) -> None:
    folder = write_skill(tmp_path, "tagged", "name: tagged\ndescription: d\ntags: [1, {a: b}]\n")

    assert codes(validate_skill(folder)) == ["invalid_tags"]


# -- the specification's rules ---------------------------------------------------------------


def test_spec_reports_every_top_level_key_it_does_not_allow_at_its_line(tmp_path: Path) -> None:
    folder = write_skill(tmp_path, "api-builder", ARAMB.format(name="api-builder") + "owner: me\n")

    relaxed = validate_skill(folder)
    strict = validate_skill(folder, spec=True)

    assert [(p.code, p.line, p.severity) for p in relaxed.problems] == [
        ("unknown_key", 6, "warning")
    ]
    assert relaxed.ok
    assert [(p.code, p.line) for p in strict.problems] == [
        ("spec_unknown_key", 4),
        ("spec_unknown_key", 5),
        ("spec_unknown_key", 6),
    ]
    assert not strict.ok


def test_spec_refuses_a_metadata_value_that_is_not_a_string(tmp_path: Path) -> None:
    frontmatter = "name: meta\ndescription: d\nmetadata:\n  category: data\n  retries: 3\n"
    folder = write_skill(tmp_path, "meta", frontmatter)

    assert validate_skill(folder).problems == []
    report = validate_skill(folder, spec=True)
    assert codes(report) == ["spec_metadata_not_string"]
    assert report.problems[0].line == 6


def test_spec_refuses_angle_brackets_in_the_description(tmp_path: Path) -> None:
    folder = write_skill(tmp_path, "html", "name: html\ndescription: Writes <div> tags.\n")

    assert validate_skill(folder).problems == []
    report = validate_skill(folder, spec=True)
    assert codes(report) == ["spec_angle_brackets"]
    assert report.problems[0].line == 3


def test_spec_refuses_a_compatibility_over_500_characters(tmp_path: Path) -> None:
    frontmatter = f"name: compat\ndescription: d\ncompatibility: {'x' * 501}\n"
    folder = write_skill(tmp_path, "compat", frontmatter)

    assert codes(validate_skill(folder, spec=True)) == ["spec_compatibility"]


# -- resources and commands -----------------------------------------------------------------


def test_a_script_symlinked_outside_the_folder_is_resource_outside_and_never_loads(
    tmp_path: Path,
) -> None:
    folder = write_skill(tmp_path / "skills", "leaky", "name: leaky\ndescription: d\n")
    (folder / "scripts").mkdir()
    secret = tmp_path / "secret.txt"
    secret.write_text("do not ship\n", encoding="utf-8")
    (folder / "scripts" / "run.py").symlink_to(secret)

    report = validate_skill(folder)

    assert codes(report) == ["resource_outside"]
    assert report.problems[0].file == str(folder / "scripts" / "run.py")
    with pytest.raises(errors.InvalidSkill) as raised:
        load_skill(folder, "acme/skills")
    assert raised.value.code == "invalid_skill"
    assert [p["code"] for p in raised.value.fields["problems"]] == ["resource_outside"]


def test_a_resource_folder_that_is_a_symlink_is_resource_outside(tmp_path: Path) -> None:
    folder = write_skill(tmp_path / "skills", "linked", "name: linked\ndescription: d\n")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (folder / "references").symlink_to(elsewhere, target_is_directory=True)

    assert codes(validate_skill(folder)) == ["resource_outside"]


def test_a_command_reaching_above_skill_dir_is_path_escapes(tmp_path: Path) -> None:
    frontmatter = (
        "name: escaper\ndescription: d\nmetadata:\n"
        "  brahmi-runtime: command\n  brahmi-command: '{python} {skill_dir}/../x/run.py'\n"
    )
    report = validate_skill(write_skill(tmp_path, "escaper", frontmatter))

    assert codes(report) == ["path_escapes"]
    assert report.problems[0].line == 6


def test_a_command_inside_skill_dir_is_accepted(tmp_path: Path) -> None:
    frontmatter = (
        "name: runner\ndescription: d\nmetadata:\n"
        "  brahmi-command: '{python} {skill_dir}/scripts/run.py'\n"
    )
    assert validate_skill(write_skill(tmp_path, "runner", frontmatter)).problems == []


def test_the_version_is_a_content_hash_that_follows_the_resources(tmp_path: Path) -> None:
    folder = write_skill(tmp_path, "hashed", "name: hashed\ndescription: d\n")
    (folder / "scripts").mkdir()
    (folder / "scripts" / "run.py").write_text("print(1)\n", encoding="utf-8")
    before = load_skill(folder, "acme/x")

    (folder / "scripts" / "run.py").write_text("print(2)\n", encoding="utf-8")
    after = load_skill(folder, "acme/x")

    assert before.resources == ("scripts/run.py",)
    assert before.version.startswith("sha256:")
    assert after.version != before.version
    assert load_skill(folder, "acme/x").version == after.version


# -- paths ----------------------------------------------------------------------------------


def test_validate_path_checks_every_skill_folder_of_a_folder(tmp_path: Path) -> None:
    write_skill(tmp_path, "good", "name: good\ndescription: d\n")
    write_skill(tmp_path, "bad", "name: other\ndescription: d\n")
    (tmp_path / "not-a-skill").mkdir()

    reports = validate_path(tmp_path)

    assert [(r.path.name, r.ok, codes(r)) for r in reports] == [
        ("bad", True, ["name_mismatch"]),
        ("good", True, []),
    ]
    assert codes(reports[0]) == ["name_mismatch"]


def test_validate_path_on_one_skill_folder_checks_that_skill(tmp_path: Path) -> None:
    folder = write_skill(tmp_path, "solo", "name: solo\ndescription: d\n")

    assert [r.name for r in validate_path(folder)] == ["solo"]


def test_validate_path_on_a_folder_without_skills_finds_nothing(tmp_path: Path) -> None:
    assert validate_path(tmp_path) == []


def test_a_report_as_json_names_path_convention_validity_and_each_problem(
    tmp_path: Path,
) -> None:
    folder = write_skill(tmp_path, "odd", "name: odd\ndescription: d\ncategory: astrology\n")

    data = validate_skill(folder).to_dict()

    assert data == {
        "path": str(folder),
        "name": "odd",
        "convention": "aramb",
        "valid": True,
        "problems": [
            {
                "file": str(folder / "SKILL.md"),
                "line": 4,
                "code": "unknown_category",
                "message": data["problems"][0]["message"],
                "severity": "warning",
            }
        ],
    }
