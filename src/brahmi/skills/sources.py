"""Where skills come from: a folder, or a git repository cloned under BRAHMI_HOME.

Git is driven through the ``git`` program with argument lists (never a shell), with
prompts disabled so a private URL fails at once instead of waiting for a password.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from brahmi import errors
from brahmi.skills import discovery
from brahmi.skills.skill import Skill, load_skill
from brahmi.skills.validate import SkillProblem, validate_skill

#: Seconds a git command may take (a clone of a large repository over a slow link).
GIT_TIMEOUT_S = 300.0
_OWNER_REPO_RE = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")


@dataclass(slots=True)
class Scan:
    """The skills read from one source, and the problems of those that could not be."""

    skills: list[Skill] = field(default_factory=list)
    problems: list[SkillProblem] = field(default_factory=list)


def scan(path: Path, owner_repo: str, *, commit: str | None = None) -> Scan:
    """Read every skill of the source at ``path`` (one skill folder, or a folder searched
    as :func:`brahmi.skills.discovery.discover` does).

    A malformed skill is reported and skipped; it never stops the others (DESIGN §1).
    Two skills of the source with one name: the first found is kept, the second reported.
    """
    return read_skills(discovery.discover(path), owner_repo, commit=commit)


def scan_project(workspace: Path, owner_repo: str) -> Scan:
    """Read the skills of a project workspace's ``.agents/skills`` and ``.claude/skills``."""
    return read_skills(discovery.discover_project(workspace), owner_repo)


def read_skills(found: discovery.Discovery, owner_repo: str, *, commit: str | None = None) -> Scan:
    """Load the skill folders ``found`` lists, with the problems of the search."""
    result = Scan(problems=list(found.problems))
    first: dict[str, Path] = {}
    for folder in found.folders:
        report = validate_skill(folder)
        if not report.ok:
            result.problems.extend(report.problems)
            continue
        try:
            skill = load_skill(folder, owner_repo, commit=commit, report=report)
        except errors.InvalidSkill as exc:  # a rule load_skill checks beyond the report
            result.problems.append(SkillProblem(str(folder), None, "invalid_skill", exc.message))
            continue
        if skill.name in first:
            result.problems.append(
                SkillProblem(
                    str(folder / "SKILL.md"),
                    None,
                    "duplicate_name",
                    f"the skill {skill.name!r} is also at {first[skill.name]}, which is kept; "
                    "this copy is skipped",
                )
            )
            continue
        first[skill.name] = folder
        result.skills.append(skill)
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
    """Run ``git ARGS`` in its own session; on timeout the whole group is killed (git
    starts helpers such as ``git-remote-https`` that would otherwise outlive it)."""
    if shutil.which("git") is None:
        raise errors.InvalidSkill(
            "the git program is not installed; install git to add git sources"
        )
    env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", "GIT_ASKPASS": "true"}
    verb = args[2] if args[0] == "-C" else args[0]
    where = _where(args)
    process = subprocess.Popen(
        ["git", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        encoding="utf-8",
        errors="replace",
        env=env,
        start_new_session=True,
    )
    try:
        out, err = process.communicate(timeout=GIT_TIMEOUT_S)
    except subprocess.TimeoutExpired as exc:
        _kill_group(process)
        raise errors.InvalidSkill(
            _redact(f"git {verb}{where} did not answer within {GIT_TIMEOUT_S:g} s")
        ) from exc
    if process.returncode != 0:
        detail = (err or out).strip().splitlines()
        raise errors.InvalidSkill(
            _redact(f"git {verb}{where} failed: {detail[-1] if detail else process.returncode}")
        )
    return out


#: The user and password of a URL (``https://user:token@host/…``), never shown.
_CREDENTIALS = re.compile(r"(?<=://)[^/@\s]+@")


def _redact(text: str) -> str:
    """``text`` with the credentials of any URL in it replaced by ``***@``."""
    return _CREDENTIALS.sub("***@", text)


def _where(args: list[str]) -> str:
    """`` of URL`` for a clone, `` in FOLDER`` for a command run in a clone."""
    if args[0] == "clone" and "--" in args:
        return f" of {args[args.index('--') + 1]}"
    if args[0] == "-C":
        return f" in {args[1]}"
    return ""


def _kill_group(process: subprocess.Popen[str]) -> None:
    """SIGTERM the process group, wait a moment, then SIGKILL it."""
    for sig, wait_s in ((signal.SIGTERM, 2.0), (signal.SIGKILL, 5.0)):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        try:
            process.communicate(timeout=wait_s)
            return
        except subprocess.TimeoutExpired:
            continue
