"""plan_builder's reads from outside Airbyte, as each surface that shares them reports them."""

from __future__ import annotations

from datetime import date

from airflow_airbyte_connectors.plan.plan_builder import REGISTRY_UNREAD, build_plan
from airflow_airbyte_connectors.upgrades.outdated import find_outdated
from tests.support import REGISTRY, registry_entry

POKEAPI = {**registry_entry("source", "PokeAPI"), "versionPolicy": "pin"}  # pinned: outdated reads no tag list


class TestRegistryRead:
    def test_the_plan_and_outdated_say_the_same_of_an_unread_registry(
        self, use_emulator, write_config, tmp_path, monkeypatch
    ):
        missing = tmp_path / "oss_registry.json"
        monkeypatch.setenv("AIRFLOW__AIRBYTE_CONNECTORS__REGISTRY_URL", str(missing))
        emu = use_emulator(seed=REGISTRY)
        emu.set_tag("source", POKEAPI["dockerRepository"], "0.3.38")  # an update: the plan reads the registry
        path = write_config({"connectors": {"source_definitions": [POKEAPI], "destination_definitions": []}})

        planned = [f.message for f in build_plan(config_path=str(path)).plan.findings if f.category == "registry"]
        outdated = list(find_outdated(path, today=date(2026, 10, 1)).problems)

        # One read, one reason, one meaning: the plan lists the reader's finding and the meaning; outdated says the
        # same once per registry, with the setting that points it elsewhere.
        assert planned == [
            f"connector registry {missing}: file not found",
            f"connector registry {missing}: {REGISTRY_UNREAD}",
        ]
        assert outdated == [
            f"connector registry {missing} unread: file not found; {REGISTRY_UNREAD}; "
            "to read another, set registry_url (AIRFLOW__AIRBYTE_CONNECTORS__REGISTRY_URL)"
        ]
