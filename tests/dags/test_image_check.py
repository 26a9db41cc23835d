"""The image check in the DAG: a tag that does not exist never reaches Airbyte; an unreachable registry
does not stop the writes. Real Airflow (dag.test), the Airbyte emulator and a registry stand-in."""

from __future__ import annotations

import pytest

from airflow_airbyte_connectors.testing import ImageRegistryEmulator
from tests.dags.test_create_connectors import config, run_dag, task_states, with_tag, xcom
from tests.support import REGISTRY, registry_entry, unused_port

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("airflow_db")]

POKEAPI = registry_entry("source", "PokeAPI")
FAKER = registry_entry("source", "Sample Data")


@pytest.fixture
def image_check(monkeypatch):
    """Turn the check on, with Docker Hub's role played by the stand-in (a registry mirror, as users set)."""

    def point_at(url: str) -> None:
        monkeypatch.setenv("AIRFLOW__AIRBYTE_CONNECTORS__CHECK_IMAGES", "True")
        monkeypatch.setenv("AIRFLOW__AIRBYTE_CONNECTORS__DOCKER_HUB_URL", url)
        monkeypatch.setenv("AIRFLOW__AIRBYTE_CONNECTORS__IMAGE_CHECK_TIMEOUT", "2")

    return point_at


class TestImageCheck:
    def test_missing_tag_is_never_sent_and_fails_only_its_change(self, use_emulator, write_config, image_check, caplog):
        airbyte = use_emulator(seed=REGISTRY)
        airbyte.set_tag("source", POKEAPI["dockerRepository"], "0.3.38")
        airbyte.set_tag("source", FAKER["dockerRepository"], "6.0.0")
        with ImageRegistryEmulator(
            [(POKEAPI["dockerRepository"], "0.3.40")], require_token=True, max_lifetime=120
        ) as images:
            image_check(images.url)
            write_config(config([POKEAPI, with_tag(FAKER, "99.0.0")]))
            run = run_dag()
            heads = images.count("HEAD")

        # The good update went ahead; the missing tag never reached Airbyte in any request.
        assert [(r.operation, r.body["dockerImageTag"]) for r in airbyte.write_requests()] == [
            ("source_definitions/update", "0.3.40")
        ]
        assert not any("99.0.0" in str(r.body) for r in airbyte.requests)
        # One look per image (token flow: two HEADs for each, the first answered 401).
        assert heads == 4
        # The run fails because of that one change, and says why.
        assert run.state == "failed"
        assert task_states(run)["apply"] == ["success"] and task_states(run)["report"] == ["failed"]
        (plan,) = xcom(run, "prepare", "plan")
        (blocked,) = plan["blocked"]
        assert (blocked["name"], blocked["tagAfter"]) == (FAKER["name"], "99.0.0")
        (missing,) = [f["message"] for f in plan["findings"] if f["category"] == "image_missing"]
        assert f"image {FAKER['dockerRepository']}:99.0.0 does not exist" in missing
        assert "IMAGE MISSING" in caplog.text

    def test_unreachable_registry_is_a_note_and_the_write_goes_ahead(self, use_emulator, write_config, image_check):
        airbyte = use_emulator(seed=REGISTRY)
        airbyte.set_tag("source", POKEAPI["dockerRepository"], "0.3.38")
        image_check(f"http://127.0.0.1:{unused_port()}")
        write_config(config([POKEAPI]))

        run = run_dag()
        assert run.state == "success", task_states(run)
        assert [r.operation for r in airbyte.write_requests()] == ["source_definitions/update"]
        (plan,) = xcom(run, "prepare", "plan")
        assert any("could not check image airbyte/source-pokeapi:0.3.40" in f["message"] for f in plan["findings"])
        assert plan["blocked"] == []

    def test_switched_off_asks_no_registry(self, use_emulator, write_config, monkeypatch):
        airbyte = use_emulator(seed=REGISTRY)
        airbyte.set_tag("source", POKEAPI["dockerRepository"], "0.3.38")
        with ImageRegistryEmulator([], max_lifetime=120) as images:
            monkeypatch.setenv("AIRFLOW__AIRBYTE_CONNECTORS__DOCKER_HUB_URL", images.url)
            write_config(config([POKEAPI]))
            run = run_dag()
            assert images.requests == []
        assert run.state == "success"
        assert [r.operation for r in airbyte.write_requests()] == ["source_definitions/update"]
