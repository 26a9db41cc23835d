"""Predicting which sources and destinations a definition update moves (pure; Airbyte's rules)."""

from __future__ import annotations

import pytest

from airflow_airbyte_connectors.plan.impact import Actor, Crossing, predict, selected_streams


def actor(actor_id: str, *, user_pinned: bool = False, pins: tuple[str, ...] = ()) -> Actor:
    return Actor("source", actor_id, f"GitHub {actor_id}", "ws-1", 1, user_pinned, pins)


def connection(source_id: str, streams: dict[str, bool], status: str = "active") -> dict:
    return {
        "sourceId": source_id,
        "destinationId": "dest",
        "status": status,
        "syncCatalog": {"streams": [{"stream": {"name": n}, "config": {"selected": s}} for n, s in streams.items()]},
    }


GITHUB_2 = Crossing("2.0.0", ("comments", "issues", "releases"))
GITHUB_3 = Crossing("3.0.0", ("workflow_runs",))


def outcomes(impacts) -> dict[str, tuple[str, str | None]]:
    return {i.actor.actor_id: (i.outcome, i.because_of) for i in impacts}


class TestSelectedStreams:
    def test_only_selected_streams_of_live_connections_count(self):
        connections = [
            connection("a", {"issues": True, "commits": False}),
            connection("a", {"releases": True}, status="inactive"),
            connection("a", {"comments": True}, status="deprecated"),
            connection("b", {"workflow_runs": True}),
        ]
        assert selected_streams("a", connections) == {"issues", "releases"}

    def test_destination_side_counts_too(self):
        assert selected_streams("dest", [connection("a", {"issues": True})]) == {"issues"}


class TestPredict:
    def test_stream_scoped_breaking_change_keeps_only_actors_that_select_an_impacted_stream(self):
        actors = [actor("issues"), actor("commits"), actor("idle")]
        streams = {"issues": {"issues", "commits"}, "commits": {"commits"}}
        impacts = predict(actors, streams, [GITHUB_2], downgrade=False)
        assert outcomes(impacts) == {
            "issues": ("stays_behind", "2.0.0"),
            "commits": ("moves", None),
            "idle": ("moves", None),
        }
        assert impacts[0].streams == ("issues",)

    def test_each_crossed_change_in_order_and_once(self):
        actors = [actor("issues"), actor("runs"), actor("both")]
        streams = {"issues": {"issues"}, "runs": {"workflow_runs"}, "both": {"issues", "workflow_runs"}}
        assert outcomes(predict(actors, streams, [GITHUB_2, GITHUB_3], downgrade=False)) == {
            "issues": ("stays_behind", "2.0.0"),
            "runs": ("stays_behind", "3.0.0"),
            "both": ("stays_behind", "2.0.0"),
        }

    def test_unscoped_breaking_change_keeps_every_unpinned_actor(self):
        actors = [actor("a"), actor("b", user_pinned=True)]
        assert outcomes(predict(actors, {}, [Crossing("0.4.0")], downgrade=False)) == {
            "a": ("stays_behind", "0.4.0"),
            "b": ("user_pinned", None),
        }

    def test_no_breaking_change_moves_everyone_not_pinned(self):
        actors = [actor("a"), actor("b", pins=("2.0.0",))]
        assert outcomes(predict(actors, {}, [], downgrade=False)) == {
            "a": ("moves", None),
            "b": ("already_pinned", "2.0.0"),
        }

    @pytest.mark.parametrize(
        ("pins", "expected"),
        [(("2.0.0",), ("released", "2.0.0")), (("1.5.0",), ("already_pinned", "1.5.0"))],
        ids=["pin-above-target-released", "older-pin-kept"],
    )
    def test_downgrade_pins_nothing_and_releases_breaking_change_pins_above_it(self, pins, expected):
        actors = [actor("a"), actor("b", pins=pins)]
        assert outcomes(predict(actors, {"a": {"issues"}}, [GITHUB_2], downgrade=True)) == {
            "a": ("moves", None),
            "b": expected,
        }

    def test_from_api_keeps_no_configuration(self):
        read = {
            "sourceId": "s1",
            "name": "GitHub prod",
            "workspaceId": "ws",
            "sourceDefinitionId": "d",
            "connectionConfiguration": {"credentials": {"personal_access_token": "**********"}},
            "isVersionOverrideApplied": False,
            "breakingChanges": {"upcomingBreakingChanges": [{"version": "2.0.0"}], "minUpgradeDeadline": "2025-11-21"},
        }
        parsed = Actor.from_api("source", read)
        assert parsed.breaking_change_pins == ("2.0.0",)
        assert "connectionConfiguration" not in str(parsed.to_json()) and "token" not in repr(parsed)
