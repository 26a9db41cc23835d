from __future__ import annotations

import fcntl
import os
import stat
import subprocess

import pytest

from airflow_airbyte_connectors.config.configs import (
    MAX_REPORTED_PROBLEMS,
    ConfigError,
    get_configs,
    parse_basic_config,
    parse_connectors,
)
from airflow_airbyte_connectors.core.files import open_regular_file
from airflow_airbyte_connectors.core.kinds import KINDS
from airflow_airbyte_connectors.upgrades import bump
from airflow_airbyte_connectors.upgrades.bump import (
    BumpError,
    TagChange,
    apply_tags,
    read_config_text,
    unified_diff,
    write_config_text,
)
from tests.dags.test_platform_compatibility import compatibility_file  # noqa: F401 (fixture)
from tests.support import REPO_ROOT
from tests.test_cli import cli  # noqa: F401 (fixture)
from tests.upgrades.test_outdated import CONFIG, NEEDS_2_3, config_file, github_rules, needs_2_3, registries  # noqa: F401

# Comments everywhere, blank lines, another DAG's section, odd indentation, explicit document markers,
# trailing spaces, an inline comment right after a tag and tabs before one.
COMMENTED = """\
%YAML 1.1
---
# basic_config for the data platform team.   
# Owners: #data-platform

sync:   # read by another DAG
  schedule: "@daily"
  tags: [0.1.0, 'x']

connectors:
  # Sources first.
  source_definitions:

  # GitHub: pinned until the 2.x migration.
  - name: GitHub   # the registry's name
    dockerRepository: airbyte/source-github
    dockerImageTag: 1.8.0 # pinned
    documentationUrl: https://docs.airbyte.com/integrations/sources/github

  - dockerImageTag:    '0.3.40'\t# single quotes kept
    name: PokeAPI
    dockerRepository: airbyte/source-pokeapi
    documentationUrl: https://docs.airbyte.com/integrations/sources/pokeapi
  # A custom image.
  -   name: Acme CRM
      dockerRepository: ghcr.io/acme/source-acme-crm
      dockerImageTag: "1.2.0"
      documentationUrl: https://acme.example.com/docs

  destination_definitions:
      - name: Postgres
        dockerRepository: airbyte/destination-postgres
        dockerImageTag: !!str 2.4.7
        documentationUrl: https://docs.airbyte.com/integrations/destinations/postgres
# The end.
...
"""

FLOW = """\
connectors:
  source_definitions:
    - {name: Faker, dockerRepository: airbyte/source-faker, dockerImageTag: 6.2.24, documentationUrl: "https://x.example/faker"}
    - {name: "Stripe", dockerRepository: airbyte/source-stripe,
       dockerImageTag: '5.1.0', documentationUrl: https://x.example/stripe}
  destination_definitions: [{name: Dev Null, dockerRepository: airbyte/destination-dev-null,
    dockerImageTag: "0.8.4", documentationUrl: https://x.example/null}, {name: S3,
    dockerRepository: airbyte/destination-s3, dockerImageTag: 1.10.0, documentationUrl: https://x.example/s3}]
"""

# Characters outside ASCII before a tag move every later character's offset away from its byte offset.
UNICODE = """\
connectors:
  source_definitions:
    - name: "Café 数据 — Ünïcödé 😀"
      dockerRepository: ghcr.io/acme/source-cafe
      dockerImageTag: 1.0.0  # ✓ geprüft
      documentationUrl: https://acme.example.com/docs/café
    - name: Ωmega 🚀🚀🚀
      dockerRepository: ghcr.io/acme/source-omega
      dockerImageTag: '3.2.1'
      documentationUrl: https://acme.example.com/docs/omega
"""


def source(old: str, new: str, *, position: int | None = None, repository: str | None = None) -> TagChange:
    return TagChange("source", old, new, position=position, docker_repository=repository)


def destination(old: str, new: str, *, position: int | None = None, repository: str | None = None) -> TagChange:
    return TagChange("destination", old, new, position=position, docker_repository=repository)


def check_bump(old: str, changes: list[TagChange], edits: list[tuple[str, str]]) -> str:
    """apply_tags changes exactly one line per edit, each only from ``edits[i][0]`` to ``edits[i][1]``.

    Every other line is compared byte for byte, and the whole file with the old tags put back must be
    the original text.
    """
    new = apply_tags(old, changes)
    old_lines, new_lines = old.splitlines(keepends=True), new.splitlines(keepends=True)
    assert len(new_lines) == len(old_lines)
    changed = [index for index, (before, after) in enumerate(zip(old_lines, new_lines, strict=True)) if before != after]
    assert len(changed) == len(edits), f"lines changed: {[new_lines[index] for index in changed]}"
    restored = list(new_lines)
    for index, (before, after) in zip(changed, edits, strict=True):
        assert old_lines[index].count(before) == 1, old_lines[index]
        assert new_lines[index] == old_lines[index].replace(before, after), new_lines[index]
        restored[index] = new_lines[index].replace(after, before)
    assert "".join(restored) == old
    for index in set(range(len(old_lines))) - set(changed):
        assert new_lines[index] == old_lines[index]
    return new


def tags_of(text: str) -> dict[str, list[str]]:
    """The tags as create_connectors reads them: validated, strings only."""
    section = parse_connectors(parse_basic_config(text.encode(), source="t")["connectors"])
    return {kind: [definition.docker_image_tag for definition in section.of_kind(kind)] for kind in KINDS}


def problems_of(text: str, changes: list[TagChange]) -> list[str]:
    with pytest.raises(BumpError) as caught:
        apply_tags(text, changes)
    return caught.value.problems


class TestRepositoryConfigs:
    @pytest.mark.parametrize("relative", ["configs/basic_config.yaml", "examples/basic_config.yaml"])
    def test_every_tag_bumped_and_nothing_else(self, relative):
        text = read_config_text(REPO_ROOT / relative)
        config = get_configs("connectors", path=REPO_ROOT / relative)
        changes, edits = [], []
        for kind in KINDS:
            for position, definition in enumerate(config.of_kind(kind)):
                old = definition.docker_image_tag
                new = f"{old}.1" if position % 2 else "2.0"  # every other one needs quotes
                changes.append(TagChange(kind, old, new, position=position))
                edits.append(
                    (f"dockerImageTag: {old}", f'dockerImageTag: "{new}"' if new == "2.0" else f"dockerImageTag: {new}")
                )
        new = check_bump(text, changes, edits)
        assert tags_of(new) == {kind: [change.new_tag for change in changes if change.kind == kind] for kind in KINDS}

    def test_by_repository_in_the_shipped_example(self):
        text = read_config_text(REPO_ROOT / "examples/basic_config.yaml")
        check_bump(
            text,
            [source("2.1.14", "2.2.0", repository="airbyte/source-github")],
            [("dockerImageTag: 2.1.14", "dockerImageTag: 2.2.0")],
        )


class TestPreservation:
    def test_comments_quotes_markers_and_other_sections_stay(self):
        new = check_bump(
            COMMENTED,
            [
                source("1.8.0", "1.9.3", position=0),
                source("0.3.40", "0.3.41", repository="airbyte/source-pokeapi"),
                source("1.2.0", "1.10.0", position=2, repository="ghcr.io/acme/source-acme-crm"),
                destination("2.4.7", "2.5", position=0),
            ],
            [
                ("dockerImageTag: 1.8.0 #", "dockerImageTag: 1.9.3 #"),
                ("'0.3.40'", "'0.3.41'"),
                ('"1.2.0"', '"1.10.0"'),
                # The explicit string tag keeps 2.5 a string: no quotes added.
                ("!!str 2.4.7", "!!str 2.5"),
            ],
        )
        assert tags_of(new) == {"source": ["1.9.3", "0.3.41", "1.10.0"], "destination": ["2.5"]}

    def test_crlf_line_endings_stay(self):
        text = COMMENTED.replace("\n", "\r\n")
        new = check_bump(
            text,
            [source("1.8.0", "2.0", position=0), destination("2.4.7", "2.4.8", position=0)],
            [("dockerImageTag: 1.8.0", 'dockerImageTag: "2.0"'), ("2.4.7", "2.4.8")],
        )
        assert new.count("\r\n") == text.count("\r\n") and new.count("\n") == text.count("\n")

    def test_byte_order_mark_and_next_line_characters(self):
        # libyaml's offsets skip a byte order mark: the tag would land one character early.
        text = "\ufeff" + UNICODE.replace("Café", "Ca\u0085fé").replace("\n", "\r\n")
        new = check_bump(
            text,
            [source("1.0.0", "1.0.1", position=0), source("3.2.1", "2.0", position=1)],
            [("1.0.0", "1.0.1"), ("'3.2.1'", "'2.0'")],
        )
        assert new.startswith("\ufeff")

    def test_no_newline_at_end_of_file(self):
        text = UNICODE.rstrip("\n")
        new = check_bump(text, [source("3.2.1", "3.3.0", position=1)], [("'3.2.1'", "'3.3.0'")])
        assert not new.endswith("\n")

    def test_flow_style_entries_and_lists(self):
        new = check_bump(
            FLOW,
            [
                source("6.2.24", "6.3.0", position=0),
                source("5.1.0", "5.10", position=1),
                destination("0.8.4", "0.9.0", repository="airbyte/destination-dev-null"),
                destination("1.10.0", "2.0", repository="airbyte/destination-s3"),
            ],
            [
                ("dockerImageTag: 6.2.24", "dockerImageTag: 6.3.0"),
                ("'5.1.0'", "'5.10'"),
                ('"0.8.4"', '"0.9.0"'),
                ("dockerImageTag: 1.10.0", 'dockerImageTag: "2.0"'),
            ],
        )
        assert tags_of(new) == {"source": ["6.3.0", "5.10"], "destination": ["0.9.0", "2.0"]}

    def test_unicode_before_the_tags(self):
        new = check_bump(
            UNICODE,
            [source("1.0.0", "1.0.1", position=0), source("3.2.1", "4.0.0", position=1)],
            [("1.0.0", "1.0.1"), ("'3.2.1'", "'4.0.0'")],
        )
        assert tags_of(new) == {"source": ["1.0.1", "4.0.0"], "destination": []}

    def test_same_tag_is_no_change(self):
        assert apply_tags(UNICODE, [source("1.0.0", "1.0.0", position=0)]) == UNICODE
        assert apply_tags(UNICODE, []) == UNICODE


class TestQuoting:
    @pytest.mark.parametrize(
        "new",
        ["2.0", "10", "1e3", "0o17", "1_0", "true", "yes", "Off", "null", "NULL", "2024-01-01"],
    )
    def test_plain_value_that_would_not_read_as_a_string_is_double_quoted(self, new):
        text = check_bump(UNICODE, [source("1.0.0", new, position=0)], [("1.0.0", f'"{new}"')])
        assert tags_of(text)["source"][0] == new

    @pytest.mark.parametrize("new", ["1.10.0", "2.0.0", "v2", "latest", "1.0.0-rc.1", "dev_2024"])
    def test_plain_value_that_reads_as_a_string_stays_plain(self, new):
        text = check_bump(UNICODE, [source("1.0.0", new, position=0)], [("1.0.0", new)])
        assert tags_of(text)["source"][0] == new

    @pytest.mark.parametrize("quote", ["'", '"'])
    def test_quoted_value_keeps_its_quotes_even_when_not_needed(self, quote):
        text = UNICODE.replace("'3.2.1'", f"{quote}3.2.1{quote}")
        check_bump(text, [source("3.2.1", "2.0", position=1)], [(f"{quote}3.2.1{quote}", f"{quote}2.0{quote}")])


class TestRefusals:
    def test_old_tag_differs(self):
        with pytest.raises(ConfigError) as caught:
            apply_tags(UNICODE, [source("0.9.0", "1.1.0", position=0)], source="configs/basic_config.yaml")
        assert str(caught.value) == (
            "Cannot change tags in configs/basic_config.yaml (1 problem):\n"
            "  - connectors.source_definitions[0].dockerImageTag (line 5): "
            "is '1.0.0', expected '0.9.0'; nothing changed"
        )

    def test_every_problem_is_named_at_once(self):
        problems = problems_of(
            COMMENTED,
            [
                source("1.8.0", "1.9.0", position=0),  # fine, but not applied: the others fail
                source("1.8.0", "1.9.0", position=7),
                source("1.0", "1.1", repository="airbyte/source-nope"),
                destination("2.4.6", "2.4.8", position=0),
                destination("2.4.7", "2.4.8\nname: injected", position=0),
            ],
        )
        assert problems == [
            "connectors.source_definitions[7]: no such entry (the list has 3)",
            "connectors.source_definitions: no entry with dockerRepository 'airbyte/source-nope'",
            "connectors.destination_definitions[0].dockerImageTag (line 33): is '2.4.7', expected '2.4.6'; "
            "nothing changed",
            "connectors.destination_definitions[0]: new tag '2.4.8\\nname: injected' is not a Docker tag",
        ]

    def test_a_long_list_of_problems_is_cut(self):
        problems = problems_of(
            UNICODE, [source("9.9.9", f"1.0.{n}", position=n % 2) for n in range(MAX_REPORTED_PROBLEMS + 5)]
        )
        assert len(problems) == MAX_REPORTED_PROBLEMS + 1
        assert problems[-1] == "5 more problems not shown"

    @pytest.mark.parametrize("new", ["1.0 # comment", "1.0, x", "'1.0'", "-1", "", "a" * 129, "1.0\u2028"])
    def test_new_tag_that_is_not_a_docker_tag(self, new):
        (problem,) = problems_of(UNICODE, [source("1.0.0", new, position=0)])
        assert problem.startswith("connectors.source_definitions[0]: new tag ") and "is not a Docker tag" in problem

    def test_repository_on_two_entries_needs_a_position(self):
        text = UNICODE.replace("ghcr.io/acme/source-omega", "ghcr.io/acme/source-cafe")
        (problem,) = problems_of(text, [source("1.0.0", "1.0.1", repository="ghcr.io/acme/source-cafe")])
        assert problem == (
            "connectors.source_definitions: 2 entries with dockerRepository 'ghcr.io/acme/source-cafe' ([0], [1]); "
            "name the entry by position"
        )
        changes = [source("3.2.1", "3.2.2", position=1, repository="ghcr.io/acme/source-cafe")]
        check_bump(text, changes, [("'3.2.1'", "'3.2.2'")])

    def test_position_and_repository_that_disagree(self):
        (problem,) = problems_of(
            UNICODE, [source("1.0.0", "1.0.1", position=0, repository="ghcr.io/acme/source-omega")]
        )
        assert problem == "connectors.source_definitions[0]: dockerRepository is not 'ghcr.io/acme/source-omega'"

    def test_missing_list(self):
        (problem,) = problems_of(UNICODE, [destination("1.0.0", "1.0.1", position=0)])
        assert problem == "connectors.destination_definitions: no such list in the file"

    def test_same_entry_changed_twice(self):
        (problem,) = problems_of(
            UNICODE,
            [source("1.0.0", "1.0.1", position=0), source("1.0.0", "1.0.2", repository="ghcr.io/acme/source-cafe")],
        )
        assert problem == "connectors.source_definitions[0].dockerImageTag: changed twice (to '1.0.1' and '1.0.2')"

    @pytest.mark.parametrize(
        ("tag_text", "expected"),
        [
            ("|\n        1.0.0", "spans several lines"),
            (">-\n        1.0.0", "spans several lines"),
            ('"1.0\n        .0"', "spans several lines"),
            ("1.0\n        .0", "spans several lines"),
            ("!!float 1.0", "YAML reads '1.0' as float, not a string"),
            ("1.5", "YAML reads '1.5' as float, not a string"),
            ("[1.0.0]", "not a single value"),
        ],
        ids=["literal", "folded", "quoted-two-lines", "plain-two-lines", "float-tag", "plain-float", "list"],
    )
    def test_tag_scalar_that_cannot_be_changed_in_place(self, tag_text, expected):
        text = UNICODE.replace("dockerImageTag: 1.0.0  # ✓ geprüft", f"dockerImageTag: {tag_text}")
        (problem,) = problems_of(text, [source("1.0.0", "1.1.0", position=0)])
        assert problem.startswith("connectors.source_definitions[0].dockerImageTag") and expected in problem

    def test_missing_tag(self):
        text = UNICODE.replace("      dockerImageTag: 1.0.0  # ✓ geprüft\n", "")
        (problem,) = problems_of(text, [source("1.0.0", "1.1.0", position=0)])
        assert problem == "connectors.source_definitions[0].dockerImageTag: missing"

    @pytest.mark.parametrize(
        "text",
        [
            UNICODE.replace("dockerImageTag: '3.2.1'", "dockerImageTag: &tag '3.2.1'"),
            UNICODE.replace("    - name: Ωmega", "    - &omega\n      name: Ωmega")
            + "  destination_definitions: [*omega]\n",
        ],
        ids=["anchor", "alias"],
    )
    def test_anchors_and_aliases_refused(self, text):
        problems = problems_of(text, [source("1.0.0", "1.1.0", position=0)])
        assert problems and all("tags are changed only in files without anchors" in p for p in problems)

    def test_invalid_yaml_is_named(self):
        (problem,) = problems_of("connectors: [\n", [source("1.0.0", "1.1.0", position=0)])
        assert problem.startswith("YAML syntax: line 2")

    def test_duplicate_key_is_named(self):
        text = UNICODE.replace("dockerImageTag: '3.2.1'", "dockerImageTag: '3.2.1'\n      dockerImageTag: '3.2.2'")
        (problem,) = problems_of(text, [source("3.2.1", "3.3.0", position=1)])
        assert "key 'dockerImageTag' repeats the one on line 9" in problem

    def test_bad_change_is_refused_when_made(self):
        with pytest.raises(ValueError, match="by position or docker_repository"):
            TagChange("source", "1", "2")
        with pytest.raises(ValueError, match="kind must be one of source, destination"):
            TagChange("sources", "1", "2", position=0)  # type: ignore[arg-type]


class TestUnifiedDiff:
    def test_equal_texts_give_no_diff(self):
        assert unified_diff(UNICODE, UNICODE, "configs/basic_config.yaml") == ""

    def test_diff_names_the_file_and_the_lines(self):
        new = apply_tags(UNICODE, [source("3.2.1", "3.3.0", position=1)])
        diff = unified_diff(UNICODE, new, "configs/basic_config.yaml")
        assert diff.startswith("--- a/configs/basic_config.yaml\n+++ b/configs/basic_config.yaml\n@@ ")
        assert [line for line in diff.splitlines() if line[:1] in "+-" and line[:3] not in ("+++", "---")] == [
            "-      dockerImageTag: '3.2.1'",
            "+      dockerImageTag: '3.3.0'",
        ]

    @pytest.mark.parametrize(
        ("text", "changes"),
        [
            (COMMENTED, [source("1.8.0", "2.0", position=0), destination("2.4.7", "2.5.0", position=0)]),
            (COMMENTED.replace("\n", "\r\n"), [source("1.8.0", "2.0", position=0)]),
            (UNICODE.rstrip("\n"), [source("3.2.1", "3.3.0", position=1)]),
            (FLOW, [destination("1.10.0", "1.11.0", position=1)]),
        ],
        ids=["lf", "crlf", "no-final-newline", "flow"],
    )
    def test_git_apply_turns_the_old_file_into_the_new(self, tmp_path, text, changes):
        new = apply_tags(text, changes)
        target = tmp_path / "configs" / "basic_config.yaml"
        target.parent.mkdir()
        target.write_bytes(text.encode())
        (tmp_path / "bump.diff").write_bytes(unified_diff(text, new, "configs/basic_config.yaml").encode())
        subprocess.run(["git", "apply", "bump.diff"], cwd=tmp_path, check=True, capture_output=True)
        assert target.read_bytes() == new.encode()


class TestFiles:
    def test_read_and_write_keep_every_byte_and_the_mode(self, tmp_path):
        target = tmp_path / "basic_config.yaml"
        raw = COMMENTED.replace("\n", "\r\n").encode()
        target.write_bytes(raw)
        target.chmod(0o640)
        text = read_config_text(target)
        assert text.encode() == raw
        new = apply_tags(text, [source("1.8.0", "1.9.0", position=0)])
        write_config_text(target, new, expected=text)
        assert target.read_bytes() == new.encode()
        assert stat.S_IMODE(target.stat().st_mode) == 0o640
        assert [path.name for path in tmp_path.iterdir()] == ["basic_config.yaml"]

    def test_a_symlink_is_written_through_and_stays_a_link(self, tmp_path):
        (tmp_path / "real").mkdir()
        target = tmp_path / "real" / "basic_config.yaml"
        target.write_text(COMMENTED)
        link = tmp_path / "basic_config.yaml"
        link.symlink_to(target)
        text = read_config_text(link)
        new = apply_tags(text, [source("1.8.0", "1.9.0", position=0)])
        write_config_text(link, new, expected=text)
        assert link.is_symlink() and link.readlink() == target
        assert target.read_text() == new
        assert sorted(p.name for p in tmp_path.rglob("*")) == ["basic_config.yaml", "basic_config.yaml", "real"]

    def test_owner_and_group_are_kept(self, tmp_path):
        if os.geteuid() != 0:
            pytest.skip("only root can give a file to another user")
        target = tmp_path / "basic_config.yaml"
        target.write_text(COMMENTED)
        os.chown(target, 4321, 8765)
        target.chmod(0o640)
        text = read_config_text(target)
        write_config_text(target, apply_tags(text, [source("1.8.0", "1.9.0", position=0)]), expected=text)
        written = target.stat()
        assert (written.st_uid, written.st_gid, stat.S_IMODE(written.st_mode)) == (4321, 8765, 0o640)

    def test_a_read_only_file_is_refused_even_for_root(self, tmp_path):
        target = tmp_path / "basic_config.yaml"
        target.write_text(COMMENTED)
        target.chmod(0o444)
        text = read_config_text(target)
        with pytest.raises(BumpError, match=r"read-only \(mode 0444\); nothing changed"):
            write_config_text(target, apply_tags(text, [source("1.8.0", "1.9.0", position=0)]), expected=text)
        assert target.read_text() == COMMENTED

    def test_an_edit_made_after_the_read_is_not_lost(self, tmp_path):
        # Two bumps read the same file; the first writes; the second must not write over the first's change.
        target = tmp_path / "basic_config.yaml"
        target.write_text(COMMENTED)
        first, second = read_config_text(target), read_config_text(target)
        write_config_text(target, apply_tags(first, [source("1.8.0", "1.9.0", position=0)]), expected=first)
        edited = target.read_text()
        with pytest.raises(BumpError, match="changed since read; run bump again"):
            write_config_text(target, apply_tags(second, [source("1.8.0", "1.9.1", position=0)]), expected=second)
        assert target.read_text() == edited and "1.9.0" in edited

    def test_a_file_replaced_after_the_read_is_not_overwritten(self, tmp_path):
        # Same bytes, another file (an editor saved it): what was locked and compared is no longer the file.
        target = tmp_path / "basic_config.yaml"
        target.write_text(COMMENTED)
        text = read_config_text(target)
        with target.open("rb") as held:  # the old file, as a bump that opened it before the replace sees it
            (tmp_path / "saved.yaml").write_text(COMMENTED.replace("# Sources first.", "# Sources."))
            os.replace(tmp_path / "saved.yaml", target)
            assert held.read() == COMMENTED.encode()
        with pytest.raises(BumpError, match="changed since read"):
            write_config_text(target, apply_tags(text, [source("1.8.0", "1.9.0", position=0)]), expected=text)
        assert "# Sources." in target.read_text()

    def test_a_file_replaced_right_after_it_was_opened_is_not_overwritten(self, tmp_path, monkeypatch):
        # The open file is the old one, unchanged; the path names another bump's result by now.
        target = tmp_path / "basic_config.yaml"
        target.write_text(COMMENTED)
        text = read_config_text(target)
        other_bump = apply_tags(text, [source("1.8.0", "1.9.1", position=0)])

        def open_then_replaced(path):
            handle = open_regular_file(path)
            (tmp_path / "other.yaml").write_text(other_bump)
            os.replace(tmp_path / "other.yaml", target)
            return handle

        monkeypatch.setattr(bump, "open_regular_file", open_then_replaced)
        with pytest.raises(BumpError, match="changed since read"):
            write_config_text(target, apply_tags(text, [source("1.8.0", "1.9.0", position=0)]), expected=text)
        assert target.read_text() == other_bump

    def test_a_file_another_bump_is_writing_is_refused(self, tmp_path):
        target = tmp_path / "basic_config.yaml"
        target.write_text(COMMENTED)
        text = read_config_text(target)
        with target.open("rb") as other:
            fcntl.flock(other.fileno(), fcntl.LOCK_EX)  # another open file: as another process holds it
            with pytest.raises(BumpError, match="another bump is writing this file; run bump again"):
                write_config_text(target, apply_tags(text, [source("1.8.0", "1.9.0", position=0)]), expected=text)
        assert target.read_text() == COMMENTED

    def test_a_fifo_is_refused_unopened(self, tmp_path):
        target = tmp_path / "basic_config.yaml"
        os.mkfifo(target)
        with pytest.raises(BumpError, match=r"is a FIFO \(named pipe\), expected a YAML file"):
            write_config_text(target, "connectors: {}\n", expected="")

    def test_read_refuses_what_configs_refuses(self, tmp_path):
        target = tmp_path / "basic_config.yaml"
        target.write_bytes(b"connectors: \xff\n")
        with pytest.raises(ConfigError, match="not UTF-8 text"):
            read_config_text(target)
        with pytest.raises(ConfigError, match="file not found"):
            read_config_text(tmp_path / "missing.yaml")


class TestOnlyVersionsAirbyteAccepts:
    """``bump`` writes the newest tag the policy allows that Airbyte's platform-compatibility matrix accepts."""

    def test_write_takes_the_accepted_version_and_says_what_was_skipped(
        self,
        cli,  # noqa: F811
        registries,  # noqa: F811
        config_file,  # noqa: F811
        compatibility_file,  # noqa: F811
    ):
        _, env = registries
        env = {**env, "AIRFLOW__AIRBYTE_CONNECTORS__PLATFORM_COMPATIBILITY_URL": compatibility_file(NEEDS_2_3)}
        before = config_file.read_bytes()
        args = ("bump", str(config_file), "--today", "2026-10-01", "--airbyte-version", "2.0.0")
        diff = cli(*args, env=env)
        assert diff.returncode == 0, diff.stderr
        # stdout is only the patch; what was skipped and against which Airbyte is beside it.
        assert diff.stdout.startswith("--- a/") and "skipped" not in diff.stdout
        assert "+      dockerImageTag: 1.9.1   # pinned by the platform team in 2024" in diff.stdout
        assert diff.stderr.splitlines() == [
            f"source airbyte/source-github: skipped 1.9.2: {needs_2_3('1.9.2')}",
            "NOTE proposals checked against the platform-compatibility matrix for Airbyte 2.0.0 (as given)",
        ]
        written = cli(*args, "--write", env=env)
        assert written.returncode == 0, written.stderr
        assert config_file.read_bytes() == before.replace(b"dockerImageTag: 1.8.0 ", b"dockerImageTag: 1.9.1 ").replace(
            b'dockerImageTag: "4.2.0"', b'dockerImageTag: "4.12.2"'
        )
        assert written.stdout.splitlines()[1:] == [
            "  source airbyte/source-github 1.8.0 → 1.9.1",
            "  source airbyte/source-hubspot 4.2.0 → 4.12.2",
            f"source airbyte/source-github: skipped 1.9.2: {needs_2_3('1.9.2')}",
            "NOTE proposals checked against the platform-compatibility matrix for Airbyte 2.0.0 (as given)",
        ]

    def test_nothing_to_bump_when_airbyte_refuses_every_newer_version(
        self,
        cli,  # noqa: F811
        registries,  # noqa: F811
        tmp_path,
        compatibility_file,  # noqa: F811
    ):
        _, env = registries
        path = tmp_path / "github_only.yaml"
        path.write_text(CONFIG.replace("versionPolicy: major", "versionPolicy: pin"))
        refused = github_rules({"connectorVersion": ">1.8.0", "airbyteVersion": "*", "blocked": True})
        env = {**env, "AIRFLOW__AIRBYTE_CONNECTORS__PLATFORM_COMPATIBILITY_URL": compatibility_file(refused)}
        result = cli("bump", str(path), "--write", "--today", "2026-10-01", "--airbyte-version", "2.0.0", env=env)
        assert result.returncode == 0, result.stderr
        lines = result.stdout.splitlines()
        assert (
            lines[0] == f"Nothing to bump in {path}: every definition is as new as its policy and this Airbyte allow."
        )
        assert (
            "source airbyte/source-github: skipped 1.9.2: Connector source-github with version 1.9.2 is temporarily "
            "blocked from upgrade."
        ) in lines
        assert path.read_text() == CONFIG.replace("versionPolicy: major", "versionPolicy: pin")
