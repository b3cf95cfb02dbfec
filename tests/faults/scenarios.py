"""Crash-anywhere scenarios shared by ``tests/faults`` (short, seeded) and
``benchmarks/soak.py`` (long): real ``brahmi`` processes, real SQLite, real agents.

:func:`write_world` lays out skills, a workspace and a plan of about 300 tasks: a chain, a
fan-out, layers with random (seeded) dependencies, a correctness loop whose QA verdict
depends on a counter file the build writes (fail, fail, pass), and parents whose agent adds
sub-tasks (dynamic discovery; checkpoints keep finished sub-tasks). :func:`crash_run`
SIGKILLs ``brahmi run`` at random moments and resumes with ``brahmi run --resume`` until
the plan is done; ``tests/faults/checks.py`` reads the database and returns every broken
guarantee (an empty list when all hold).
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

OWNER = "acme/faults"
FAST = f"{OWNER}/fast"
STEP = f"{OWNER}/step"
BUILD = f"{OWNER}/builder"
QA = f"{OWNER}/qa"
SPLIT = f"{OWNER}/split"
#: QA fails while the build's counter is below this: two fails, then a pass.
LOOP_PASS_AT = 3
SUBTASKS_PER_PARENT = 4
#: Seconds one ``brahmi run`` may take before the scenario gives up on it.
RUN_DEADLINE_S = 300.0

STEP_SCRIPT = """\
import json, sys, time
request = json.load(sys.stdin)
time.sleep(float(request["task"]["inputs"].get("ms", 0)) / 1000)
print(json.dumps({"outputs": {"uid": request["task"]["inputs"].get("uid")}}))
"""
# The build writes its turn (rebuilds + 1) to a counter file: idempotent, so a killed and
# re-run build leaves the same counter as one that ran once.
BUILD_SCRIPT = """\
import json, os, sys
request = json.load(sys.stdin)
turn = request["task"]["rebuilds"] + 1
path = os.path.join(request["workdir"], "build.counter")
with open(path + ".tmp", "w") as f:
    f.write(str(turn))
os.replace(path + ".tmp", path)
print(json.dumps({"outputs": {"built_turn": turn}}))
"""
QA_SCRIPT = f"""\
import json, os, sys
request = json.load(sys.stdin)
with open(os.path.join(request["workdir"], "build.counter")) as f:
    seen = int(f.read())
if seen < {LOOP_PASS_AT}:
    feedback = {{"summary": f"turn {{seen}} is not good enough",
                 "issues": [{{"what": f"counter-{{seen}}", "severity": "major"}}]}}
    out = {{"verdict": "fail", "feedback_for_rebuild": feedback, "seen": seen}}
else:
    out = {{"verdict": "pass", "seen": seen}}
print(json.dumps({{"outputs": out}}))
"""
# Dynamic discovery: the parent's agent adds its sub-tasks through the service, and adds
# only those missing, so a re-run after a kill does not add them twice.
SPLIT_SCRIPT = f"""\
import json, sys
from brahmi.config import load_settings
from brahmi.service import Brahmi
import time
request = json.load(sys.stdin)
task = request["task"]
deadline = time.monotonic() + 60  # a database restart: try again, as a careful agent would
while True:
    brahmi = Brahmi(load_settings())
    try:
        have = len(brahmi.store.subtasks_of(task["id"]))
        for n in range(have + 1, {SUBTASKS_PER_PARENT} + 1):
            brahmi.create_subtask(task["id"], {{
                "task_name": f"part {{n}} of {{task['task_name']}}",
                "description": "a discovered part",
                "skill_id": "{FAST}",
                "inputs": {{"part": n}},
            }})
        break
    except Exception as exc:
        if time.monotonic() > deadline:
            raise
        print(f"retrying after {{exc!r}}", file=sys.stderr)
        time.sleep(0.5)
    finally:
        brahmi.close()
print(json.dumps({{"outputs": {{"parts": {SUBTASKS_PER_PARENT}}}}}))
"""


def _skill(root: Path, name: str, command: str, script: str | None) -> None:
    folder = root / name
    (folder / "scripts").mkdir(parents=True, exist_ok=True)
    (folder / "SKILL.md").write_text(
        f"---\nname: {name}\ndescription: Fault scenario skill {name}.\nmetadata:\n"
        f"  brahmi-runtime: command\n  brahmi-command: {json.dumps(command)}\n---\n\n"
        f"# {name}\n\nA step of the crash scenario.\n",
        encoding="utf-8",
    )
    if script is not None:
        (folder / "scripts" / "run.py").write_text(script, encoding="utf-8")


def write_skills(root: Path) -> Path:
    """The scenario's command skills under ``root`` (owner/repo :data:`OWNER`)."""
    python = "{python} {skill_dir}/scripts/run.py"
    _skill(root, "fast", "printf '{\"outputs\": {}}'", None)
    _skill(root, "step", python, STEP_SCRIPT)
    _skill(root, "builder", python, BUILD_SCRIPT)
    _skill(root, "qa", python, QA_SCRIPT)
    _skill(root, "split", python, SPLIT_SCRIPT)
    return root


def _task(uid: int, skill: str, deps: list[int], **inputs: Any) -> dict[str, Any]:
    return {
        "unique_id": uid,
        "task_name": f"task {uid} ({skill.rsplit('/', 1)[1]})",
        "description": "a step of the crash scenario",
        "skill_id": skill,
        "task_order": 1,
        "inputs": {"uid": uid, **inputs},
        "logical_dependencies": deps,
        "timeout_seconds": 120,
        # A worker killed mid-run costs the task an attempt (DESIGN §3: infrastructure
        # failures are retried up to max_attempts, default 3); dense kills can hit a slow
        # task (a parent's agent adding sub-tasks) more often than that.
        "max_attempts": 10,
    }


def plan_tasks(
    seed: int,
    *,
    chain: int = 70,
    fan: int = 100,
    layers: int = 5,
    width: int = 20,
    parents: int = 6,
) -> list[dict[str, Any]]:
    """About 300 task specs: chain, fan-out, random layers, a loop, parents of sub-tasks."""
    rng = random.Random(seed)
    specs: list[dict[str, Any]] = []
    uid = 0

    def add(skill: str, deps: list[int], **inputs: Any) -> int:
        nonlocal uid
        uid += 1
        specs.append(_task(uid, skill, deps, **inputs))
        return uid

    previous = add(FAST, [])
    for _ in range(chain - 1):
        previous = add(FAST, [previous])
    root = add(STEP, [], ms=50)
    for i in range(fan):
        add(FAST if i % 4 else STEP, [root], ms=rng.randint(0, 40))
    below: list[int] = []
    for _ in range(layers):
        here = []
        for _ in range(width):
            deps = sorted(rng.sample(below, k=min(2, len(below)))) if below else []
            here.append(add(STEP, deps, ms=rng.randint(0, 80)))
        below = here
    build = add(BUILD, [])
    qa = add(QA, [build])
    specs[-1]["inputs"]["critiques_tasks"] = [build]
    specs[-1]["max_rebuilds"] = LOOP_PASS_AT + 1
    add(FAST, [qa])
    for _ in range(parents):
        add(SPLIT, [])
    return specs


@dataclass
class World:
    """Where one scenario's pieces live."""

    root: Path
    exe: Path
    seed: int
    #: A PostgreSQL URL; None for the embedded SQLite under ``home``.
    database_url: str | None = None
    plan: Path = field(init=False)
    workspace: Path = field(init=False)
    skills: Path = field(init=False)
    home: Path = field(init=False)
    specs: list[dict[str, Any]] = field(init=False)

    def __post_init__(self) -> None:
        self.plan = self.root / "plan.json"
        self.workspace = self.root / "workspace"
        self.skills = self.root / "skills"
        self.home = self.root / "home"

    def env(self, home: Path | None = None, database_url: str | None = None) -> dict[str, str]:
        """The environment of every ``brahmi`` process of this world."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("BRAHMI_")}
        env["BRAHMI_HOME"] = str(home or self.home)
        if database_url or self.database_url:
            env["BRAHMI_DATABASE_URL"] = str(database_url or self.database_url)
        env["BRAHMI_SKILL_DIRS"] = f"{self.skills}={OWNER}"
        env["BRAHMI_POLL_S"] = "0.05"
        env["BRAHMI_HEARTBEAT_S"] = "0.5"
        env["BRAHMI_LEASE_S"] = "5"
        return env

    @property
    def database(self) -> Path:
        """The embedded SQLite file."""
        return self.home / "brahmi.db"

    def run_args(self, *, resume: bool) -> list[str]:
        """``brahmi run PLAN`` (``--resume`` after the first)."""
        args = [
            str(self.exe),
            "run",
            str(self.plan),
            "--project",
            str(self.workspace),
            "--json",
            "--skills",
            f"{self.skills}={OWNER}",
        ]
        return [*args, "--resume"] if resume else args


def write_world(
    root: Path, exe: Path, seed: int, database_url: str | None = None, **shape: int
) -> World:
    """Skills, workspace and plan for one scenario under ``root``."""
    world = World(root, exe, seed, database_url)
    world.workspace.mkdir(parents=True)
    write_skills(world.skills)
    world.specs = plan_tasks(seed, **shape)
    world.plan.write_text(json.dumps({"tasks": world.specs}), encoding="utf-8")
    return world


@dataclass
class CrashReport:
    """What :func:`crash_run` did."""

    kills: int = 0
    runs: int = 0
    #: Seconds after start of each kill.
    moments: list[float] = field(default_factory=list)
    exit_code: int | None = None
    output: str = ""


def crash_run(
    world: World, kills: int, *, rng: random.Random, max_delay_s: float = 3.0
) -> CrashReport:
    """Run the plan, SIGKILLing ``brahmi run`` ``kills`` times at random moments (each
    followed by ``brahmi run --resume``), then resume once more to the end."""
    report = CrashReport()
    env = world.env()
    log = world.root / "runs.log"
    while True:
        report.runs += 1
        with log.open("ab") as out:
            proc = subprocess.Popen(
                world.run_args(resume=report.runs > 1),
                env=env,
                cwd=world.root,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=out,
            )
        if report.kills < kills:
            delay = rng.uniform(0.2, max_delay_s)
            try:
                proc.wait(delay)
            except subprocess.TimeoutExpired:
                proc.send_signal(signal.SIGKILL)
                proc.wait(30)
                assert proc.stdout is not None
                proc.stdout.close()
                report.kills += 1
                report.moments.append(round(delay, 3))
                continue
        try:
            stdout, _ = proc.communicate(timeout=RUN_DEADLINE_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            raise
        report.exit_code = proc.returncode
        report.output = stdout.decode("utf-8", errors="replace")
        if report.kills >= kills:
            return report
        # The plan finished before all kills landed: that run is the last one.
        return report


@dataclass
class Cluster:
    """``brahmi worker`` processes and a ``brahmi serve`` on one shared database, each
    restartable under its name (one BRAHMI_HOME per name: one per machine)."""

    world: World
    #: The URL the cluster's processes use (e.g. through a proxy that can be cut).
    url: str
    serve_port: int
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def start(self, name: str) -> None:
        """Start (or restart) process ``name``: ``serve`` or ``worker-N``."""
        world = self.world
        skills = f"{world.skills}={OWNER}"
        if name == "serve":
            args = ["serve", "--no-workers", "--port", str(self.serve_port)]
        else:
            args = ["worker", "--concurrency", "4", "--skills", skills]
        with (world.root / f"{name}.log").open("ab") as log:
            self.procs[name] = subprocess.Popen(
                [str(world.exe), *args],
                env=world.env(world.root / f"home-{name}", self.url),
                cwd=world.root,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def kill(self, name: str) -> None:
        """SIGKILL process ``name`` and reap it."""
        proc = self.procs[name]
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
        proc.wait(30)

    def stop(self) -> None:
        """SIGTERM every process; SIGKILL what does not end within 20 s."""
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs.values():
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)

    def logs(self) -> str:
        """The end of every process's log."""
        return "\n".join(
            f"--- {p.name}\n{p.read_text(errors='replace')[-2000:]}"
            for p in sorted(self.world.root.glob("*.log"))
        )


def crash_cluster(
    cluster: Cluster,
    kills: int,
    *,
    rng: random.Random,
    workers: int = 3,
    max_delay_s: float = 2.0,
    outage: Any = None,
) -> CrashReport:
    """Submit the plan (``brahmi run --no-workers``) while ``workers`` workers and a server
    run; SIGKILL one of them at random moments and restart it, ``kills`` times. Halfway,
    ``outage()`` (if given) cuts the database for a moment. Waits for the plan to settle."""
    report = CrashReport()
    world = cluster.world
    names = ["serve", *(f"worker-{i}" for i in range(workers))]
    for name in names:
        cluster.start(name)
    with (world.root / "submit.log").open("ab") as log:
        submit = subprocess.Popen(
            [*world.run_args(resume=False), "--no-workers"],
            env=world.env(),
            cwd=world.root,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=log,
        )
    started = time.monotonic()
    try:
        while report.kills < kills and submit.poll() is None:
            delay = rng.uniform(0.2, max_delay_s)
            try:
                submit.wait(delay)
                break
            except subprocess.TimeoutExpired:
                pass
            victim = rng.choice(names)
            cluster.kill(victim)
            cluster.start(victim)
            report.kills += 1
            report.moments.append(round(time.monotonic() - started, 3))
            if outage is not None and report.kills == kills // 2:
                outage()
        stdout, _ = submit.communicate(timeout=RUN_DEADLINE_S)
    finally:
        if submit.poll() is None:
            submit.kill()
            submit.communicate()
    report.runs = 1
    report.exit_code = submit.returncode
    report.output = stdout.decode("utf-8", errors="replace")
    return report
