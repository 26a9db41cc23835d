"""A real headless Chromium against the Airflow UI of a running stack: trigger a dry run from the form,
read the labelled mapped writes, read the approval's plan and click Approve. Assertions are on page text and
on what REST and the Airbyte emulator saw; the screenshots are kept for the docs (docs/img)."""

from __future__ import annotations

import importlib.util
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from tests.services import test_approval
from tests.services.airflow_services import Airflow, wait_for
from tests.services.approvals import answered, assert_answer_taken, waiting_approval
from tests.services.test_approval import GITHUB, GITHUB_WRITE, POKE_WRITE, POKEAPI, end, start, written
from tests.support import REPO_ROOT

pytestmark = pytest.mark.browser
# The same stack as the approval services tests (approval = held, emulator, DAG unpaused, no error logs).
stack = test_approval.stack

DAG_ID = "create_connectors"
# Screenshots go to the test's tmp dir; UPDATE_SCREENSHOTS=1 refreshes the committed ones in docs/img (a plain
# test run must not rewrite tracked files).
DOCS_IMG = REPO_ROOT / "docs" / "img"
VIEWPORT = {"width": 1280, "height": 800}
# The machine may have no internet: anything Chromium would fetch in the background could hang or slow it.
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",  # root in a container
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
TIMEOUT_MS = 60_000


def missing_browser() -> str | None:
    if shutil.which("chromium") is None:
        return "no chromium on PATH (apt-get install chromium)"
    if importlib.util.find_spec("playwright") is None:
        return "the playwright package is missing (pip install -e '.[browser]')"
    return None


@pytest.fixture
def page(tmp_path: Path) -> Iterator[Any]:
    """A Chromium page at 1280x800. Requested before the stack, so a missing browser costs no Airflow start."""
    reason = missing_browser()
    if reason:
        # CI must run this test, never skip it quietly.
        if os.environ.get("CI"):
            pytest.fail(f"browser test cannot run in CI: {reason}")
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        # Debian's Chromium: Playwright's own browser download is never used. launch() gives it a fresh
        # temporary profile (user-data-dir) and removes it on close.
        browser = playwright.chromium.launch(executable_path=shutil.which("chromium"), args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(viewport=VIEWPORT)
            context.set_default_timeout(TIMEOUT_MS)
            yield context.new_page()
        finally:
            browser.close()


@pytest.fixture
def screenshots(tmp_path: Path) -> Path:
    folder = DOCS_IMG if os.environ.get("UPDATE_SCREENSHOTS") else tmp_path / "screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def wait_for_text(page: Any, text: str) -> None:
    page.get_by_text(text, exact=False).first.wait_for(state="visible")


def new_run(airflow: Airflow, before: set[str]) -> str:
    runs = {run["dag_run_id"] for run in airflow.runs(DAG_ID)} - before
    return runs.pop() if len(runs) == 1 else ""


def behind(airbyte: Any, config: Path, sources: list[dict[str, Any]]) -> None:
    """Airbyte with GitHub and PokeAPI behind and this basic_config, without triggering (the UI does)."""
    airbyte.set_tag("source", GITHUB["dockerRepository"], "1.8.0")
    airbyte.set_tag("source", POKEAPI["dockerRepository"], "0.3.38")
    airbyte.clear_requests()
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text(yaml.safe_dump({"connectors": {"source_definitions": sources, "destination_definitions": []}}))


def is_hitl_answer(response: Any) -> bool:
    """The UI's answer to a Required Action: PATCH .../taskInstances/{task}/{map_index}/hitlDetails."""
    return response.request.method == "PATCH" and urlsplit(response.url).path.endswith("/hitlDetails")


def click_answer(page: Any, option: str) -> dict[str, Any]:
    """Click ``option`` (Approve, Reject) on the open approval page and wait for the UI's PATCH: fail with its
    status and body unless Airflow took the answer (2xx; a 409 means the request was answered already, e.g. it
    lapsed to its default). The answer as Airflow stored it."""
    button = page.get_by_role("button", name=option)
    button.wait_for(state="visible")
    wait_for(f"the {option} button to be enabled", button.is_enabled, timeout=30, every=0.5)
    with page.expect_response(is_hitl_answer) as answer:
        button.click()
    response = answer.value
    assert_answer_taken(response.status, response.text(), f"{option} clicked in the UI ({response.url})")
    return response.json()


def approve_in_page(page: Any, airflow: Airflow, run_id: str, url: str) -> dict[str, Any]:
    """Click Approve in the approval page (see ``approvals.answered`` for the race it waits out)."""

    def click_approve() -> None:
        page.goto(url)
        click_answer(page, "Approve")

    return answered(airflow, run_id, click_approve)


@pytest.mark.parametrize("stack", ["held"], indirect=True)
def test_trigger_read_and_approve_in_the_ui(page, stack, screenshots):
    airflow, airbyte, config = stack
    ui = airflow.url

    def shoot(name: str) -> None:
        page.screenshot(path=str(screenshots / name))

    # a. Trigger from the form with Dry run switched on: planned, nothing written.
    behind(airbyte, config, [GITHUB, POKEAPI])
    before = {run["dag_run_id"] for run in airflow.runs(DAG_ID)}
    page.goto(f"{ui}/dags/{DAG_ID}")
    page.locator("button[aria-label='Trigger Dag']").first.click()
    dialog = page.locator("[data-scope=dialog][data-part=content]")
    dialog.wait_for(state="visible")
    wait_for_text(page, "Dry run")
    # The Param is a Chakra switch; its real checkbox is hidden.
    switch = page.locator("[id='switch:element_dry_run:control']")
    switch.click()
    wait_for("Dry run to be switched on", lambda: switch.get_attribute("data-state") == "checked", every=0.2)
    shoot("trigger-form.png")
    dialog.get_by_role("button", name="Trigger", exact=True).click()
    run_id = wait_for("the run triggered in the UI", lambda: new_run(airflow, before), timeout=30)
    assert airflow.api("GET", f"dags/{DAG_ID}/dagRuns/{run_id}")["conf"].get("dry_run") is True
    state, report = end(airflow, run_id)
    assert state == "success" and airbyte.write_requests() == []
    assert report["approval"]["outcome"] == "not_needed"

    # b. A normal run: the safe patch is written at once, the breaking GitHub update waits for a person.
    run_id = start(airflow, airbyte, config, [GITHUB, POKEAPI])
    waiting_approval(airflow, run_id)
    assert written(airbyte) == [POKE_WRITE]  # the approval is asked once the safe writes are done
    page.goto(f"{ui}/dags/{DAG_ID}/runs/{run_id}/tasks/apply/mapped")
    wait_for_text(page, "update source PokeAPI 0.3.38→0.3.40 patch")
    assert "GitHub" not in page.locator("body").inner_text()  # held: not among the immediate writes
    shoot("grid-mapped-tasks.png")

    # c. The approval page: the rendered plan, then Approve.
    approval_url = f"{ui}/dags/{DAG_ID}/runs/{run_id}/tasks/approve/required_actions"
    page.goto(approval_url)
    wait_for_text(page, "Apply 1 held change to Airbyte (1 breaking)?")
    page.locator("table").first.wait_for(state="visible")
    text = page.locator("body").inner_text()
    for expected in ("GitHub", "major, breaking", "breaking change 2.0.0"):
        assert expected in text, expected
    table = page.locator("table").first.inner_text()
    assert "GitHub" in table and "2.1.14" in table
    shoot("approval-page.png")

    assert approve_in_page(page, airflow, run_id, approval_url)["state"] == "success"
    state, report = end(airflow, run_id)
    assert state == "success" and written(airbyte) == sorted([POKE_WRITE, GITHUB_WRITE])
    github = [r.body for r in airbyte.write_requests() if r.body["sourceDefinitionId"] == GITHUB["sourceDefinitionId"]]
    assert [body["dockerImageTag"] for body in github] == ["2.1.14"]
    assert report["approval"]["outcome"] == "approved"

    # After the answer the page says so, and the approved write shows among the gated mapped tasks.
    page.goto(approval_url)
    wait_for_text(page, "Response received")
    shoot("approval-answered.png")
    page.goto(f"{ui}/dags/{DAG_ID}/runs/{run_id}/tasks/apply_approved/mapped")
    wait_for_text(page, "update source GitHub 1.8.0→2.1.14")
