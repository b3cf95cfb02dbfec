"""``brahmi deploy`` on the local target, from source, as real processes (DESIGN §11).

Each project is written to ``tmp_path``: a stdlib HTTP backend that reads its database
URL from a var and prints its pid, a frontend built by a build service into static files,
and a PostgreSQL service mapped to the server on 127.0.0.1:5432. Every check is a real
HTTP request or a look at ``/proc``; every test stops what it deployed.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import textwrap
import time
from collections.abc import Iterator
from importlib.metadata import entry_points
from pathlib import Path

import httpx
import pytest

from tests.acceptance.conftest import Cli

#: The probe limit the failing-service tests give ``brahmi deploy --timeout``.
SHORT_TIMEOUT_S = 3.0
#: How long a process that was stopped may take to disappear.
GONE_S = 10.0

BACKEND = """\
import json, os, sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path == "/health":
            body = b"ok"
        elif self.path == "/config":
            body = json.dumps({"database_url": os.environ.get("DATABASE_URL"),
                               "port": os.environ.get("PORT")}).encode()
        else:
            self.send_error(404)
            return
        self.send_response(200)
        self.end_headers()
        self.wfile.write(body)

print(f"backend pid {os.getpid()} on port {os.environ['PORT']}", flush=True)
ThreadingHTTPServer(("127.0.0.1", int(os.environ["PORT"])), Handler).serve_forever()
"""

WEB_BUILD = """\
from pathlib import Path
Path("dist").mkdir(exist_ok=True)
Path("dist/index.html").write_text("<h1>notes</h1>")
print("built dist/index.html")
"""

HEAD = """\
[[services]]
uniqueIdentifier = 100
name = "db"
type = "postgres"
applicationID = "{applicationID}"

[services.configuration.settings]
image = "postgres:16"

[[services.configuration.vars]]
key = "POSTGRES_DB"
value = "notes"

[[services]]
uniqueIdentifier = 101
name = "api-build"
type = "build"
applicationID = "{applicationID}"

[services.configuration.settings]
repoUrl = "https://example.com/acme/notes"
buildPath = "backend"
targetBranches = ["main"]
installationId = ""
"""


def backend(cmd: str = "python server.py", extra: str = "") -> str:
    return f"""
[[services]]
uniqueIdentifier = 102
name = "api"
type = "backend"
applicationID = "{{applicationID}}"

[services.configuration.settings]
image = "${{101.outputs.IMAGE_URL}}"
cmd = "{cmd}"
commandPort = 8000
publicNet = true
{extra}
[[services.configuration.vars]]
key = "DATABASE_URL"
value = "postgresql://postgres@127.0.0.1:5432/${{100.vars.POSTGRES_DB}}"
"""


FRONTEND = """
[[services]]
uniqueIdentifier = 103
name = "web-build"
type = "build"
applicationID = "{applicationID}"

[services.configuration.settings]
repoUrl = "https://example.com/acme/notes"
buildPath = "web"
targetBranches = ["main"]
installationId = ""
buildCommand = "python build.py"
outputPath = "dist"

[[services]]
uniqueIdentifier = 104
name = "web"
type = "frontend"
applicationID = "{applicationID}"

[services.configuration.settings]
staticPath = "${103.outputs.PATH}"
cmd = "python -m http.server 3000 --bind 0.0.0.0"
commandPort = 3000
publicNet = true
"""


def project(tmp_path: Path, toml: str, backend_code: str = BACKEND) -> Path:
    """A project folder with a backend, a frontend source, and ``toml`` as aramb.toml.

    Skips when the file names PostgreSQL and none answers on 127.0.0.1:5432 (every
    machine of this project has one; the local target maps the service to it)."""
    if 'type = "postgres"' in toml and not port_answers(5432):
        pytest.skip("no PostgreSQL server answers on 127.0.0.1:5432")
    root = tmp_path / "notes"
    (root / "backend").mkdir(parents=True)
    (root / "web").mkdir()
    (root / "backend" / "server.py").write_text(backend_code)
    (root / "web" / "build.py").write_text(WEB_BUILD)
    (root / "aramb.toml").write_text(toml)
    return root


def port_answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


@pytest.fixture
def deployed(cli: Cli) -> Iterator[list[Path]]:
    """Projects a test deployed: stopped at teardown whatever happened."""
    projects: list[Path] = []
    yield projects
    for root in projects:
        cli("deploy", "stop", root)


def running(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie left to a parent that does not reap is not running)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rfind(")") + 2 :][0] not in "ZX"


def group_members(pgid: int) -> list[int]:
    """Live processes of a process group."""
    members = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if os.getpgid(int(entry.name)) == pgid and running(int(entry.name)):
                    members.append(int(entry.name))
            except OSError:
                continue
    return members


def wait_gone(pids: list[int]) -> list[int]:
    """The pids still running (or with a live group) after up to GONE_S."""
    deadline = time.monotonic() + GONE_S
    while True:
        left = [p for p in pids if running(p) or group_members(p)]
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.05)


def logged_pid(text: str) -> int:
    match = re.search(r"backend pid (\d+)", text)
    assert match, text
    return int(match.group(1))


def test_deploy_from_source_serves_the_frontend_and_backend_then_stops(
    cli: Cli, tmp_path: Path, deployed: list[Path]
) -> None:
    root = project(tmp_path, HEAD + backend() + FRONTEND)
    deployed.append(root)

    result = cli.json("deploy", root)

    assert result["status"] == "deployed"
    assert result["target"] == "local" and result["mode"] == "source"
    by_name = {s["name"]: s for s in result["services"]}
    assert by_name["db"]["state"] == "external" and by_name["db"]["port"] == 5432
    assert by_name["web-build"]["state"] == "built"
    assert by_name["web-build"]["path"] == str(root / "web" / "dist")
    web, api = by_name["web"], by_name["api"]
    assert result["public_url"] == web["url"] == f"http://127.0.0.1:{web['port']}"
    assert web["port"] != 3000 and api["port"] != 8000
    page = httpx.get(result["public_url"], timeout=5)
    assert page.status_code == 200 and "<h1>notes</h1>" in page.text
    config = httpx.get(f"{api['url']}/config", timeout=5).json()
    assert config == {
        "database_url": "postgresql://postgres@127.0.0.1:5432/notes",
        "port": str(api["port"]),
    }

    # Another process sees it, and reads its logs.
    status = cli.json("deploy", "status", root)
    assert status["status"] == "deployed"
    assert [s["state"] for s in status["services"]] == [
        "external",
        "built",
        "running",
        "built",
        "running",
    ]
    logs = cli("deploy", "logs", "api", root)
    assert logs.returncode == 0, logs.stderr
    assert logged_pid(logs.stdout) == api["pid"]
    build_logs = cli("deploy", "logs", "103", root, "--lines", "5")
    assert "built dist/index.html" in build_logs.stdout

    stopped = cli.json("deploy", "stop", root)
    assert stopped["status"] == "stopped"
    assert wait_gone([api["pid"], web["pid"]]) == []
    after = cli("deploy", "status", root, "--json")
    assert after.returncode == 1
    assert json.loads(after.stdout)["status"] == "stopped"
    with pytest.raises(httpx.TransportError):
        httpx.get(result["public_url"], timeout=2)


def test_deploy_without_a_folder_uses_the_current_one_and_a_second_deploy_replaces_the_first(
    cli: Cli, tmp_path: Path, deployed: list[Path]
) -> None:
    root = project(tmp_path, HEAD + backend())
    deployed.append(root)
    here = Cli(cli.exe, cli.env, root)

    first = here("deploy")
    assert first.returncode == 0, first.stderr
    assert first.stdout.strip().splitlines()[-1].startswith("PUBLIC_URL: http://127.0.0.1:")
    first_pid = here.json("deploy", "status")["services"][2]["pid"]

    second = cli.json("deploy", "./notes")
    assert second["status"] == "deployed"
    assert second["services"][2]["pid"] != first_pid
    assert wait_gone([first_pid]) == []
    assert httpx.get(f"{second['public_url']}/health", timeout=5).status_code == 200
    assert second["checks"] == [f"GET {second['public_url']}/health → 200"]
    logs = here("deploy", "logs", "api", "./aramb.toml")
    assert logged_pid(logs.stdout) == second["services"][2]["pid"]


@pytest.mark.slow
def test_a_pip_install_goes_into_a_virtualenv_of_its_own_and_runs_again_only_on_change(
    cli: Cli, tmp_path: Path, deployed: list[Path]
) -> None:
    toml = HEAD.replace(
        'installationId = ""',
        'installationId = ""\ninstallCommand = "pip install -r requirements.txt"',
    )
    root = project(
        tmp_path, toml + backend(), BACKEND.replace('"port": ', '"prefix": sys.prefix, "port": ')
    )
    (root / "backend" / "requirements.txt").write_text("# nothing to install\n")
    deployed.append(root)
    home = Path(cli.env["BRAHMI_HOME"])

    first = cli.json("deploy", root, "--timeout", "60")

    prefix = httpx.get(f"{first['public_url']}/config", timeout=5).json()["prefix"]
    assert Path(prefix).parent.name == "envs" and home in Path(prefix).parents
    assert "pip install -r requirements.txt\n" in cli("deploy", "logs", "api-build", root).stdout

    cli.json("deploy", root, "--timeout", "60")
    assert "skipped, its inputs did not change" in cli("deploy", "logs", "api-build", root).stdout

    (root / "backend" / "requirements.txt").write_text("# still nothing, but changed\n")
    cli.json("deploy", root, "--timeout", "60")
    assert "skipped" not in cli("deploy", "logs", "api-build", root).stdout


def test_status_says_which_service_exited(cli: Cli, tmp_path: Path, deployed: list[Path]) -> None:
    root = project(tmp_path, HEAD + backend() + FRONTEND)
    deployed.append(root)
    result = cli.json("deploy", root)
    api = result["services"][2]

    os.kill(api["pid"], signal.SIGKILL)
    assert wait_gone([api["pid"]]) == []

    proc = cli("deploy", "status", root, "--json")
    assert proc.returncode == 1
    status = json.loads(proc.stdout)
    assert status["status"] == "degraded"
    assert {s["name"]: s["state"] for s in status["services"]}["api"] == "exited"
    assert {s["name"]: s["state"] for s in status["services"]}["web"] == "running"


def test_targets_are_entry_points_and_an_unknown_one_is_a_clear_error(
    cli: Cli, tmp_path: Path
) -> None:
    assert {ep.name: ep.value for ep in entry_points(group="brahmi.deploy_targets")}[
        "local"
    ] == "brahmi.deploy.local:LocalTarget"
    error = cli.json("deploy", project(tmp_path, HEAD + backend()), "--target", "moon", exit_code=1)
    assert error["error"] == "deploy_target_not_found"
    assert "local" in error["message"]


def test_a_compose_style_database_host_points_at_the_server_here(
    cli: Cli, tmp_path: Path, deployed: list[Path]
) -> None:
    toml = HEAD + backend().replace("@127.0.0.1:5432/", "@db:5432/")
    root = project(tmp_path, toml)
    deployed.append(root)

    result = cli.json("deploy", root)

    config = httpx.get(f"{result['public_url']}/config", timeout=5).json()
    assert config["database_url"] == "postgresql://postgres@127.0.0.1:5432/notes"
    assert result["services"][0]["url"] == "postgresql://127.0.0.1:5432"


def test_a_node_frontend_is_built_with_npm_and_redis_maps_to_the_server_here(
    cli: Cli, tmp_path: Path, deployed: list[Path]
) -> None:
    if not shutil.which("npm"):
        pytest.skip("npm is not installed")
    if not port_answers(6379):
        pytest.skip("no Redis server answers on 127.0.0.1:6379")
    # As `brahmi metadata generate` writes a Vite app: npm build, npx serve of the output.
    frontend = FRONTEND.replace('buildCommand = "python build.py"\noutputPath = "dist"', "")
    frontend = frontend.replace(
        "python -m http.server 3000 --bind 0.0.0.0", "npx serve -s . -l 3000"
    )
    redis = textwrap.dedent("""
        [[services]]
        uniqueIdentifier = 105
        name = "cache"
        type = "redis"
        applicationID = "{applicationID}"

        [services.configuration.settings]
        image = "redis:7"
        """)
    root = project(tmp_path, HEAD + backend() + frontend + redis)
    (root / "web" / "package.json").write_text(
        json.dumps({"name": "web", "version": "1.0.0", "scripts": {"build": "node build.js"}})
    )
    (root / "web" / "build.js").write_text(
        'const fs = require("fs"); fs.mkdirSync("dist", {recursive: true});'
        ' fs.writeFileSync("dist/index.html", "<h1>from npm</h1>");'
    )
    deployed.append(root)

    result = cli.json("deploy", root, "--timeout", "60")

    by_name = {s["name"]: s for s in result["services"]}
    assert by_name["web-build"]["path"] == str(root / "web" / "dist")
    assert by_name["cache"]["state"] == "external" and by_name["cache"]["port"] == 6379
    assert "<h1>from npm</h1>" in httpx.get(result["public_url"], timeout=5).text
    build_log = cli("deploy", "logs", "web-build", root).stdout
    assert "npm install" in build_log and "npm run build" in build_log


def test_status_of_a_project_never_deployed_is_not_found(cli: Cli, tmp_path: Path) -> None:
    error = cli.json("deploy", "status", tmp_path, exit_code=1)
    assert error["error"] == "deployment_not_found"


def test_a_backend_that_never_answers_fails_within_the_probe_limit_with_its_logs(
    cli: Cli, tmp_path: Path, deployed: list[Path]
) -> None:
    silent = "import os, time\nprint(f'backend pid {os.getpid()} thinking', flush=True)\n"
    silent += "time.sleep(600)\n"
    root = project(tmp_path, HEAD + backend(), backend_code=silent)
    deployed.append(root)

    proc = cli("deploy", root, "--timeout", str(SHORT_TIMEOUT_S), "--json")

    assert proc.returncode == 1, proc.stderr
    error = json.loads(proc.stdout)
    assert error["status"] == "failed" and error["public_url"] is None
    assert error["error"] == "health_check_failed"
    assert error["failed_service"] == "api"
    assert "thinking" in error["logs_tail"] and "thinking" in error["message"]
    assert wait_gone([logged_pid(error["logs_tail"])]) == []
    # The failed deployment's logs stay readable.
    assert "thinking" in cli("deploy", "logs", "api", root).stdout


def test_a_start_command_that_exits_at_once_is_a_clear_error(
    cli: Cli, tmp_path: Path, deployed: list[Path]
) -> None:
    crash = "import sys\nprint('cannot connect to the database', file=sys.stderr)\nsys.exit(3)\n"
    root = project(tmp_path, HEAD + backend() + FRONTEND, backend_code=crash)
    deployed.append(root)

    error = cli.json("deploy", root, exit_code=1)

    assert error["error"] == "service_exited"
    assert error["failed_service"] == "api" and error["key"] == "settings.cmd"
    assert error["exit_code"] == 3
    assert "cannot connect to the database" in error["logs_tail"]
    pids = [s["pid"] for s in error["services"] if s.get("pid")]
    assert pids and wait_gone(pids) == []


def test_a_port_already_taken_is_a_clear_error(
    cli: Cli, tmp_path: Path, deployed: list[Path]
) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        taken = holder.getsockname()[1]
        # This backend ignores PORT and binds a fixed port, which is taken.
        fixed = BACKEND.replace('int(os.environ["PORT"])', str(taken))
        root = project(tmp_path, HEAD + backend(), backend_code=fixed)
        deployed.append(root)

        error = cli.json("deploy", root, exit_code=1)

    assert error["error"] == "port_in_use"
    assert error["failed_service"] == "api"
    assert "Address already in use" in error["logs_tail"]


def test_a_reference_to_a_missing_service_is_invalid_and_starts_nothing(
    cli: Cli, tmp_path: Path
) -> None:
    toml = HEAD + backend().replace("${100.vars.POSTGRES_DB}", "${99.vars.POSTGRES_DB}")
    root = project(tmp_path, toml)

    error = cli.json("deploy", root, exit_code=2)

    assert error["error"] == "invalid_metadata"
    [problem] = error["problems"]
    assert problem["code"] == "bad_reference" and problem["service"] == 102
    assert problem["key"] == "services[2].configuration.vars[0].value"
    assert "service 99" in problem["message"]
    assert cli.json("deploy", "status", root, exit_code=1)["error"] == "deployment_not_found"


def test_a_file_that_is_not_toml_is_invalid(cli: Cli, tmp_path: Path) -> None:
    root = project(tmp_path, "[[services]\nname = ")
    error = cli.json("deploy", root, exit_code=2)
    assert error["error"] == "invalid_metadata"
    assert "not TOML" in error["message"]


def test_a_path_that_leaves_the_project_is_refused(cli: Cli, tmp_path: Path) -> None:
    toml = HEAD.replace('buildPath = "backend"', 'buildPath = "backend/../../etc"') + backend()
    error = cli.json("deploy", project(tmp_path, toml), exit_code=2)
    assert error["error"] == "invalid_metadata"
    [problem] = error["problems"]
    assert problem["code"] == "bad_path" and problem["service"] == 101
    assert problem["key"] == "services[1].configuration.settings.buildPath"


def test_a_link_that_leaves_the_project_is_refused(cli: Cli, tmp_path: Path) -> None:
    root = project(tmp_path, HEAD.replace('buildPath = "backend"', 'buildPath = "out"'))
    (root / "out").symlink_to(tmp_path)
    error = cli.json("deploy", root, exit_code=2)
    assert error["error"] == "invalid_metadata"
    assert error["key"] == "settings.buildPath" and error["service"] == "api-build"


def test_a_frontend_whose_server_is_not_installed_is_served_by_python(
    cli: Cli, tmp_path: Path, deployed: list[Path]
) -> None:
    toml = (
        HEAD
        + backend()
        + FRONTEND.replace(
            "python -m http.server 3000 --bind 0.0.0.0", "no-such-static-server -l 3000"
        )
    )
    root = project(tmp_path, toml)
    deployed.append(root)

    result = cli.json("deploy", root)

    assert any("'no-such-static-server' is not installed" in w for w in result["warnings"])
    page = httpx.get(result["public_url"], timeout=5)
    assert page.status_code == 200 and "<h1>notes</h1>" in page.text
    # A client-side route of a single-page app gets index.html; a missing asset is a 404.
    route = httpx.get(f"{result['public_url']}/notes/42", timeout=5)
    assert route.status_code == 200 and "<h1>notes</h1>" in route.text
    assert httpx.get(f"{result['public_url']}/assets/missing.js", timeout=5).status_code == 404


def test_npx_serve_is_not_downloaded_the_static_server_serves_instead(
    cli: Cli, tmp_path: Path, deployed: list[Path]
) -> None:
    toml = (
        HEAD
        + backend()
        + FRONTEND.replace("python -m http.server 3000 --bind 0.0.0.0", "npx serve -s . -l 3000")
    )
    root = project(tmp_path, toml)
    deployed.append(root)

    result = cli.json("deploy", root)

    assert any("npx would download 'serve'" in w for w in result["warnings"])
    assert httpx.get(result["public_url"], timeout=5).status_code == 200


def test_a_database_with_no_server_here_is_not_deployable_and_nothing_runs(
    cli: Cli, tmp_path: Path, deployed: list[Path]
) -> None:
    mongo = textwrap.dedent("""\
        [[services]]
        uniqueIdentifier = 100
        name = "db"
        type = "mongodb"
        applicationID = "{applicationID}"

        [services.configuration.settings]
        image = "mongo:7"

        [[services.configuration.vars]]
        key = "MONGO_URL"
        value = "mongodb://127.0.0.1:1/notes"
        """)
    toml = mongo + HEAD.split("[[services]]")[2].join(["[[services]]", ""])
    root = project(tmp_path, toml + backend().replace("${100.vars.POSTGRES_DB}", "notes"))
    deployed.append(root)

    error = cli.json("deploy", root, exit_code=1)

    assert error["error"] == "service_not_deployable"
    assert error["failed_service"] == "db"
    assert "127.0.0.1:1" in error["message"]
    assert [s["state"] for s in error["services"]] == ["pending", "built", "pending"]


def test_an_undeployable_service_type_is_a_clear_error(cli: Cli, tmp_path: Path) -> None:
    toml = (
        HEAD
        + backend()
        + HEAD.split("[[services]]")[1]
        .replace(
            'uniqueIdentifier = 100\nname = "db"\ntype = "postgres"',
            'uniqueIdentifier = 103\nname = "helper"\ntype = "aramb-agent"',
        )
        .join(["[[services]]", ""])
    )
    error = cli.json("deploy", project(tmp_path, toml), exit_code=1)
    assert error["error"] == "service_not_deployable"
    assert error["failed_service"] == "helper" and error["key"] == "type"


def docker_engine() -> str | None:
    """Why Docker tests cannot run here, or None when an engine answers."""
    try:
        proc = subprocess.run(
            ["docker", "info"], capture_output=True, timeout=10, check=False, text=True
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"docker info failed: {exc}"
    if proc.returncode != 0:
        said = (proc.stderr or proc.stdout).strip().splitlines()
        return f"no Docker engine answers: {said[-1] if said else proc.returncode}"
    return None


def test_deploy_with_docker_builds_an_image_and_runs_it_in_a_container(
    cli: Cli, tmp_path: Path, deployed: list[Path]
) -> None:
    reason = docker_engine()
    if reason:
        pytest.skip(reason)
    root = project(tmp_path, HEAD + backend())
    (root / "backend" / "Dockerfile").write_text(
        "FROM python:3.12-slim\nCOPY server.py /app/server.py\nWORKDIR /app\n"
        'CMD ["python", "server.py"]\n'
    )
    deployed.append(root)
    cli.env["BRAHMI_DEPLOY_MODE"] = "docker"

    result = cli.json("deploy", root, "--timeout", "120")

    assert result["mode"] == "docker" and result["images_built"]
    api = result["services"][2]
    assert api["container"] and api["state"] == "running"
    assert httpx.get(f"{result['public_url']}/health", timeout=5).status_code == 200
    assert cli.json("deploy", "stop", root)["status"] == "stopped"


def test_a_deploy_ended_by_sigterm_leaves_nothing_running(
    cli: Cli, tmp_path: Path, deployed: list[Path]
) -> None:
    silent = "import os, time\nprint(f'backend pid {os.getpid()} thinking', flush=True)\n"
    silent += "time.sleep(600)\n"
    root = project(tmp_path, HEAD + backend(), backend_code=silent)
    deployed.append(root)
    _terminate_once_logged(cli, root, "backend pid")


def test_docker_asked_for_without_an_engine_is_a_clear_error(cli: Cli, tmp_path: Path) -> None:
    if docker_engine() is None:
        pytest.skip("a Docker engine answers here")
    cli.env["BRAHMI_DEPLOY_MODE"] = "docker"
    error = cli.json("deploy", project(tmp_path, HEAD + backend()), exit_code=1)
    assert error["error"] == "deploy_failed"
    assert "no Docker engine answers" in error["message"]


def test_a_deploy_ended_by_sigterm_during_a_build_leaves_no_build_running(
    cli: Cli, tmp_path: Path, deployed: list[Path]
) -> None:
    slow_build = "import os, time\nprint(f'build pid {os.getpid()}', flush=True)\n"
    slow_build += "time.sleep(600)\n"
    toml = HEAD.replace(
        'installationId = ""\n', 'installationId = ""\nbuildCommand = "python slow.py"\n'
    )
    root = project(tmp_path, toml + backend())
    (root / "backend" / "slow.py").write_text(slow_build)
    deployed.append(root)
    _terminate_once_logged(cli, root, "build pid")


def _terminate_once_logged(cli: Cli, root: Path, says: str) -> None:
    """Start ``brahmi deploy ROOT``, wait until a service or build log says ``<says> PID``,
    SIGTERM the deploy, then check it failed and that process is gone."""
    proc = subprocess.Popen(
        [str(cli.exe), "deploy", str(root), "--timeout", "60"],
        env=cli.env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    home = Path(cli.env["BRAHMI_HOME"])
    deadline = time.monotonic() + 30
    pid = None
    while pid is None and time.monotonic() < deadline:
        for log in home.glob("deployments/*/logs/*.log"):
            found = re.search(rf"{says} (\d+)", log.read_text())
            pid = int(found.group(1)) if found else pid
        time.sleep(0.05)
    assert pid is not None and running(pid)

    proc.terminate()

    assert proc.wait(timeout=30) != 0
    assert wait_gone([pid]) == []
