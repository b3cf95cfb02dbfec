"""The dashboard in a real browser (issue 14): Debian's Chromium driven by Playwright
against a real ``brahmi serve`` with in-process workers and the template planner.

Every wait is Playwright's bounded wait for a state of the page; nothing sleeps.
"""

from __future__ import annotations

import re
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.acceptance.dashboard_support import (
    CHROMIUM,
    XSS_NAME,
    chromium,
    command,
    loop_plan,
    make_workspace,
    wide_plan,
)
from tests.acceptance.test_serve import Server, clean_env, start_server

pytest.importorskip("playwright")
if not CHROMIUM.is_file():
    pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium)", allow_module_level=True)

from playwright.sync_api import Browser, Page, expect

#: Bound of one wait for the page, in milliseconds.
WAIT_MS = 60_000
expect.set_options(timeout=WAIT_MS)


@pytest.fixture(scope="module")
def served(brahmi_exe: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One ``brahmi serve`` with workers and the planner for this module's tests."""
    root = tmp_path_factory.mktemp("dashboard")
    server = start_server(brahmi_exe, root / "home", root, "--workers", "4")
    yield server
    code = server.stop()
    assert code in (0, -signal.SIGTERM), server.output()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as started:
        yield started


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A fresh page; a JavaScript dialog (an injected ``alert``) or error fails the test."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    opened = context.new_page()
    problems: list[str] = []
    opened.on("dialog", lambda d: (problems.append(f"dialog: {d.message}"), d.dismiss()))
    opened.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    opened.set_default_timeout(WAIT_MS)
    yield opened
    context.close()
    assert problems == []


def new_project(server: Server, folder: Path, headers: dict[str, str] | None = None) -> str:
    response = httpx.post(
        f"{server.url}/api/v1/projects",
        json={"workspace": str(make_workspace(folder))},
        headers=headers,
        timeout=10,
    )
    assert response.status_code == 201, response.text
    return str(response.json()["project_id"])


def post_batch(
    server: Server,
    project_id: str,
    tasks: list[dict[str, Any]],
    headers: dict[str, str] | None = None,
) -> dict[str, str]:
    response = httpx.post(
        f"{server.url}/api/v1/projects/{project_id}/tasks/batch",
        json={"tasks": tasks},
        headers=headers,
        timeout=60,
    )
    assert response.status_code == 201, response.text
    return dict(response.json()["task_ids"])


def node(page: Page, task_id: str) -> Any:
    return page.locator(f'g.node[data-task-id="{task_id}"]')


def test_a_plan_runs_while_the_project_page_is_open_and_its_statuses_change_without_a_reload(
    served: Server, page: Page, tmp_path: Path
) -> None:
    project_id = new_project(served, tmp_path / "ws")
    page.goto(f"{served.url}/projects/{project_id}")
    expect(page.locator("#live")).to_have_text("live")
    page.evaluate("window.stillTheSamePage = true")

    ids = post_batch(served, project_id, loop_plan())

    xss = node(page, ids["3"])
    expect(xss).to_have_class(re.compile(r"\bs-running\b"))
    expect(node(page, ids["1"])).to_have_class(re.compile(r"\bs-completed\b"))
    expect(node(page, ids["4"])).to_have_class(re.compile(r"\bs-planned\b"))
    (tmp_path / "ws" / "go").touch()
    expect(node(page, ids["4"])).to_have_class(re.compile(r"\bs-completed\b"))
    expect(xss).to_have_class(re.compile(r"\bs-completed\b"))
    expect(xss.locator("text.state")).to_contain_text("completed")
    assert page.evaluate("window.stillTheSamePage") is True

    # The task named like a script is text in the graph and in the list; nothing ran.
    expect(xss.locator("title")).to_have_text(f"{XSS_NAME} (completed)")
    page.click("#tab-list")
    row = page.locator(f'tr[data-task-id="{ids["3"]}"]')
    expect(row.locator("a")).to_have_text(XSS_NAME)
    expect(row).to_have_attribute("data-status", "completed")
    assert page.locator("script:not([src])").count() == 0
    expect(page.locator("#summary [data-status=completed] b")).to_have_text("4")

    # The projects page: the project's counts, its planner link, this server's worker.
    page.goto(f"{served.url}/")
    card = page.locator(f'article.card[data-project-id="{project_id}"]')
    expect(card.locator(".chip.s-completed b")).to_have_text("4")
    expect(card.locator("a.button")).to_have_attribute("href", f"/projects/{project_id}/planner")
    expect(page.locator("#workers tbody tr")).to_have_count(1)


def test_the_task_page_shows_each_loop_turn_with_its_feedback_and_the_rebuild(
    served: Server, page: Page, tmp_path: Path
) -> None:
    project_id = new_project(served, tmp_path / "ws")
    (tmp_path / "ws" / "go").touch()
    ids = post_batch(served, project_id, loop_plan()[:2])

    page.goto(f"{served.url}/tasks/{ids['2']}")
    expect(page.locator("#main")).to_have_attribute("data-status", "completed")
    turns = page.locator('#history li[data-kind="verdict"]')
    expect(turns).to_have_count(2)
    expect(turns.nth(0)).to_contain_text("QA turn 1")
    expect(turns.nth(0)).to_contain_text("verdict fail")
    expect(turns.nth(0).locator("ol.issues")).to_contain_text("test_value_is_fixed")
    expect(turns.nth(1)).to_contain_text("verdict pass")
    expect(page.locator("#attempts tbody tr")).to_have_count(2)

    page.goto(f"{served.url}/tasks/{ids['1']}")
    rebuild = page.locator('#history li[data-kind="rebuild"]')
    expect(rebuild).to_have_count(1)
    expect(rebuild).to_contain_text("Rebuild 1")
    expect(rebuild.locator("ol.issues")).to_contain_text("test_value_is_fixed")


def test_a_transcript_line_appears_while_the_task_runs(
    served: Server, page: Page, tmp_path: Path
) -> None:
    project_id = new_project(served, tmp_path / "ws")
    ids = post_batch(served, project_id, [command(1, XSS_NAME, ["python", "tools/wait.py", "go"])])

    page.goto(f"{served.url}/tasks/{ids['1']}")
    expect(page.locator("#title")).to_have_text(XSS_NAME)
    expect(page.locator("#transcript")).to_contain_text("working on go")
    expect(page.locator("#main")).to_have_attribute("data-status", "running")
    (tmp_path / "ws" / "go").touch()
    expect(page.locator("#transcript")).to_contain_text("released")
    expect(page.locator("#main")).to_have_attribute("data-status", "completed")


def test_cancel_and_retry_from_the_task_page_change_the_task(
    served: Server, page: Page, tmp_path: Path
) -> None:
    project_id = new_project(served, tmp_path / "ws")
    ids = post_batch(served, project_id, [command(1, "Wait", ["python", "tools/wait.py", "go"])])
    page.goto(f"{served.url}/tasks/{ids['1']}")
    expect(page.locator("#main")).to_have_attribute("data-status", "running")
    expect(page.locator("#retry")).to_be_disabled()

    page.click("#cancel")
    expect(page.locator("#main")).to_have_attribute("data-status", "cancelled")
    task = httpx.get(f"{served.url}/api/v1/tasks/{ids['1']}", timeout=10).json()
    assert task["status"] == "cancelled"

    page.click("#retry")
    expect(page.locator("#main")).to_have_attribute("data-status", re.compile("ready|running"))
    (tmp_path / "ws" / "go").touch()
    expect(page.locator("#main")).to_have_attribute("data-status", "completed")
    expect(page.locator('#history li[data-kind="retry"]')).to_have_count(1)


def test_resume_from_the_task_page_runs_a_finished_task_again_with_the_message(
    served: Server, page: Page, tmp_path: Path
) -> None:
    project_id = new_project(served, tmp_path / "ws")
    ids = post_batch(served, project_id, [command(1, "Say hi", ["python", "-c", "print('hi')"])])
    page.goto(f"{served.url}/tasks/{ids['1']}")
    expect(page.locator("#main")).to_have_attribute("data-status", "completed")

    page.click("#resume summary")
    page.fill("#resume-message", "Say it once more, louder.")
    page.select_option("#resume-mode", "continue")
    page.click("#resume-form button[type=submit]")

    resumed = page.locator('#history li[data-kind="resume"]')
    expect(resumed).to_contain_text("Say it once more, louder.")
    expect(page.locator("#attempts tbody tr")).to_have_count(2)
    expect(page.locator("#main")).to_have_attribute("data-status", "completed")


def test_a_message_sent_from_the_planner_page_is_answered_by_the_template_planner(
    served: Server, page: Page, tmp_path: Path
) -> None:
    project_id = new_project(served, tmp_path / "ws")
    page.goto(f"{served.url}/projects/{project_id}/planner")
    page.fill("#message-text", "What is the status of my tasks?")
    page.fill("#message-planner", "template")
    page.click("#message-form button[type=submit]")

    expect(page.locator('.message[data-role="user"] .text')).to_have_text(
        "What is the status of my tasks?"
    )
    answer = page.locator('.message[data-role="planner"] .text')
    expect(answer).to_have_count(1)
    expect(answer).not_to_be_empty()
    expect(page.locator("#sessions")).to_contain_text("template-planner")


def test_unknown_ids_and_paths_get_a_page_that_says_so_with_a_404(
    served: Server, page: Page
) -> None:
    for path, what in [
        ("/tasks/no-such-task", "task"),
        ("/projects/no-such-project", "project"),
        ("/projects/no-such-project/planner", "project"),
        ("/no/such/page", "page"),
    ]:
        response = page.goto(f"{served.url}{path}")
        assert response is not None
        assert response.status == 404, path
        expect(page.locator("h1")).to_have_text("Not found")
        expect(page.locator(".notfound")).to_contain_text(f"There is no {what}")
    api = httpx.get(f"{served.url}/api/v1/tasks/no-such-task", timeout=10)
    assert (api.status_code, api.json()["error"]) == (404, "task_not_found")


def test_pages_and_assets_forbid_inline_scripts(served: Server) -> None:
    for path in ("/", "/skills", "/static/js/api.js", "/no/such/page"):
        response = httpx.get(f"{served.url}{path}", timeout=10)
        policy = response.headers["content-security-policy"]
        assert "script-src 'self'" in policy, path
        assert "unsafe-inline" not in policy
        assert response.headers["x-content-type-options"] == "nosniff"


def test_the_skills_page_searches_and_shows_a_skill(served: Server, page: Page) -> None:
    page.goto(f"{served.url}/skills")
    page.fill("#q", "pytest")
    page.click("#search button[type=submit]")
    first = page.locator("#results button.result").first
    expect(first).to_have_attribute("data-full-id", "brahmi/builtin/pytest-critique")
    first.click()
    expect(page.locator("#skill h2")).to_have_text("pytest-critique")
    expect(page.locator("#skill pre.body")).to_contain_text("pytest")
    expect(page.locator("#sources")).to_contain_text("brahmi/builtin")


@pytest.fixture
def guarded(brahmi_exe: Path, tmp_path: Path) -> Iterator[tuple[Server, str, str]]:
    """A ``brahmi serve --no-workers`` whose home has a full and a read-only token."""
    home = tmp_path / "home"
    secrets = []
    for extra in ([], ["--read-only"]):
        made = subprocess.run(
            [str(brahmi_exe), "tokens", "create", *extra],
            env=clean_env(home),
            capture_output=True,
            encoding="utf-8",
            timeout=60,
            check=True,
        )
        secrets.append(made.stdout.strip().splitlines()[-1])
    server = start_server(brahmi_exe, home, tmp_path, "--no-workers")
    yield server, secrets[0], secrets[1]
    server.stop()


def test_with_tokens_the_page_asks_for_one_and_a_read_only_token_sees_no_buttons(
    guarded: tuple[Server, str, str], page: Page, tmp_path: Path
) -> None:
    server, full, read_only = guarded
    writer = {"Authorization": f"Bearer {full}"}
    project_id = new_project(server, tmp_path / "ws", headers=writer)
    ids = post_batch(server, project_id, [command(1, "Say hi", ["true"])], headers=writer)

    page.goto(f"{server.url}/tasks/{ids['1']}")
    expect(page.locator("#token-dialog")).to_be_visible()
    page.fill("#token-input", read_only)
    page.click("#token-form button[type=submit]")
    expect(page.locator("#title")).to_have_text("Say hi")
    expect(page.locator("#actions")).to_be_hidden()
    assert read_only not in page.url
    refused = page.evaluate(
        """async (id) => (await fetch(`/api/v1/tasks/${id}/cancel`, {method: "POST", headers:
             {Authorization: `Bearer ${sessionStorage.getItem("brahmi.token")}`}})).status""",
        ids["1"],
    )
    assert refused == 403

    page.goto(f"{server.url}/projects/{project_id}/planner")
    expect(page.locator("#title")).to_contain_text("Planner")
    expect(page.locator("#message-form")).to_be_hidden()

    page.click("#sign-out")
    expect(page.locator("#token-dialog")).to_be_visible()
    page.fill("#token-input", full)
    page.click("#token-form button[type=submit]")
    expect(page.locator("#message-form")).to_be_visible()


@pytest.mark.timeout(300)
def test_a_2000_task_graph_loads_and_stays_responsive(
    guarded: tuple[Server, str, str], page: Page, tmp_path: Path
) -> None:
    server, full, _ = guarded
    writer = {"Authorization": f"Bearer {full}"}
    project_id = new_project(server, tmp_path / "ws", headers=writer)
    post_batch(server, project_id, wide_plan(2000), headers=writer)
    page.add_init_script(f"sessionStorage.setItem('brahmi.token', {full!r})")

    page.goto(f"{server.url}/projects/{project_id}")
    expect(page.locator("#main")).to_have_attribute("data-listed", "2000")
    expect(page.locator("#main")).to_have_attribute("data-rendered", "graph", timeout=120_000)
    expect(page.locator("g.node")).to_have_count(2000)
    # Still answering: the filter dims the graph and hides list rows at once.
    page.fill("#filter", "Step 1999:")
    page.click("#tab-list")
    expect(page.locator("#task-rows tr:not([hidden])")).to_have_count(1)
    expect(page.locator("g.node:not(.dim)")).to_have_count(1)
