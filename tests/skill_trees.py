"""Skill collections laid out as their public authors lay them out, built in ``tmp_path``.

``anthropic_like``: skills under ``skills/<name>/``, a ``.claude-plugin/marketplace.json``
listing them, one skill whose description has 1,100 characters, one whose name differs
from its folder, one with a top-level key no convention knows, and a ``template/`` skill
the manifest does not list.
``claude_dir_like``: skills under ``.claude/skills/``, beside a ``node_modules`` package
that ships a skill folder, a virtualenv and build output, none of which may be read.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

#: ``git`` options that keep the tests independent of the user's git configuration.
GIT_CONFIG = (
    "-c",
    "user.email=t@t",
    "-c",
    "user.name=t",
    "-c",
    "commit.gpgsign=false",
    "-c",
    "init.defaultBranch=main",
)
#: The description of ``claude-api`` in ``anthropic_like``: over the 1,024 the spec allows.
LONG_DESCRIPTION = ("Builds apps with the Claude API and its SDKs. " * 30)[:1100]


def write_skill(
    folder: Path, name: str, description: str = "", *, extra: str = "", body: str = ""
) -> Path:
    """``folder/SKILL.md`` of the skill ``name`` (spec convention)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "SKILL.md").write_text(
        f"---\nname: {name}\ndescription: {json.dumps(description or f'The {name} skill.')}\n"
        f"{extra}---\n\n# {name}\n\n{body or f'Steps of {name}.'}\n",
        encoding="utf-8",
    )
    return folder


def anthropic_like(root: Path) -> Path:
    """A repository like Anthropic's skills collection (see the module docstring)."""
    skills = root / "skills"
    # A key of another client's own (Claude Code's): indexed, with an unknown_key warning.
    write_skill(
        skills / "xlsx", "xlsx", "Reads and writes spreadsheets.", extra="user-invocable: true\n"
    )
    write_skill(skills / "pdf", "pdf", "Fills and merges PDF forms.")
    write_skill(skills / "claude-api", "claude-api", LONG_DESCRIPTION)
    # Its frontmatter name differs from its folder: indexed as webapp-tester, warned.
    write_skill(skills / "webapp-testing", "webapp-tester", "Tests web apps in a browser.")
    (skills / "pdf" / "scripts").mkdir()
    (skills / "pdf" / "scripts" / "fill.py").write_text("print('fill')\n", encoding="utf-8")
    write_skill(root / "template", "template-skill", "A template, not a skill to index.")
    (root / ".claude-plugin").mkdir(parents=True)
    (root / ".claude-plugin" / "marketplace.json").write_text(
        json.dumps(
            {
                "name": "example-skills",
                "owner": {"name": "Example"},
                "plugins": [
                    {
                        "name": "document-skills",
                        "source": "./",
                        "strict": False,
                        "skills": ["./skills/xlsx", "./skills/pdf"],
                    },
                    {
                        "name": "example-skills",
                        "source": "./",
                        "skills": ["./skills/claude-api", "./skills/webapp-testing"],
                    },
                ],
            },
            indent=2,
        ),
        encoding="utf-8",
    )
    (root / "README.md").write_text("# Skills\n", encoding="utf-8")
    return root


def claude_dir_like(root: Path) -> Path:
    """A repository whose skills live in ``.claude/skills`` (see the module docstring)."""
    write_skill(root / ".claude" / "skills" / "release-notes", "release-notes")
    write_skill(root / ".claude" / "skills" / "db-migrate", "db-migrate")
    (root / ".claude" / "settings.json").write_text("{}\n", encoding="utf-8")
    write_skill(root / "node_modules" / "some-pkg" / "skills" / "npm-skill", "npm-skill")
    write_skill(root / ".venv" / "lib" / "venv-skill", "venv-skill")
    (root / "env").mkdir()
    (root / "env" / "pyvenv.cfg").write_text("home = /usr\n", encoding="utf-8")
    write_skill(root / "env" / "lib" / "env-skill", "env-skill")
    write_skill(root / "dist" / "dist-skill", "dist-skill")
    write_skill(root / ".cache" / "skills" / "cached-skill", "cached-skill")
    (root / "src").mkdir()
    (root / "src" / "app.py").write_text("print('app')\n", encoding="utf-8")
    return root


def git(repo: Path, *args: str) -> str:
    """Run ``git ARGS`` in ``repo``; its stdout, stripped."""
    done = subprocess.run(
        ["git", *GIT_CONFIG, "-C", str(repo), *args],
        capture_output=True,
        encoding="utf-8",
        check=True,
        stdin=subprocess.DEVNULL,
    )
    return done.stdout.strip()


def commit_all(repo: Path) -> str:
    """``git init`` (if needed) and commit everything in ``repo``; the commit."""
    if not (repo / ".git").exists():
        git(repo, "init", "--quiet")
    git(repo, "add", "--all", "--force")
    git(repo, "commit", "--quiet", "--message", "skills")
    return git(repo, "rev-parse", "HEAD")
