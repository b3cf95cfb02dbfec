"""``brahmi metadata generate`` on real project folders (DESIGN §11), checked field by field."""

from __future__ import annotations

import stat
import tomllib
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from brahmi import errors
from brahmi.metadata import generate as gen
from brahmi.metadata import rules
from brahmi.metadata.sources import ProjectFiles
from tests import metadata_projects as projects

APP = "{applicationID}"


def services(text: str) -> list[dict[str, Any]]:
    parsed: list[dict[str, Any]] = tomllib.loads(text)["services"]
    return parsed


def by_name(text: str) -> dict[str, dict[str, Any]]:
    return {s["name"]: s for s in services(text)}


def pairs(service: dict[str, Any], kind: str) -> dict[str, str]:
    return {p["key"]: p["value"] for p in service.get("configuration", {}).get(kind, [])}


def project(tmp_path: Path, name: str) -> Path:
    root = tmp_path / name
    root.mkdir()
    return root


def test_compose_and_fastapi_give_databases_a_build_and_a_wired_backend(tmp_path: Path) -> None:
    root = projects.compose_fastapi(project(tmp_path, "shop"))
    result = gen.generate(root)

    assert result.problems == []
    assert not result.existed
    assert not (root / "aramb.toml").exists(), "generate alone writes nothing"
    found = services(result.text)
    assert [(s["uniqueIdentifier"], s["name"], s["type"]) for s in found] == [
        (100, "db", "postgres"),
        (101, "cache", "redis"),
        (102, "api-build", "build"),
        (103, "api", "backend"),
        (104, "mail", "template"),
    ]
    assert all(s["applicationID"] == APP for s in found)
    db, cache, build, api, mail = found
    assert db["configuration"]["settings"] == {"image": "postgres:16-alpine"}
    assert pairs(db, "vars") == {"POSTGRES_DB": "shop", "POSTGRES_USER": "shop"}
    # The compose file's literal password never reaches the file.
    assert pairs(db, "secrets") == {"POSTGRES_PASSWORD": ""}
    assert "example-only" not in result.text
    assert cache["configuration"]["settings"] == {"image": "redis:7"}  # 6379 is the default
    assert build["configuration"]["settings"] == {
        "repoUrl": "",
        "buildPath": "backend",
        "targetBranches": ["main"],
        "installationId": "",
        "installCommand": "pip install -r requirements.txt",
    }
    assert "vars" not in build["configuration"]
    assert api["configuration"]["settings"] == {
        "image": "${102.outputs.IMAGE_URL}",
        "cmd": "uvicorn app.main:app --host 0.0.0.0 --port 8000",
        "commandPort": 8000,
        "publicNet": True,
        "healthCheckPath": "/healthz",
    }
    assert pairs(api, "vars") == {
        "LOG_LEVEL": "debug",  # compose's ${LOG_LEVEL:-debug} beats the code's "info"
        "DB_NAME": "${100.vars.POSTGRES_DB}",
        "DB_USER": "${100.vars.POSTGRES_USER}",
        "PAGE_SIZE": "50",
        "REDIS_URL": "redis://cache:6379/0",
    }
    assert pairs(api, "secrets") == {
        "DATABASE_URL": "",  # it would carry the database password
        "DB_PASSWORD": "${100.secrets.POSTGRES_PASSWORD}",
        "STRIPE_API_KEY": "",
    }
    assert "HOME" not in result.text, "variables read only by tests are not configuration"
    assert mail["configuration"]["settings"] == {
        "image": "mailhog/mailhog:v1.0.1",
        "commandPort": 8025,
    }
    assert any("mail" in w and "template" in w for w in result.warnings)
    status = tomllib.loads(result.text)["config_status"]
    assert status["status"] == "incomplete"
    assert status["incomplete"] == [100, 102, 103]
    assert "STRIPE_API_KEY" in status["message"]


def test_a_vite_app_is_a_frontend_fed_by_a_build_of_its_static_files(tmp_path: Path) -> None:
    root = projects.vite_frontend(project(tmp_path, "storefront"))
    result = gen.generate(root)

    assert result.problems == []
    build, web = services(result.text)
    assert (build["uniqueIdentifier"], build["name"], build["type"]) == (
        100,
        "storefront-build",
        "build",
    )
    assert build["configuration"]["settings"] == {
        "repoUrl": "",
        "buildPath": ".",
        "targetBranches": ["main"],
        "installationId": "",
        "installCommand": "npm ci",
        "buildCommand": "npm run build",
        "outputPath": "public-build",
    }
    assert (web["uniqueIdentifier"], web["name"], web["type"]) == (101, "storefront", "frontend")
    assert web["configuration"]["settings"] == {
        "staticPath": "${100.outputs.PATH}",
        "cmd": "npx serve -s . -l 3000",
        "commandPort": 3000,
        "publicNet": True,
    }
    assert "vars" not in web["configuration"]
    # Build-time variables have no place in the file: a warning names them.
    assert any("VITE_API_URL" in w for w in result.warnings)
    assert "SHOULD_NOT_BE_READ" not in result.text, "node_modules is never read"
    assert "express" not in result.text


def test_a_go_server_is_built_with_go_build_and_gets_the_database_its_driver_needs(
    tmp_path: Path,
) -> None:
    root = projects.go_backend(project(tmp_path, "orders"))
    result = gen.generate(root)

    assert result.problems == []
    db, build, server = services(result.text)
    assert (db["name"], db["type"], db["configuration"]["settings"]) == (
        "db",
        "postgres",
        {"image": "postgres:16"},
    )
    assert pairs(db, "secrets") == {"POSTGRES_PASSWORD": ""}
    assert any("pgx" in w or "client library" in w for w in result.warnings)
    assert build["configuration"]["settings"] == {
        "repoUrl": "",
        "buildPath": ".",
        "targetBranches": ["main"],
        "installationId": "",
        "installCommand": "go mod download",
        "buildCommand": "go build -o bin/server ./cmd/server",
    }
    assert (server["name"], server["type"]) == ("orders", "backend")
    assert server["configuration"]["settings"] == {
        "image": "${101.outputs.IMAGE_URL}",
        "cmd": "./bin/server",
        "commandPort": 9090,
        "publicNet": True,
        "healthCheckPath": "/health",
    }
    assert pairs(server, "vars") == {"APP_ENV": ""}
    assert pairs(server, "secrets") == {"JWT_SECRET": "", "DATABASE_URL": ""}


def test_the_origin_remote_and_branch_fill_the_build_service_without_credentials(
    tmp_path: Path,
) -> None:
    root = projects.go_backend(project(tmp_path, "orders"))
    (root / ".git").mkdir()
    (root / ".git/HEAD").write_text("ref: refs/heads/release\n", encoding="utf-8")
    (root / ".git/config").write_text(
        '[core]\n\tbare = false\n[remote "origin"]\n'
        "\turl = https://bot:ghp_secret123@github.com/acme/orders.git\n",
        encoding="utf-8",
    )
    result = gen.generate(root)
    build = by_name(result.text)["orders-build"]["configuration"]["settings"]
    assert build["repoUrl"] == "https://github.com/acme/orders.git"
    assert build["targetBranches"] == ["release"]
    assert "ghp_secret123" not in result.text


PERSON_WROTE = """\
# Written by a person. This comment stays.
[[services]]
uniqueIdentifier = 100
name = "database"  # our name for it
type = "postgres"
applicationID = "{applicationID}"

[services.configuration.settings]
image = "postgres:15"

[[services.configuration.vars]]
key = "POSTGRES_DB"
value = "production_shop"

[[services]]
uniqueIdentifier = 101
name = "api"
type = "backend"
applicationID = "{applicationID}"

[services.configuration.settings]
image = "ghcr.io/acme/api:2"
cmd = "gunicorn app.main:app -k uvicorn.workers.UvicornWorker"
commandPort = 9000

[[services.configuration.secrets]]
key = "SENTRY_TOKEN"
value = ""
"""


def test_merging_keeps_every_number_name_value_and_comment_a_person_wrote(
    tmp_path: Path,
) -> None:
    root = projects.compose_fastapi(project(tmp_path, "shop"))
    (root / "aramb.toml").write_text(PERSON_WROTE, encoding="utf-8")
    result = gen.generate(root)

    assert result.existed
    assert result.problems == []
    assert result.text.startswith("# Written by a person. This comment stays.\n")
    assert 'name = "database"  # our name for it' in result.text
    found = by_name(result.text)
    # Existing services keep their ids and values; new ones continue from 102.
    assert found["database"]["uniqueIdentifier"] == 100
    assert found["database"]["configuration"]["settings"]["image"] == "postgres:15"
    assert pairs(found["database"], "vars")["POSTGRES_DB"] == "production_shop"
    api = found["api"]
    assert api["uniqueIdentifier"] == 101
    assert api["configuration"]["settings"]["image"] == "ghcr.io/acme/api:2"
    assert api["configuration"]["settings"]["cmd"].startswith("gunicorn")
    assert api["configuration"]["settings"]["commandPort"] == 9000
    # ...and gain what they lacked.
    assert api["configuration"]["settings"]["healthCheckPath"] == "/healthz"
    assert pairs(api, "secrets")["SENTRY_TOKEN"] == ""
    assert pairs(api, "secrets")["DB_PASSWORD"] == "${100.secrets.POSTGRES_PASSWORD}"
    assert pairs(api, "vars")["DB_NAME"] == "${100.vars.POSTGRES_DB}"
    # The api takes a ready image, so no build service is added for it.
    assert "api-build" not in found
    assert [(s["uniqueIdentifier"], s["name"]) for s in services(result.text)] == [
        (100, "database"),
        (101, "api"),
        (102, "cache"),
        (103, "mail"),
    ]
    # A new service (cache) cannot be referred to by the older api: no such reference.
    assert "${102." not in result.text
    statuses = {s["name"]: s["status"] for s in result.services}
    assert statuses == {"database": "updated", "api": "updated", "cache": "new", "mail": "new"}
    assert result.diff.startswith("--- a/aramb.toml\n+++ b/aramb.toml\n")
    assert not any(
        line.startswith("-") and not line.startswith("---") for line in result.diff.splitlines()
    )
    assert (root / "aramb.toml").read_text(encoding="utf-8") == PERSON_WROTE


def test_generating_twice_changes_nothing_the_second_time(tmp_path: Path) -> None:
    root = projects.compose_fastapi(project(tmp_path, "shop"))
    first = gen.generate(root)
    gen.write(root, first)
    second = gen.generate(root)
    assert second.existed
    assert not second.changed
    assert second.diff == ""
    assert {s["status"] for s in second.services} == {"kept"}


def test_write_puts_the_text_in_aramb_toml(tmp_path: Path) -> None:
    root = projects.vite_frontend(project(tmp_path, "web"))
    result = gen.generate(root)
    path = gen.write(root, result)
    assert path == (root / "aramb.toml").resolve()
    assert path.read_text(encoding="utf-8") == result.text
    assert [p.name for p in root.iterdir() if p.name.startswith(".aramb.")] == []


def test_write_keeps_an_existing_files_permissions_and_makes_a_new_one_readable(
    tmp_path: Path,
) -> None:
    root = projects.vite_frontend(project(tmp_path, "web"))
    path = gen.write(root, gen.generate(root))
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    path.chmod(0o640)
    (root / "api.py").write_text("import os\nTOKEN = os.environ['API_TOKEN']\n")
    gen.write(root, gen.generate(root))
    assert stat.S_IMODE(path.stat().st_mode) == 0o640


def test_a_path_named_by_a_project_file_cannot_read_outside_the_project(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "Dockerfile").write_text("FROM python:3.12\nENV LEAKED_FROM_OUTSIDE=1\n")
    root = projects.vite_frontend(project(tmp_path, "web"))
    files = ProjectFiles(root.resolve())
    assert files.read("../outside/Dockerfile") is None  # e.g. a compose build.dockerfile
    assert files.read("package.json") is not None


def test_an_existing_file_that_is_not_toml_is_refused_and_left_alone(tmp_path: Path) -> None:
    root = projects.go_backend(project(tmp_path, "orders"))
    (root / "aramb.toml").write_text("[[services]\nname = ", encoding="utf-8")
    with pytest.raises(errors.MetadataNotToml) as caught:
        gen.generate(root)
    assert caught.value.code == "not_toml"
    assert caught.value.fields["line"] == 1
    assert (root / "aramb.toml").read_text(encoding="utf-8") == "[[services]\nname = "


def test_a_folder_with_nothing_to_run_is_an_error(tmp_path: Path) -> None:
    root = projects.write(project(tmp_path, "notes"), {"README.md": "# just notes\n"})
    with pytest.raises(errors.NoServicesFound) as caught:
        gen.generate(root)
    assert caught.value.code == "no_services_found"


def test_a_missing_folder_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(errors.MetadataUnreadable):
        gen.generate(tmp_path / "nope")


def test_symlinks_out_of_the_project_are_never_followed(tmp_path: Path) -> None:
    outside = projects.go_backend(project(tmp_path, "elsewhere"))
    root = projects.vite_frontend(project(tmp_path, "web"))
    (root / "server").symlink_to(outside, target_is_directory=True)
    (root / "main.go").symlink_to(outside / "cmd/server/main.go")
    result = gen.generate(root)
    assert [s["type"] for s in services(result.text)] == ["build", "frontend"]
    assert "JWT_SECRET" not in result.text


def test_an_aramb_toml_symlinked_out_of_the_project_is_not_read_or_written(
    tmp_path: Path,
) -> None:
    outside = tmp_path / "outside.toml"
    outside.write_text(PERSON_WROTE, encoding="utf-8")
    root = projects.vite_frontend(project(tmp_path, "web"))
    (root / "aramb.toml").symlink_to(outside)
    with pytest.raises(errors.MetadataUnreadable):
        gen.generate(root)
    assert outside.read_text(encoding="utf-8") == PERSON_WROTE


def test_large_files_are_not_read(tmp_path: Path) -> None:
    root = projects.compose_fastapi(project(tmp_path, "shop"))
    big = "import os\n" + "#" * 600_000 + '\nX = os.environ["BIG_FILE_VAR"]\n'
    (root / "backend/app/big.py").write_text(big, encoding="utf-8")
    assert "BIG_FILE_VAR" not in gen.generate(root).text


# -- a property: whatever the project's shape, the output validates ---------------------

KINDS = ["fastapi", "flask", "vite", "express", "go", "django"]


def _component(root: Path, folder: str, kind: str, env: list[str]) -> None:
    reads_py = "\n".join(f'V{i} = os.environ.get("{k}")' for i, k in enumerate(env))
    reads_js = "\n".join(f"const v{i} = process.env.{k};" for i, k in enumerate(env))
    reads_go = "\n".join(f'\t_ = os.Getenv("{k}")' for k in env)
    files: dict[str, str] = {}
    if kind == "fastapi":
        files = {
            "requirements.txt": "fastapi\nuvicorn\n",
            "main.py": f"import os\nfrom fastapi import FastAPI\n{reads_py}\napp = FastAPI()\n",
        }
    elif kind == "flask":
        files = {
            "pyproject.toml": '[project]\nname = "x"\ndependencies = ["flask"]\n',
            "web/app.py": f"import os\nimport flask\n{reads_py}\napp = flask.Flask(__name__)\n",
        }
    elif kind == "django":
        files = {"requirements.txt": "django\n", "manage.py": f"import os\n{reads_py}\n"}
    elif kind == "vite":
        files = {
            "package.json": '{"scripts": {"build": "vite build"}, "dependencies": {"vite": "5"}}',
            "src/main.js": reads_js + "\n",
        }
    elif kind == "express":
        files = {
            "package.json": '{"main": "server.js", "dependencies": {"express": "4"}}',
            "server.js": reads_js + "\napp.listen(4000);\n",
        }
    elif kind == "go":
        files = {
            "go.mod": "module example.com/x\n\ngo 1.22\n",
            "main.go": f'package main\n\nimport "os"\n\nfunc main() {{\n{reads_go}\n}}\n',
        }
    prefix = "" if folder == "." else f"{folder}/"
    projects.write(root, {f"{prefix}{k}": v for k, v in files.items()})


ENV_NAMES = st.sampled_from(
    [
        *("PORT", "DATABASE_URL", "DB_PASSWORD", "API_TOKEN", "LOG_LEVEL", "REDIS_URL"),
        *("DB_USER", "SECRET_KEY", "FEATURE_FLAG", "MONGO_URL", "NODE_ENV", "GITHUB_OAUTH_ID"),
    ]
)
SHAPES = st.fixed_dictionaries(
    {
        "components": st.lists(
            st.tuples(st.sampled_from(KINDS), st.lists(ENV_NAMES, max_size=4, unique=True)),
            min_size=1,
            max_size=3,
        ),
        "databases": st.lists(
            st.sampled_from(["postgres:16", "redis", "mongo:7", "rabbitmq:3"]),
            max_size=3,
            unique=True,
        ),
        "existing": st.booleans(),
    }
)


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(shape=SHAPES)
def test_generated_output_always_validates(tmp_path_factory: Any, shape: dict[str, Any]) -> None:
    root: Path = tmp_path_factory.mktemp("shape")
    folders = ["."] if len(shape["components"]) == 1 else ["api", "web", "worker"]
    compose_lines = ["services:"]
    for (kind, env), folder in zip(shape["components"], folders, strict=False):
        _component(root, folder, kind, env)
        compose_lines += [f"  {Path(folder).name or 'app'}-svc:", f"    build: {folder}"]
    for i, image in enumerate(shape["databases"]):
        compose_lines += [f"  store{i}:", f"    image: {image}"]
        if image.startswith("postgres"):
            compose_lines += [
                "    environment:",
                "      POSTGRES_USER: app",
                "      POSTGRES_PASSWORD: pw",
            ]
    if shape["databases"]:
        projects.write(root, {"compose.yaml": "\n".join(compose_lines) + "\n"})
    if shape["existing"]:
        (root / "aramb.toml").write_text(PERSON_WROTE, encoding="utf-8")
    result = gen.generate(root)
    assert result.problems == [], result.text
    assert rules.check(tomllib.loads(result.text)) == []
    again = gen.generate(root, existing_text=result.text)
    assert again.text == result.text


def test_a_node_monorepo_gives_an_express_api_on_mongodb_and_a_next_server(
    tmp_path: Path,
) -> None:
    root = projects.node_monorepo(project(tmp_path, "mono"))
    result = gen.generate(root)

    assert result.problems == []
    assert [(s["uniqueIdentifier"], s["name"], s["type"]) for s in services(result.text)] == [
        (100, "mongo", "mongodb"),
        (101, "api-build", "build"),
        (102, "api", "backend"),
        (103, "web-build", "build"),
        (104, "web", "backend"),  # server-rendered: it runs its own server
    ]
    found = by_name(result.text)
    assert found["mongo"]["configuration"]["settings"] == {"image": "mongo:7"}
    assert pairs(found["mongo"], "vars") == {"MONGO_INITDB_ROOT_USERNAME": "root"}
    assert pairs(found["mongo"], "secrets") == {"MONGO_INITDB_ROOT_PASSWORD": ""}
    assert found["api-build"]["configuration"]["settings"]["buildPath"] == "api"
    # The lock file is the workspace's, not the api folder's: a plain install.
    assert found["api-build"]["configuration"]["settings"]["installCommand"] == "npm install"
    assert found["api"]["configuration"]["settings"] == {
        "image": "${101.outputs.IMAGE_URL}",
        "cmd": "node server.js",
        "commandPort": 4000,
        "publicNet": True,
        "healthCheckPath": "/api/health",
    }
    # The mongo database has a password, so its URL is an empty secret; the example
    # token from .env.example never reaches the file.
    assert pairs(found["api"], "secrets") == {"MONGO_URL": "", "API_TOKEN": ""}
    assert pairs(found["api"], "vars") == {"CORS_ORIGIN": "http://localhost:3000", "PORT": "4000"}
    assert "changeme" not in result.text
    assert found["web-build"]["configuration"]["settings"]["buildCommand"] == "npm run build"
    assert found["web"]["configuration"]["settings"] == {
        "image": "${103.outputs.IMAGE_URL}",
        "cmd": "npx next start -p 3000",
        "commandPort": 3000,
        "publicNet": True,
    }
    assert any("NEXT_PUBLIC_API" in w for w in result.warnings)
    assert "mono-build" not in found, "the workspace root is not a service"


def test_a_src_layout_package_runs_as_the_dockerfile_says_with_its_pythonpath(
    tmp_path: Path,
) -> None:
    root = projects.src_layout_python(project(tmp_path, "notes"))
    result = gen.generate(root)

    assert result.problems == []
    redis, build, notes = services(result.text)
    assert (redis["name"], redis["configuration"]["settings"]) == ("redis", {"image": "redis:7.2"})
    assert build["configuration"]["settings"]["dockerfile"] == "Dockerfile"
    assert notes["configuration"]["settings"] == {
        "image": "${101.outputs.IMAGE_URL}",
        "cmd": "python -m notes",
        "commandPort": 7000,
        "publicNet": True,
        "healthCheckPath": "/healthz",
    }
    assert pairs(notes, "vars") == {
        "PYTHONPATH": "src",  # /app/src under WORKDIR /app, seen from the build folder
        "WORKERS": "2",
        "REDIS_URL": "redis://redis:6379/0",
        "PORT": "7000",
    }
    assert pairs(notes, "secrets") == {"SESSION_SECRET": ""}


def test_a_framework_command_listens_on_the_port_compose_publishes(tmp_path: Path) -> None:
    root = projects.compose_fastapi(project(tmp_path, "shop"))
    compose = (root / "compose.yaml").read_text(encoding="utf-8")
    (root / "compose.yaml").write_text(compose.replace('"8080:8000"', '"9000:9100"'), "utf-8")
    api = by_name(gen.generate(root).text)["api"]["configuration"]["settings"]
    assert api["commandPort"] == 9100
    assert api["cmd"] == "uvicorn app.main:app --host 0.0.0.0 --port 9100"


def test_compose_interpolation_gives_defaults_and_nothing_else(tmp_path: Path) -> None:
    root = projects.node_monorepo(project(tmp_path, "mono"))
    text = gen.generate(root).text
    assert "set it" not in text
    assert "MONGO_PASSWORD" not in text
