"""Sources, destinations, connections and version pins in the emulator: what Airbyte's definition update
does to them across registry breaking changes (real release data, real HTTP, contract-checked)."""

from __future__ import annotations

import json

import pytest
import requests

from airflow_airbyte_connectors.testing import AirbyteEmulator
from tests.support import SHARED_AIRBYTE

RELEASES = SHARED_AIRBYTE / "oss-registry-releases-b8390e04.json"
GITHUB = "airbyte/source-github"  # 2.1.14; breaking 2.0.0 scoped to issues, comments, ...
GITHUB_ID = "ef69ef6e-aa7f-4af1-a01d-ef775033524e"
SHOPIFY = "airbyte/source-shopify"  # 3.2.2; breaking 2.1.0 scoped to product_variants
SHOPIFY_ID = "9da77001-af33-4bcd-be46-6252bf9342b9"
DUCKDB = "airbyte/destination-duckdb"  # 0.6.0; breaking 0.3.0, 0.4.0, 0.5.0 without scopes
DUCKDB_ID = "94bd199c-2ff0-4aa2-b98e-17f0acb72610"


def post(emu: AirbyteEmulator, operation: str, body=None) -> requests.Response:
    return requests.post(f"{emu.url}/api/v1/{operation}", json=body, timeout=10)


def update(emu: AirbyteEmulator, kind: str, definition_id: str, tag: str) -> requests.Response:
    body = {f"{kind}DefinitionId": definition_id, "dockerImageTag": tag, "workspaceId": emu.workspace_ids[0]}
    return post(emu, f"{kind}_definitions/update", body)


def version_read(emu: AirbyteEmulator, kind: str, actor_id: str) -> dict:
    answer = post(emu, f"actor_definition_versions/get_for_{kind}", {f"{kind}Id": actor_id})
    assert answer.status_code == 200, answer.text
    return answer.json()


@pytest.fixture
def emu(emulator):
    return emulator(seed=RELEASES, registry=RELEASES, workspaces=2)


@pytest.fixture
def github(emu):
    """GitHub at 1.8.0 with four sources: issues selected, only workflow_runs selected, no connection,
    and a user pin; plus one whose only issues connection is deprecated (deleted)."""
    emu.set_tag("source", GITHUB, "1.8.0")
    duck = emu.add_destination(DUCKDB, name="warehouse")
    ids = {name: emu.add_source(GITHUB, name=name) for name in ("issues", "runs", "lonely", "user", "deleted")}
    emu.add_connection(ids["issues"], duck, {"issues": True, "workflow_runs": True})
    emu.add_connection(ids["runs"], duck, {"issues": False, "workflow_runs": True})
    emu.add_connection(ids["user"], duck, ["issues"])
    emu.add_connection(ids["deleted"], duck, ["issues"], status="deprecated")
    emu.pin_actor("source", ids["user"], "1.5.0")
    return ids


class TestUpgradeAcrossBreakingChanges:
    def test_github_scoped_breaking_change_pins_only_sources_syncing_an_impacted_stream(self, emu, github):
        assert update(emu, "source", GITHUB_ID, "2.1.14").status_code == 200
        assert emu.actor_pins("source") == {
            github["issues"]: ("1.8.0", "breaking_change", "2.0.0"),
            github["user"]: ("1.5.0", "user", None),
        }
        runs = {name: emu.actor_version("source", actor) for name, actor in github.items()}
        assert runs == {"issues": "1.8.0", "runs": "2.1.14", "lonely": "2.1.14", "user": "1.5.0", "deleted": "2.1.14"}
        assert post(emu, "source_definitions/get", {"sourceDefinitionId": GITHUB_ID}).json()["dockerImageTag"] == (
            "2.1.14"
        )

    def test_get_for_source_shows_the_crossed_breaking_change_on_the_pinned_source(self, emu, github):
        update(emu, "source", GITHUB_ID, "2.1.14")
        pinned = version_read(emu, "source", github["issues"])
        assert pinned["dockerRepository"] == GITHUB and pinned["dockerImageTag"] == "1.8.0"
        assert pinned["isVersionOverrideApplied"] is False and pinned["supportState"] == "unsupported"  # 2025 deadline
        breaking = pinned["breakingChanges"]
        assert [c["version"] for c in breaking["upcomingBreakingChanges"]] == ["2.0.0"]
        assert breaking["minUpgradeDeadline"] == "2025-11-21" and breaking["deadlineAction"] == "disable"
        assert breaking["upcomingBreakingChanges"][0]["migrationDocumentationUrl"].endswith("github-migrations#2.0.0")

        moved = version_read(emu, "source", github["runs"])
        assert moved["dockerImageTag"] == "2.1.14" and moved["supportState"] == "supported"
        assert "breakingChanges" not in moved and moved["isVersionOverrideApplied"] is False

        user = version_read(emu, "source", github["user"])
        assert user["dockerImageTag"] == "1.5.0" and user["isVersionOverrideApplied"] is True
        assert [c["version"] for c in user["breakingChanges"]["upcomingBreakingChanges"]] == ["2.0.0"]

    def test_shopify_breaking_change_on_a_minor_version(self, emu):
        emu.set_tag("source", SHOPIFY, "2.0.5")
        duck = emu.add_destination(DUCKDB, name="warehouse")
        variants, orders = emu.add_source(SHOPIFY, name="variants"), emu.add_source(SHOPIFY, name="orders")
        emu.add_connection(variants, duck, ["product_variants", "orders"])
        emu.add_connection(orders, duck, {"orders": True, "product_variants": False})
        assert update(emu, "source", SHOPIFY_ID, "2.1.3").status_code == 200
        assert emu.actor_pins("source") == {variants: ("2.0.5", "breaking_change", "2.1.0")}
        assert emu.actor_version("source", orders) == "2.1.3"

    def test_shopify_each_crossed_breaking_change_pins_to_the_old_default(self, emu):
        emu.set_tag("source", SHOPIFY, "1.1.0")
        duck = emu.add_destination(DUCKDB, name="warehouse")
        countries = emu.add_source(SHOPIFY, name="countries")  # only in the 2.2.0 scope (1.0.0 is not crossed)
        emu.add_connection(countries, duck, ["countries"])
        assert update(emu, "source", SHOPIFY_ID, "2.6.1").status_code == 200
        assert emu.actor_pins("source") == {countries: ("1.1.0", "breaking_change", "2.2.0")}
        listed = version_read(emu, "source", countries)["breakingChanges"]["upcomingBreakingChanges"]
        assert [c["version"] for c in listed] == ["2.0.0", "2.1.0", "2.2.0", "2.6.1"]

    def test_duckdb_pre_1_0_breaking_changes_without_scope_pin_every_destination(self, emu):
        emu.set_tag("destination", DUCKDB, "0.2.1")
        used, unused = emu.add_destination(DUCKDB, name="used"), emu.add_destination(DUCKDB, name="unused")
        source = emu.add_source(GITHUB, name="github")
        emu.add_connection(source, used, ["issues"])
        assert update(emu, "destination", DUCKDB_ID, "0.6.0").status_code == 200
        assert emu.actor_pins("destination") == {
            used: ("0.2.1", "breaking_change", "0.3.0"),
            unused: ("0.2.1", "breaking_change", "0.3.0"),
        }
        read = version_read(emu, "destination", unused)
        assert read["dockerImageTag"] == "0.2.1"
        assert [c["version"] for c in read["breakingChanges"]["upcomingBreakingChanges"]] == ["0.3.0", "0.4.0", "0.5.0"]

    @pytest.mark.parametrize(
        ("target", "pinned"),
        [("2.0.0-rc.1", True), ("2.0.0", True), ("1.9.9", False), ("dev", False), ("1.8.0", False)],
        ids=["rc-equals-its-version", "exact", "below", "dev-equals-everything", "same-tag"],
    )
    def test_which_targets_cross_the_breaking_change(self, emu, github, target, pinned):
        assert update(emu, "source", GITHUB_ID, target).status_code == 200
        assert (github["issues"] in emu.actor_pins("source")) is pinned
        assert emu.actor_version("source", github["lonely"]) == target

    @pytest.mark.parametrize("target", ["2.1", "v2.1.14", "latest"], ids=["two-parts", "v-prefix", "latest"])
    def test_a_tag_airbyte_cannot_compare_fails_with_500_and_changes_nothing(self, emu, github, target):
        assert update(emu, "source", GITHUB_ID, target).status_code == 500
        assert post(emu, "source_definitions/get", {"sourceDefinitionId": GITHUB_ID}).json()["dockerImageTag"] == (
            "1.8.0"
        )
        assert emu.actor_pins("source") == {github["user"]: ("1.5.0", "user", None)}

    def test_a_connector_without_breaking_changes_takes_any_tag(self, emu):
        pokeapi = emu.add_source("airbyte/source-pokeapi", name="poke")
        definition = post(emu, "sources/get", {"sourceId": pokeapi}).json()["sourceDefinitionId"]
        assert update(emu, "source", definition, "latest").status_code == 200
        assert emu.actor_version("source", pokeapi) == "latest" and emu.actor_pins("source") == {}


class TestNoPins:
    def test_custom_definition_of_a_registry_repository_gets_no_pins(self, emu):
        custom = emu.add_definition(
            "source",
            name="My GitHub",
            docker_repository=GITHUB,
            docker_image_tag="1.8.0",
            documentation_url="https://example.com",
            custom=True,
        )
        source = emu.add_source(custom["sourceDefinitionId"], name="mine")
        emu.add_connection(source, emu.add_destination(DUCKDB, name="d"), ["issues"])
        assert update(emu, "source", custom["sourceDefinitionId"], "2.1.14").status_code == 200
        assert emu.actor_pins("source") == {} and emu.actor_version("source", source) == "2.1.14"

    def test_without_a_registry_nothing_has_breaking_changes(self, emulator):
        emu = emulator(seed=RELEASES)
        emu.set_tag("source", GITHUB, "1.8.0")
        source = emu.add_source(GITHUB, name="issues")
        emu.add_connection(source, emu.add_destination(DUCKDB, name="d"), ["issues"])
        assert update(emu, "source", GITHUB_ID, "2.1.14").status_code == 200
        assert emu.actor_pins("source") == {}
        assert "breakingChanges" not in version_read(emu, "source", source)


class TestDowngrade:
    @pytest.mark.parametrize(
        ("target", "issues_runs"),
        [("1.9.0", "1.9.0"), ("2.0.0", "1.8.0"), ("2.0.0-rc.2", "1.8.0")],
        ids=["below-the-breaking-change-releases-its-pins", "onto-it-keeps-them", "onto-its-rc-keeps-them"],
    )
    def test_downgrade_releases_breaking_change_pins_above_the_new_default(self, emu, github, target, issues_runs):
        update(emu, "source", GITHUB_ID, "2.1.14")
        assert update(emu, "source", GITHUB_ID, target).status_code == 200
        assert emu.actor_version("source", github["issues"]) == issues_runs
        assert emu.actor_version("source", github["runs"]) == target
        assert emu.actor_pins("source")[github["user"]] == ("1.5.0", "user", None)

    def test_downgrade_makes_no_new_pins(self, emu):
        source = emu.add_source(GITHUB, name="issues")  # at the registry's 2.1.14
        emu.add_connection(source, emu.add_destination(DUCKDB, name="d"), ["issues"])
        assert update(emu, "source", GITHUB_ID, "1.8.0").status_code == 200
        assert emu.actor_pins("source") == {} and emu.actor_version("source", source) == "1.8.0"


class TestRegistryUnreachable:
    def test_update_answers_500_and_changes_nothing(self, emu, github):
        emu.registry_unreachable = True
        assert update(emu, "source", GITHUB_ID, "2.1.14").status_code == 500
        assert emu.actor_version("source", github["issues"]) == "1.8.0"
        assert emu.actor_version("source", github["lonely"]) == "1.8.0"
        emu.registry_unreachable = False
        assert update(emu, "source", GITHUB_ID, "2.1.14").status_code == 200

    def test_constructor_switch_fails_even_custom_updates(self, emulator):
        emu = emulator(registry=RELEASES, registry_unreachable=True)
        custom = emu.add_definition(
            "source", name="A", docker_repository="acme/a", docker_image_tag="1.0.0", documentation_url="https://a.b"
        )
        assert update(emu, "source", custom["sourceDefinitionId"], "1.0.1").status_code == 500
        assert emu.definitions("source")[0]["dockerImageTag"] == "1.0.0"


class TestActorEndpoints:
    def test_search_spans_all_workspaces(self, emu):
        first, second = emu.workspace_ids
        in_first = emu.add_source(GITHUB, name="one", workspace_id=first)
        in_second = emu.add_source(GITHUB, name="two", workspace_id=second)
        emu.add_source(SHOPIFY, name="other")
        found = post(emu, "sources/search", {"sourceDefinitionId": GITHUB_ID}).json()["sources"]
        assert {(s["sourceId"], s["workspaceId"]) for s in found} == {(in_first, first), (in_second, second)}
        assert {s["sourceName"] for s in found} == {"GitHub"}
        only = post(emu, "sources/search", {"sourceDefinitionId": GITHUB_ID, "workspaceId": second}).json()
        assert [s["sourceId"] for s in only["sources"]] == [in_second]
        assert len(post(emu, "sources/search", {}).json()["sources"]) == 3

    def test_destination_search_and_list(self, emu):
        first, second = emu.workspace_ids
        one = emu.add_destination(DUCKDB, name="one", workspace_id=first)
        two = emu.add_destination(DUCKDB, name="two", workspace_id=second)
        found = post(emu, "destinations/search", {"destinationDefinitionId": DUCKDB_ID}).json()["destinations"]
        assert {d["destinationId"] for d in found} == {one, two}
        listed = post(emu, "destinations/list", {"workspaceId": second}).json()["destinations"]
        assert [d["destinationId"] for d in listed] == [two] and listed[0]["destinationName"] == "DuckDB"

    def test_list_is_per_workspace_and_pages_by_cursor_from_v1_8(self, emu):
        first, second = emu.workspace_ids
        ids = [emu.add_source(GITHUB, name=f"s{n}") for n in range(3)]
        emu.add_source(GITHUB, name="elsewhere", workspace_id=second)
        page = post(emu, "sources/list", {"workspaceId": first, "pageSize": 2}).json()
        assert [s["sourceId"] for s in page["sources"]] == ids[:2]
        rest = post(emu, "sources/list", {"workspaceId": first, "pageSize": 2, "cursor": ids[1]}).json()
        assert [s["sourceId"] for s in rest["sources"]] == ids[2:]
        assert len(post(emu, "sources/list", {"workspaceId": first}).json()["sources"]) == 3  # default page 20

    def test_connections_list_shows_streams_and_selection_but_not_deleted_connections(self, emu):
        first, second = emu.workspace_ids
        source, duck = emu.add_source(GITHUB, name="g"), emu.add_destination(DUCKDB, name="d")
        kept = emu.add_connection(source, duck, {"issues": True, "workflow_runs": False}, status="inactive")
        emu.add_connection(source, duck, ["issues"], status="deprecated")
        connections = post(emu, "connections/list", {"workspaceId": first}).json()["connections"]
        assert [c["connectionId"] for c in connections] == [kept]
        (connection,) = connections
        assert (connection["sourceId"], connection["destinationId"], connection["status"]) == (source, duck, "inactive")
        streams = {s["stream"]["name"]: s["config"]["selected"] for s in connection["syncCatalog"]["streams"]}
        assert streams == {"issues": True, "workflow_runs": False}
        assert post(emu, "connections/list", {"workspaceId": second}).json() == {"connections": []}
        read = post(emu, "sources/get", {"sourceId": source}).json()
        assert read["numConnections"] == 1 and read["status"] == "inactive"

    def test_secrets_are_masked(self, emu):
        config = {"credentials": {"personal_access_token": "ghp-do-not-show"}, "repositories": ["a/b"]}
        source = emu.add_source(GITHUB, name="g", configuration=config)
        answers = [post(emu, "sources/get", {"sourceId": source}), post(emu, "sources/search", {})]
        assert all("ghp-do-not-show" not in a.text for a in answers)
        assert answers[0].json()["connectionConfiguration"] == {
            "credentials": {"personal_access_token": "**********"},
            "repositories": ["a/b"],
        }

    @pytest.mark.parametrize(
        ("operation", "body"),
        [
            ("sources/get", {"sourceId": "00000000-0000-0000-0000-00000000000a"}),
            ("actor_definition_versions/get_for_source", {"sourceId": "00000000-0000-0000-0000-00000000000a"}),
            (
                "actor_definition_versions/get_for_destination",
                {"destinationId": "00000000-0000-0000-0000-00000000000a"},
            ),
            ("sources/list", {"workspaceId": "00000000-0000-0000-0000-00000000000a"}),
            ("connections/list", {"workspaceId": "00000000-0000-0000-0000-00000000000a"}),
        ],
        ids=["source", "version-for-source", "version-for-destination", "list-workspace", "connections-workspace"],
    )
    def test_unknown_ids_are_404(self, emu, operation, body):
        assert post(emu, operation, body).status_code == 404

    def test_deleting_a_definition_deletes_its_actors(self, emu):
        source = emu.add_source(GITHUB, name="g")
        assert post(emu, "source_definitions/delete", {"sourceDefinitionId": GITHUB_ID}).status_code == 204
        assert post(emu, "sources/get", {"sourceId": source}).status_code == 404
        assert post(emu, "sources/search", {}).json() == {"sources": []}

    @pytest.mark.parametrize("profile", ["0.63", "1.6"], ids=["profile-0.63", "profile-1.6"])
    def test_older_profiles_serve_the_endpoints_within_the_contract(self, emulator, profile):
        emu = emulator(seed=RELEASES, registry=RELEASES, profile=profile)
        emu.set_tag("source", GITHUB, "1.8.0")
        source, duck = emu.add_source(GITHUB, name="g"), emu.add_destination(DUCKDB, name="d")
        emu.add_connection(source, duck, ["issues"])
        workspace = emu.workspace_ids[0]
        assert update(emu, "source", GITHUB_ID, "2.1.14").status_code == 200
        answers = [
            post(emu, "sources/search", {"sourceDefinitionId": GITHUB_ID}),
            post(emu, "sources/list", {"workspaceId": workspace}),
            post(emu, "destinations/list", {"workspaceId": workspace}),
            post(emu, "destinations/search", {}),
            post(emu, "connections/list", {"workspaceId": workspace}),
            post(emu, "actor_definition_versions/get_for_source", {"sourceId": source}),
            post(emu, "actor_definition_versions/get_for_destination", {"destinationId": duck}),
        ]
        assert [a.status_code for a in answers] == [200] * len(answers)
        assert "page_size" not in answers[1].json()  # one page before v1.8.0
        assert answers[5].json()["dockerImageTag"] == "1.8.0"
        emu.wait_idle()
        assert emu.contract_violations == []


class TestRegistryOverHttp:
    def test_registry_url_serves_the_whole_document(self, emu):
        answer = requests.get(emu.registry_url, timeout=10)
        assert answer.status_code == 200 and answer.json() == json.loads(RELEASES.read_text())

    def test_latest_metadata_per_repository(self, emu):
        entry = requests.get(f"{emu.url}/metadata/{GITHUB}/latest/oss.json", timeout=10).json()
        assert entry["dockerImageTag"] == "2.1.14" and "2.0.0" in entry["releases"]["breakingChanges"]
        assert requests.get(f"{emu.url}/metadata/acme/source-x/latest/oss.json", timeout=10).status_code == 404

    def test_unreachable_registry_answers_503(self, emu):
        emu.registry_unreachable = True
        assert requests.get(emu.registry_url, timeout=10).status_code == 503

    def test_no_registry_is_404(self, emulator):
        assert requests.get(emulator().registry_url, timeout=10).status_code == 404
