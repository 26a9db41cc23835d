from __future__ import annotations

import uuid
from dataclasses import replace

import pytest

from airflow_airbyte_connectors.config.configs import ConnectorsConfig, DesiredDefinition
from airflow_airbyte_connectors.core.compatibility import parse_matrix
from airflow_airbyte_connectors.plan.planning import Change, make_plan, with_image_checks, with_platform_compatibility

POKE_ID = "6371b14b-bc68-4236-bfbd-468e8df8e968"
OLD_ID = "0b5e3a2c-7d9f-4e61-8a1b-2c3d4e5f6a7b"


def desired(
    name="PokeAPI", repo="airbyte/source-pokeapi", tag="0.3.40", kind="source", definition_id=None, url=None
) -> DesiredDefinition:
    return DesiredDefinition(
        kind=kind,
        name=name,
        docker_repository=repo,
        docker_image_tag=tag,
        documentation_url=url or f"https://docs.example.com/{name}",
        definition_id=definition_id,
    )


def current(
    name="PokeAPI",
    repo="airbyte/source-pokeapi",
    tag="0.3.40",
    kind="source",
    definition_id=None,
    custom=False,
    url=None,
) -> dict:
    return {
        f"{kind}DefinitionId": definition_id or str(uuid.uuid4()),
        "name": name,
        "dockerRepository": repo,
        "dockerImageTag": tag,
        "documentationUrl": url or f"https://docs.example.com/{name}",
        "custom": custom,
    }


def plan_for(sources=(), destinations=(), current_sources=(), current_destinations=()):
    config = ConnectorsConfig(tuple(sources), tuple(destinations))
    return make_plan(config, {"source": list(current_sources), "destination": list(current_destinations)})


class TestIdentity:
    def test_missing_definition_is_created(self):
        plan = plan_for([desired()], current_sources=[current(name="Other", repo="airbyte/source-other")])
        assert [a.action for a in plan.actions] == ["create"]
        assert plan.creates[0].definition_id is None
        assert [u.name for u in plan.unmanaged] == ["Other"]

    def test_same_repository_with_other_tag_is_an_update(self):
        plan = plan_for([desired(tag="0.3.40")], current_sources=[current(tag="0.3.38", definition_id=POKE_ID)])
        (update,) = plan.updates
        assert update.definition_id == POKE_ID
        assert update.changes == (Change("dockerImageTag", "0.3.38", "0.3.40"),)
        assert update.label == "update source PokeAPI 0.3.38→0.3.40"
        assert not plan.creates and not plan.unchanged

    def test_equal_definition_is_unchanged(self):
        plan = plan_for([desired()], current_sources=[current()])
        assert plan.actions == () and len(plan.unchanged) == 1 and plan.findings == ()

    def test_config_id_wins_over_repository(self):
        # The ID points at a definition whose repository differs: the ID decides, the repository
        # difference is reported (no API can change it), and the same-repository one is left alone.
        by_id = current(repo="acme/source-pokeapi-fork", tag="1.0.0", definition_id=POKE_ID, custom=True)
        same_repo = current(tag="0.3.40")
        plan = plan_for([desired(definition_id=POKE_ID, tag="1.0.1")], current_sources=[by_id, same_repo])
        (update,) = plan.updates
        assert update.definition_id == POKE_ID
        assert [c.field for c in update.changes] == ["dockerImageTag"]
        assert [f.category for f in plan.findings] == ["unchangeable"]
        assert "dockerRepository acme/source-pokeapi-fork → airbyte/source-pokeapi" in plan.findings[0].message
        assert [u.definition_id for u in plan.unmanaged] == [same_repo["sourceDefinitionId"]]

    def test_unknown_config_id_falls_back_to_repository_and_says_so(self):
        plan = plan_for([desired(definition_id=POKE_ID)], current_sources=[current()])
        assert plan.unchanged and not plan.actions
        assert [f.category for f in plan.findings] == ["id_not_found"]

    def test_name_alone_never_decides_identity(self):
        plan = plan_for([desired(name="PokeAPI", repo="acme/source-poke")], current_sources=[current(name="PokeAPI")])
        assert [a.action for a in plan.actions] == ["create"]
        assert [f.category for f in plan.findings] == ["name_taken"]

    def test_repeated_name_in_the_config_is_noted_and_both_are_managed_by_image(self):
        twin = desired(name="pokeapi", repo="acme/source-poke")
        plan = plan_for([desired(), twin], current_sources=[current(tag="0.3.38")])
        assert [(a.action, a.desired.docker_repository) for a in plan.actions] == [
            ("create", "acme/source-poke"),
            ("update", "airbyte/source-pokeapi"),
        ]
        assert [f.category for f in plan.findings] == ["repeated_name", "name_taken"]
        assert "2 entries use this name (airbyte/source-pokeapi, acme/source-poke)" in plan.findings[0].message

    def test_repository_used_twice_in_airbyte_is_ambiguous_and_not_touched(self):
        twins = [current(tag="0.3.1"), current(tag="0.3.2", custom=True)]
        plan = plan_for([desired()], current_sources=twins)
        assert plan.actions == ()
        assert [f.category for f in plan.conflicts] == ["ambiguous"]
        assert all(t["sourceDefinitionId"] in plan.conflicts[0].message for t in twins)
        assert plan.unmanaged == ()

    def test_ambiguity_is_resolved_by_an_id_in_the_config(self):
        twins = [current(tag="0.3.1"), current(tag="0.3.2", custom=True)]
        plan = plan_for([desired(definition_id=twins[0]["sourceDefinitionId"])], current_sources=twins)
        assert [u.definition_id for u in plan.updates] == [twins[0]["sourceDefinitionId"]]
        assert plan.conflicts == ()

    def test_two_entries_claiming_one_definition_is_a_conflict(self):
        existing = current(definition_id=POKE_ID, repo="airbyte/source-pokeapi")
        entries = [
            desired(definition_id=POKE_ID, repo="airbyte/source-pokeapi"),
            desired(name="Fork", repo="acme/fork", definition_id=None),
        ]
        # The second entry matches nothing by ID and nothing by repo: a create, no conflict.
        assert [a.action for a in plan_for(entries, current_sources=[existing]).actions] == ["create"]
        entries[1] = desired(name="Fork", repo="acme/fork", definition_id=POKE_ID)
        plan = plan_for(entries, current_sources=[existing])
        assert [f.category for f in plan.conflicts] == ["ambiguous"]
        assert "already claimed" in plan.conflicts[0].message

    def test_kinds_are_separate(self):
        plan = plan_for(
            sources=[desired(repo="airbyte/x")],
            destinations=[desired(kind="destination", repo="airbyte/x", tag="2.0.0")],
            current_sources=[current(repo="airbyte/x")],
            current_destinations=[current(kind="destination", repo="airbyte/x", tag="1.0.0")],
        )
        assert [(a.kind, a.action) for a in plan.actions] == [("destination", "update")]


class TestWhatUpdateCanChange:
    @pytest.mark.parametrize(
        ("custom", "expected_update", "finding"),
        [(True, True, None), (False, False, "not_renamable")],
        ids=["custom", "built-in"],
    )
    def test_rename_is_an_update_only_for_custom(self, custom, expected_update, finding):
        plan = plan_for(
            [desired(name="Poke", url="https://x.example/doc")],
            current_sources=[current(name="PokeAPI", custom=custom, url="https://x.example/doc")],
        )
        assert bool(plan.updates) is expected_update
        assert [f.category for f in plan.findings] == ([finding] if finding else [])
        if expected_update:
            assert plan.updates[0].changes == (Change("name", "PokeAPI", "Poke"),)
            assert plan.updates[0].label == "update source Poke (name)"

    def test_documentation_url_difference_is_reported_not_planned(self):
        plan = plan_for(
            [desired(url="https://new.example/doc")], current_sources=[current(url="https://old.example/doc")]
        )
        assert plan.actions == () and len(plan.unchanged) == 1
        assert [f.category for f in plan.findings] == ["unchangeable"]
        assert "documentationUrl https://old.example/doc → https://new.example/doc" in plan.findings[0].message

    def test_tag_change_alongside_unchangeable_difference_still_updates(self):
        plan = plan_for(
            [desired(tag="2.0.0", url="https://new.example/doc")],
            current_sources=[current(tag="1.0.0", url="https://old.example/doc")],
        )
        assert [c.field for c in plan.updates[0].changes] == ["dockerImageTag"]
        assert [f.category for f in plan.findings] == ["unchangeable"]

    def test_downgrade_is_an_update_too(self):
        plan = plan_for([desired(tag="0.3.1")], current_sources=[current(tag="0.3.40")])
        assert plan.updates[0].changes == (Change("dockerImageTag", "0.3.40", "0.3.1"),)


class TestPlanOutput:
    def test_operator_kwargs_are_json_able_and_complete(self):
        import json

        plan = plan_for(
            [desired(tag="0.3.40", definition_id=POKE_ID)],
            current_sources=[current(tag="0.3.38", definition_id=POKE_ID)],
        )
        from airflow_airbyte_connectors.plan.plan_document import PlanDocument, change_id

        (kwargs,) = PlanDocument.of(plan, dry_run=False).writes([change_id(plan.updates[0])])
        assert json.loads(json.dumps(kwargs)) == kwargs
        assert kwargs["change"]["kind"] == "source" and kwargs["change"]["action"] == "update"
        assert kwargs["change"]["definitionId"] == POKE_ID

    def test_summary_counts(self):
        plan = plan_for(
            [desired(), desired(name="New", repo="acme/new"), desired(name="Old", repo="acme/old", tag="2")],
            current_sources=[current(), current(name="Old", repo="acme/old", tag="1"), current(name="X", repo="x/y")],
        )
        assert plan.summary() == {
            "create": 1,
            "update": 1,
            "blocked": 0,
            "held": 0,
            "pending": 0,
            "waiting": 0,
            "unchanged": 1,
            "unmanaged": 1,
            "findings": 0,
            "conflicts": 0,
        }


class TestImageChecks:
    def plan(self):
        return plan_for(
            [desired(), desired(name="New", repo="acme/new", tag="1.0"), desired(name="Old", repo="acme/old", tag="2")],
            current_sources=[current(tag="0.3.38"), current(name="Old", repo="acme/old", tag="1")],
        )

    def test_missing_image_leaves_the_plan_and_is_named(self):
        checked = with_image_checks(self.plan(), {("acme/new", "1.0"): ("missing", "tag 1.0 not found (HTTP 404)")})
        assert [a.label for a in checked.actions] == [
            "update source PokeAPI 0.3.38→0.3.40",
            "update source Old 1→2",
        ]
        assert [a.label for a in checked.blocked] == ["create source New 1.0"]
        (finding,) = checked.findings
        assert finding.category == "image_missing"
        assert "image acme/new:1.0 does not exist (tag 1.0 not found (HTTP 404))" in finding.message
        assert checked.summary()["blocked"] == 1

    def test_unknown_image_is_noted_and_still_written(self):
        plan = self.plan()
        checked = with_image_checks(plan, {("acme/old", "2"): ("unknown", "rate-limited by the registry (HTTP 429)")})
        assert checked.actions == plan.actions and checked.blocked == ()
        assert [f.category for f in checked.findings] == ["image_unchecked"]
        # True wherever the plan is shown: `airbyte-connectors plan` writes nothing, the DAG writes it.
        assert checked.findings[0].message == (
            "source Old: could not check image acme/old:2 (rate-limited by the registry (HTTP 429)); "
            "not blocked for that"
        )

    def test_existing_images_change_nothing(self):
        plan = self.plan()
        assert with_image_checks(plan, {("acme/new", "1.0"): ("exists", "")}) == plan


class TestPlatformCompatibility:
    def plan(self):
        plan = plan_for(
            [
                desired(),
                desired(name="New", repo="acme/new", tag="1.0"),
                desired(name="Old", repo="acme/old", tag="2.0.0"),
            ],
            current_sources=[
                current(tag="0.3.38", definition_id=POKE_ID),
                current(name="Old", repo="acme/old", tag="1.0.0", definition_id=OLD_ID),
            ],
        )
        # The update of Old waits for a person: a refused version must not reach the approver either.
        (old,) = [a for a in plan.updates if a.desired.name == "Old"]
        return replace(plan, updates=tuple(a for a in plan.updates if a is not old), held=(old,))

    def matrix(self, definition_id, connector_version, airbyte_version=">=2.3.0"):
        rule = {"connectorVersion": connector_version, "airbyteVersion": airbyte_version}
        entry = {"connectorName": "x", "connectorDefinitionId": definition_id, "compatibilityMatrix": [rule]}
        return parse_matrix({"compatibleConnectors": [entry]})

    def test_refused_updates_and_held_ones_are_blocked_with_airbyte_s_words(self):
        plan = self.plan()
        checked = with_platform_compatibility(plan, self.matrix(POKE_ID, ">=0.3.0"), "2.2.0")
        assert [a.label for a in checked.blocked] == ["update source PokeAPI 0.3.38→0.3.40"]
        assert [a.label for a in checked.creates] == ["create source New 1.0"] and checked.held == plan.held
        (finding,) = checked.findings
        assert finding.category == "platform_refused"
        assert (
            "Current Airbyte version 2.2.0 doesn't support connector version 0.3.40 for connector x" in finding.message
        )
        held = with_platform_compatibility(plan, self.matrix(OLD_ID, "2.0.0"), "2.2.0")
        assert held.held == () and [a.label for a in held.blocked] == ["update source Old 1.0.0→2.0.0"]

    def test_allowed_versions_change_nothing(self):
        plan = self.plan()
        assert with_platform_compatibility(plan, self.matrix(POKE_ID, ">=0.3.0"), "2.3.0") == plan


class TestVersionMeaning:
    """Version classes and holds on the real release data (Airbyte's registry, March 2026)."""

    @pytest.fixture(scope="class")
    @classmethod
    def releases(cls):
        import json

        from airflow_airbyte_connectors.core.releases import parse_registry
        from tests.support import SHARED_AIRBYTE

        return parse_registry(json.loads((SHARED_AIRBYTE / "oss-registry-releases-b8390e04.json").read_text()))

    def plan(self, releases, current_tag, target_tag, *, registry="read", repo="airbyte/source-github"):
        from airflow_airbyte_connectors.plan.planning import with_version_changes

        plan = plan_for(
            [desired(name="GitHub", repo=repo, tag=target_tag)],
            current_sources=[current(name="GitHub", repo=repo, tag=current_tag)],
        )
        return with_version_changes(plan, releases if registry == "read" else None, registry=registry)

    def test_major_across_a_stream_scoped_breaking_change(self, releases):
        (update,) = self.plan(releases, "1.8.0", "2.1.14").updates
        assert update.version_change.classes == ("major", "breaking")
        (crossed,) = update.version_change.crossed
        assert crossed.version == "2.0.0" and "issues" in crossed.impacted_streams
        assert update.label == "update source GitHub 1.8.0→2.1.14 major, breaking"
        from airflow_airbyte_connectors.plan.plan_document import PlannedChange

        assert PlannedChange.of(update).version_change.crossed[0].version == "2.0.0"

    def test_patch_inside_a_major_is_not_breaking(self, releases):
        (update,) = self.plan(releases, "2.1.10", "2.1.14").updates
        assert update.version_change.classes == ("patch",) and update.version_change.crossed == ()

    def test_registry_unreadable_makes_a_major_count_as_breaking(self, releases):
        (update,) = self.plan(releases, "1.8.0", "2.1.14", registry="failed").updates
        assert update.version_change.classes == ("major", "breaking")
        assert update.version_change.crossed == ()

    def test_registry_off_breaks_nothing(self, releases):
        (update,) = self.plan(releases, "1.8.0", "2.1.14", registry="off").updates
        assert update.version_change.classes == ("major",)

    def test_custom_connector_has_no_registry_data(self, releases):
        (update,) = self.plan(releases, "1.0.0", "2.0.0", repo="ghcr.io/acme/source-x").updates
        assert update.version_change.classes == ("major",)
        assert any("registry" in note for note in update.version_change.notes)

    @pytest.mark.parametrize(
        ("current_tag", "target_tag", "hold", "held_for"),
        [
            ("1.8.0", "2.1.14", {"breaking", "downgrade"}, ("breaking",)),
            ("2.1.14", "1.8.0", {"breaking", "downgrade"}, ("downgrade", "breaking")),
            ("2.1.10", "2.1.14", {"breaking", "downgrade"}, ()),
            ("2.1.10", "2.1.14", {"patch"}, ("patch",)),
            ("1.8.0", "2.1.14", set(), ()),
        ],
        ids=["breaking", "downgrade-across-breaking", "patch-not-held", "patch-held-on-request", "hold-nothing"],
    )
    def test_holds(self, releases, current_tag, target_tag, hold, held_for):
        from airflow_airbyte_connectors.plan.planning import with_holds

        plan = self.plan(releases, current_tag, target_tag)
        held = with_holds(plan, frozenset(hold))
        assert [a.hold_reasons for a in held.held] == ([held_for] if held_for else [])
        assert len(held.updates) == (0 if held_for else 1)
        released = with_holds(plan, frozenset(hold), apply_held=True)
        assert released.held == () and [a.hold_reasons for a in released.updates] == [held_for]

    def test_creates_are_never_held(self, releases):
        from airflow_airbyte_connectors.plan.planning import with_holds

        plan = plan_for([desired(name="New", repo="acme/new", tag="1.0.0")])
        assert with_holds(plan, frozenset({"breaking", "downgrade", "major", "unknown"})).creates == plan.creates


class TestPromotionGate:
    """with_gates / with_environment: the promotion gate's verdicts applied to one environment's plan."""

    def plan(self):
        from airflow_airbyte_connectors.plan.planning import with_environment

        plan = plan_for(
            [desired(tag="0.3.40"), desired(name="GitHub", repo="airbyte/source-github", tag="1.9.0")],
            current_sources=[current(tag="0.3.38"), current(name="GitHub", repo="airbyte/source-github", tag="1.9.2")],
        )
        return with_environment(plan, "prod")

    def test_labels_name_the_environment(self):
        assert sorted(a.label for a in self.plan().updates) == [
            "prod: update source GitHub 1.9.2→1.9.0",
            "prod: update source PokeAPI 0.3.38→0.3.40",
        ]

    def test_a_move_up_or_a_create_is_judged_a_move_down_is_not(self):
        plan = self.plan()
        up, down = sorted(plan.updates, key=lambda a: a.desired.name != "PokeAPI")
        assert (up.gated_tag_move, down.gated_tag_move) == (True, False)
        create = plan_for([desired(name="Acme", repo="ghcr.io/acme/source-acme", tag="1.0.0")]).creates[0]
        assert create.gated_tag_move
        renamed = plan_for(
            [desired(name="Acme 2", repo="ghcr.io/acme/source-acme", tag="1.0.0")],
            current_sources=[current(name="Acme", repo="ghcr.io/acme/source-acme", tag="1.0.0", custom=True)],
        ).updates[0]
        assert not renamed.gated_tag_move  # a rename moves no version

    def test_a_closed_gate_moves_the_write_to_waiting_an_open_one_keeps_it_marked(self):
        from airflow_airbyte_connectors.plan.gate import GateVerdict
        from airflow_airbyte_connectors.plan.planning import with_gates

        plan = self.plan()
        poke, github = sorted(plan.updates, key=lambda a: a.desired.name != "PokeAPI")
        waiting = GateVerdict("waiting", "waiting for staging: 0.3.40 is not there yet (it runs 0.3.38)")
        gated = with_gates(plan, {id(poke): waiting})
        assert [a.desired.name for a in gated.updates] == ["GitHub"] and gated.updates[0].gate is None
        (kept,) = gated.waiting
        assert (kept.desired.name, kept.gate) == ("PokeAPI", waiting)
        assert gated.summary()["waiting"] == 1

        opened = with_gates(plan, {id(poke): GateVerdict("open", "staging ran it: ...")})
        assert [a.gate.state for a in opened.updates if a.gate] == ["open"] and opened.waiting == ()

    def test_a_held_update_the_gate_keeps_back_waits_rather_than_asking_a_person(self):
        from airflow_airbyte_connectors.plan.gate import GateVerdict
        from airflow_airbyte_connectors.plan.planning import with_gates

        plan = self.plan()
        held = replace(plan, updates=(), held=plan.updates)
        gated = with_gates(held, {id(held.held[0]): GateVerdict("held", "held: staging sync of 'x' failed")})
        assert len(gated.held) == 1 and len(gated.waiting) == 1
