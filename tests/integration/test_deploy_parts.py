"""Parts of the local target on real folders: build steps, tools, records (DESIGN §11)."""

from __future__ import annotations

import json
import os
from pathlib import Path

from brahmi.deploy import records, source
from brahmi.deploy.base import Deployment, ServiceState
from brahmi.deploy.plan import ServiceEntry

ENTRY = ServiceEntry(101, "web-build", "build", {})


def test_a_node_folder_gets_npm_install_and_its_build_script(tmp_path: Path) -> None:
    (tmp_path / "package.json").write_text(json.dumps({"scripts": {"build": "vite build"}}))
    assert source.build_steps({}, tmp_path, ENTRY) == [
        ("install (package.json)", ["npm", "install"]),
        ("build (package.json)", ["npm", "run", "build"]),
    ]
    (tmp_path / "package-lock.json").write_text("{}")
    assert source.build_steps({}, tmp_path, ENTRY)[0][1] == ["npm", "ci"]
    (tmp_path / "node_modules").mkdir()
    assert [key for key, _ in source.build_steps({}, tmp_path, ENTRY)] == ["build (package.json)"]


def test_named_commands_win_and_are_split_without_a_shell(tmp_path: Path) -> None:
    (tmp_path / "package.json").write_text("{}")
    settings = {"installCommand": "pip install -r 'requirements dev.txt'", "buildCommand": ["make"]}
    assert source.build_steps(settings, tmp_path, ENTRY) == [
        ("settings.installCommand", ["pip", "install", "-r", "requirements dev.txt"]),
        ("settings.buildCommand", ["make"]),
    ]
    assert source.is_pip(["pip", "install", "."]) and source.is_pip(["python3", "-m", "pip"])
    assert not source.is_pip(["npm", "ci"])


def test_an_install_digest_changes_with_its_inputs_only(tmp_path: Path) -> None:
    (tmp_path / "requirements.txt").write_text("fastapi\n")
    (tmp_path / "app.py").write_text("print(1)\n")
    first = source.inputs_digest(["pip", "install", "-r", "requirements.txt"], tmp_path)
    (tmp_path / "app.py").write_text("print(2)\n")
    assert source.inputs_digest(["pip", "install", "-r", "requirements.txt"], tmp_path) == first
    (tmp_path / "requirements.txt").write_text("fastapi\nuvicorn\n")
    assert source.inputs_digest(["pip", "install", "-r", "requirements.txt"], tmp_path) != first


def test_which_frontends_the_builtin_static_server_serves(tmp_path: Path) -> None:
    path = os.environ["PATH"]
    assert source.builtin_static_reason(None, tmp_path, tmp_path, path) == "it has no cmd"
    assert "not installed" in str(
        source.builtin_static_reason(["nope-x"], tmp_path, tmp_path, path)
    )
    npx = ["npx", "serve", "-s", ".", "-l", "3000"]
    if source.program("npx", tmp_path, path):
        assert "download 'serve'" in str(
            source.builtin_static_reason(npx, tmp_path, tmp_path, path)
        )
        bin_dir = tmp_path / "node_modules" / ".bin"
        bin_dir.mkdir(parents=True)
        (bin_dir / "serve").touch()
        assert source.builtin_static_reason(npx, tmp_path, tmp_path, path) is None
    assert (
        source.builtin_static_reason(["python3", "-m", "http.server"], tmp_path, tmp_path, path)
        is None
    )


def test_records_are_per_project_folder_and_read_back_whole(tmp_path: Path) -> None:
    one, two = tmp_path / "a" / "app", tmp_path / "b" / "app"
    assert records.state_dir(tmp_path, one) != records.state_dir(tmp_path, two)
    assert records.state_dir(tmp_path, one).name.startswith("app-")
    deployment = Deployment(
        target="local",
        project_dir=str(one),
        status="deployed",
        public_url="http://127.0.0.1:4000",
        services=[ServiceState(102, "api", "backend", "running", pid=42, start_ticks=7, port=4000)],
        deployed_at="2026-12-05T00:00:00+00:00",
        checks=["GET http://127.0.0.1:4000/health → 200"],
    )
    folder = records.state_dir(tmp_path, one)
    assert records.load(folder) is None
    records.save(folder, deployment)
    assert records.load(folder) == deployment
    assert deployment.to_dict()["services"] == [
        {
            "id": 102,
            "name": "api",
            "type": "backend",
            "state": "running",
            "pid": 42,
            "port": 4000,
            "url": None,
        }
    ]
