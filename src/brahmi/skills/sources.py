"""Where skills come from: a folder, or a git repository cloned under BRAHMI_HOME.

Git is driven through the ``git`` program with argument lists (never a shell), with
prompts disabled so a private URL fails at once instead of waiting for a password.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from brahmi import errors
from brahmi.skills.skill import Skill, load_skill
from brahmi.skills.validate import SkillProblem, skill_folders, validate_skill

#: Seconds a git command may take (a clone of a large repository over a slow link).
GIT_TIMEOUT_S = 300.0
_OWNER_REPO_RE = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")


@dataclass(slots=True)
class Scan:
    """The skills read from one source, and the problems of those that could not be."""

    skills: list[Skill] = field(default_factory=list)
    problems: list[SkillProblem] = field(default_factory=list)


def scan(path: Path, owner_repo: str, *, commit: str | None = None) -> Scan:
    """Read every skill at ``path`` (one skill folder, or a folder of them).

    A malformed skill is reported and skipped; it never stops the others (DESIGN §1).
    """
    result = Scan()
    for folder in skill_folders(path):
        report = validate_skill(folder)
        if not report.ok:
            result.problems.extend(report.problems)
            continue
        try:
            result.skills.append(load_skill(folder, owner_repo, commit=commit, report=report))
        except errors.InvalidSkill as exc:  # a rule load_skill checks beyond the report
            result.problems.append(SkillProblem(str(folder), None, "invalid_skill", exc.message))
        else:
            result.problems.extend(p for p in report.problems if p.severity == "warning")
    return result


def check_owner_repo(value: str) -> str:
    """``value`` if it is ``owner/repo``.

    Raises:
        InvalidSkill: When it is not two non-empty parts of letters, digits, ``._-``.
    """
    if not _OWNER_REPO_RE.match(value):
        raise errors.InvalidSkill(f"{value!r} is not owner/repo")
    return value


def is_git_url(location: str) -> bool:
    """Whether ``location`` names a git repository rather than a local folder."""
    return bool(
        re.match(r"^(https?|ssh|git|file)://", location)
        or re.match(r"^[\w.-]+@[\w.-]+:", location)
        or location.endswith(".git")
    )


def owner_repo_from_url(url: str) -> str:
    """``owner/repo`` from a git URL's last two path parts (``.git`` dropped).

    Raises:
        InvalidSkill: When the URL has no two such parts.
    """
    path = re.sub(r"^[\w.-]+@[\w.-]+:", "", url)
    path = re.sub(r"^\w+://[^/]*", "", path)
    parts = [p for p in path.rstrip("/").split("/") if p]
    if len(parts) < 2:
        raise errors.InvalidSkill(f"cannot tell owner/repo from {url!r}; give --as owner/repo")
    repo = parts[-1].removesuffix(".git")
    return check_owner_repo(f"{parts[-2]}/{repo}")


def git_clone(url: str, dest: Path, ref: str | None = None) -> str:
    """Clone ``url`` into ``dest`` at ``ref`` (default: the remote's HEAD).

    Returns:
        The commit checked out.

    Raises:
        InvalidSkill: When ``git`` is missing or the clone or checkout fails.
    """
    if url.startswith("-"):
        raise errors.InvalidSkill(f"{url!r} is not a repository URL")
    if dest.exists():
        shutil.rmtree(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    _git(["clone", "--quiet", "--", url, str(dest)])
    if ref:
        try:
            _checkout(dest, ref)
        except errors.InvalidSkill:
            shutil.rmtree(dest, ignore_errors=True)  # no source holds this clone
            raise
    return head_commit(dest)


def git_update(dest: Path, ref: str | None = None) -> str:
    """Fetch the clone at ``dest`` and check out ``ref`` (default: the remote's HEAD).

    Returns:
        The commit now checked out.
    """
    _git(["-C", str(dest), "fetch", "--quiet", "--tags", "origin"])
    if ref:
        _checkout(dest, ref)
    else:
        _git(["-C", str(dest), "checkout", "--quiet", "--detach", "origin/HEAD"])
    return head_commit(dest)


def head_commit(dest: Path) -> str:
    """The commit checked out in ``dest``."""
    return _git(["-C", str(dest), "rev-parse", "HEAD"]).strip()


def _checkout(dest: Path, ref: str) -> None:
    if ref.startswith("-"):
        raise errors.InvalidSkill(f"{ref!r} is not a git ref")
    for candidate in (f"origin/{ref}", ref):
        try:
            _git(["-C", str(dest), "checkout", "--quiet", "--detach", candidate])
            return
        except errors.InvalidSkill:
            continue
    raise errors.InvalidSkill(f"no branch, tag or commit {ref!r} in {dest}")


def _git(args: list[str]) -> str:
    if shutil.which("git") is None:
        raise errors.InvalidSkill(
            "the git program is not installed; install git to add git sources"
        )
    env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", "GIT_ASKPASS": "true"}
    try:
        done = subprocess.run(
            ["git", *args],
            capture_output=True,
            encoding="utf-8",
            errors="replace",
            timeout=GIT_TIMEOUT_S,
            check=False,
            env=env,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired as exc:
        raise errors.InvalidSkill(f"git {args[0]} took longer than {GIT_TIMEOUT_S:g} s") from exc
    if done.returncode != 0:
        detail = (done.stderr or done.stdout).strip().splitlines()
        raise errors.InvalidSkill(
            f"git {' '.join(args[:2])} failed: {detail[-1] if detail else done.returncode}"
        )
    return done.stdout
