"""Every option of the ``[airbyte_connectors]`` section, described once.

``settings`` reads them, ``get_provider_info`` shows them to Airflow (``airflow config list``) and
``docs/settings.md`` is generated from them (``python -m airflow_airbyte_connectors.settings_options``).
No Airflow import here: the provider metadata and the docs need only this table.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Literal, get_args

from airflow_airbyte_connectors.core.versions import VERSION_CLASSES

SECTION = "airbyte_connectors"
SECTION_DESCRIPTION = "Settings of the create_connectors DAG and AirbyteDefinitionOperator."
ApprovalMode = Literal["never", "held", "always"]
OptionType = Literal["string", "boolean", "integer", "float", "list", "choice", "cron"]


@dataclass(frozen=True)
class Option:
    """One setting. A number whose default is empty may be left empty (its description says what that means)."""

    key: str
    type: OptionType
    default: str
    example: str
    version_added: str
    description: str
    allowed: tuple[str, ...] = ()  # choice: one of these; list: each item one of these (empty: any text)
    minimum: float | None = None  # numbers: at least this
    above: float | None = None  # numbers: more than this

    @property
    def env_var(self) -> str:
        return f"AIRFLOW__{SECTION.upper()}__{self.key.upper()}"

    @property
    def may_be_empty(self) -> bool:
        return self.default == "" or self.type in ("string", "list", "cron")

    @property
    def expected(self) -> str:
        """What a valid value is, in words: errors end with it and the docs show it."""
        if self.type == "boolean":
            return "a boolean (true or false)"
        if self.type == "choice":
            return f"one of {', '.join(self.allowed)}"
        if self.type == "list":
            items = f"of {', '.join(self.allowed)}" if self.allowed else "of items"
            return f"a comma-separated list {items} (or empty)"
        if self.type == "cron":
            return "a cron expression such as '0 * * * *' or @hourly (or empty)"
        if self.type == "string":
            return "text (or empty)"
        noun = "a whole number" if self.type == "integer" else "a number"
        if self.above is not None:
            noun += f" above {self.above:g}"
        elif self.minimum is not None:
            noun += f" of at least {self.minimum:g}"
        return f"{noun} (or empty)" if self.may_be_empty else noun

    def provider_entry(self) -> dict[str, str]:
        """The option as Airflow's provider schema wants it (lists, choices and crons are strings to Airflow)."""
        return {
            "description": self.description,
            "version_added": self.version_added,
            "type": "string" if self.type in ("list", "choice", "cron") else self.type,
            "example": self.example,
            "default": self.default,
        }


OPTIONS: tuple[Option, ...] = (
    Option(
        "basic_config_path",
        "string",
        default="{AIRFLOW_HOME}/configs/basic_config.yaml",
        example="/opt/airflow/configs/basic_config.yaml",
        version_added="0.1.0",
        description=(
            "Path of the basic_config YAML file written by template_configs. Its file:// URI is the Asset that "
            "schedules create_connectors."
        ),
    ),
    Option(
        "conn_id",
        "string",
        default="airbyte_default",
        example="airbyte_default",
        version_added="0.1.0",
        description=(
            "Airflow Connection to Airbyte (the same `airbyte` connection the Airbyte provider's operators use)."
        ),
    ),
    Option(
        "workspace_id",
        "string",
        default="",
        example="b5f5e0a4-1c77-4a5e-9a3e-4f0f5e8a2b11",
        version_added="0.1.0",
        description=(
            "Airbyte workspace sent with every create and update. Empty: the connection's extra `workspace_id`, else "
            "the instance's only workspace. An update of a custom definition goes with the workspace that owns it "
            "instead (tried first: this one)."
        ),
    ),
    Option(
        "read_timeout",
        "float",
        default="30",
        example="30",
        version_added="0.1.0",
        above=0,
        description=(
            "Seconds Airbyte has to answer a read (list, get) in full: connecting, waiting and every byte of the "
            "answer. Reads are retried with backoff, within twice this time in all."
        ),
    ),
    Option(
        "write_timeout",
        "float",
        default="1200",
        example="1200",
        version_added="0.1.0",
        above=0,
        description=(
            "Seconds Airbyte has to answer a create or update in full. Airbyte pulls the image to read its spec "
            "during the call, which can take minutes. Writes are never retried blindly: one not answered in time is "
            "checked in Airbyte instead."
        ),
    ),
    Option(
        "max_response_mb",
        "integer",
        default="64",
        example="256",
        version_added="0.3.0",
        minimum=1,
        description=(
            "Megabytes an answer of Airbyte may hold (read as it arrives; a larger one is an error naming the call, "
            "and a write answered so is checked, not resent). Airbyte's whole source definition list is under 1 MB."
        ),
    ),
    Option(
        "max_writes",
        "integer",
        default="50",
        example="50",
        version_added="0.1.0",
        minimum=0,
        description=(
            "Safety limit: a plan with more creates and updates than this fails in prepare, before any write, unless "
            "raised here or in the trigger form."
        ),
    ),
    Option(
        "task_retries",
        "integer",
        default="3",
        example="3",
        version_added="0.1.0",
        minimum=0,
        description=(
            "Retries of each create/update task. Safe: every attempt re-reads Airbyte first and never repeats a write"
            " that already happened."
        ),
    ),
    Option(
        "task_retry_delay",
        "float",
        default="60",
        example="60",
        version_added="0.1.0",
        minimum=0,
        description=("Seconds between those retries."),
    ),
    Option(
        "prepare_timeout",
        "float",
        default="1800",
        example="3600",
        version_added="0.3.0",
        above=0,
        description=(
            "Seconds the prepare task may run (execution_timeout): reading basic_config, Airbyte, the registry and "
            "the image check. A run stuck there fails instead of blocking later runs (one run at a time)."
        ),
    ),
    Option(
        "apply_timeout",
        "float",
        default="",
        example="4500",
        version_added="0.3.0",
        above=0,
        description=(
            "Seconds each create/update task (apply, apply_approved) may run per try (execution_timeout). Empty: "
            "a whole write plus a minute (4272 s with the default timeouts). A value that cannot "
            "hold a whole write (its reads, on Airbyte 2.1 and later the image's SPEC within write_timeout, the write "
            "within twice write_timeout, and the looks after a lost "
            "answer, from read_timeout and write_timeout) is refused: the write's own deadlines must end first, "
            "so a write whose answer is lost is checked, never cut short and sent again blindly."
        ),
    ),
    Option(
        "report_timeout",
        "float",
        default="600",
        example="600",
        version_added="0.3.0",
        above=0,
        description=("Seconds the publish_changes and report tasks may each run (execution_timeout)."),
    ),
    Option(
        "max_active_writes",
        "integer",
        default="4",
        example="4",
        version_added="0.1.0",
        minimum=1,
        description=("How many create/update tasks of one DAG run may run at once (each starts a job in Airbyte)."),
    ),
    Option(
        "reconcile_schedule",
        "cron",
        default="",
        example="0 * * * *",
        version_added="0.2.0",
        description=(
            "Cron expression. When set, create_connectors also runs on this schedule (besides the basic_config "
            "Asset), so a change made in Airbyte behind the config's back is put back within the interval. Empty: "
            "only when basic_config is published."
        ),
    ),
    Option(
        "promotion_schedule",
        "cron",
        default="@hourly",
        example="*/15 * * * *",
        version_added="0.4.0",
        description=(
            "Cron expression or preset. When basic_config names a gate (an environment with promoteFrom), "
            "create_connectors also runs on this schedule, so a version whose soak ends in staging reaches prod "
            "without a person. The DAG file looks for the word promoteFrom in basic_config_path as it is parsed (a "
            "text search, no YAML parse); without it, this setting does nothing. Empty: only when basic_config is "
            "published (or reconcile_schedule)."
        ),
    ),
    Option(
        "upgrades_schedule",
        "cron",
        default="@weekly",
        example="0 6 * * 1",
        version_added="0.3.0",
        description=(
            "Cron expression or preset on which the connector_upgrades DAG proposes version upgrades (it never "
            "writes to Airbyte). Empty: only when triggered."
        ),
    ),
    Option(
        "check_images",
        "boolean",
        default="True",
        example="False",
        version_added="0.2.0",
        description=(
            "Before writing, check that each image tag to create or update exists in its registry (Docker Registry "
            "HTTP API v2); a missing tag is never sent to Airbyte. Turn off where registries are unreachable (air-"
            "gapped)."
        ),
    ),
    Option(
        "docker_hub_url",
        "string",
        default="https://registry-1.docker.io",
        example="https://mirror.example.com",
        version_added="0.2.0",
        description=(
            "Docker Hub's registry API used by the image check, or a mirror of it (images named like airbyte/source-x"
            " live on Docker Hub). Other registries are asked at the host their image names."
        ),
    ),
    Option(
        "registry_url",
        "string",
        default="https://connectors.airbyte.com/files/registries/v0/oss_registry.json",
        example="file:///opt/airflow/configs/oss_registry.json",
        version_added="0.2.0",
        description=(
            "Airbyte's connector registry, read once per run for the breaking changes of each updated connector: an "
            "http(s) URL, a file:// URI or a path (an air-gapped mirror). Empty: off (no breaking-change data; "
            "downgrades are still held)."
        ),
    ),
    Option(
        "platform_compatibility_url",
        "string",
        default="https://connectors.airbyte.com/files/platform/v0/platform-compatibility.json",
        example="file:///opt/airflow/configs/platform-compatibility.json",
        version_added="0.3.0",
        description=(
            "Airbyte's platform-compatibility matrix, read once per run when a definition is updated: an http(s) "
            "URL, a file:// URI or a path. An update this Airbyte would refuse (a blocked version, or one its "
            "version does not support) is blocked in the plan and not sent. Unreadable: a finding, and the "
            "updates go ahead (as Airbyte's own check does). Also read by outdated, bump and connector_upgrades "
            "when Airbyte's version is known (a connection, or --airbyte-version): they never propose such a "
            "version (unreadable: a note, and the proposals go unchecked). Empty: off."
        ),
    ),
    Option(
        "hold_changes",
        "list",
        default="breaking,downgrade",
        example="breaking,downgrade,major",
        version_added="0.2.0",
        allowed=VERSION_CLASSES,
        description=(
            "Comma-separated version classes whose updates are held (not written) until a run is triggered with "
            "apply_held: breaking, downgrade, major, minor, patch, prerelease, unknown. Empty: hold nothing. Creates "
            "are never held."
        ),
    ),
    Option(
        "approval",
        "choice",
        default="never",
        example="held",
        version_added="0.2.0",
        allowed=get_args(ApprovalMode),
        description=(
            "When a run waits for a person in Airflow (Human-in-the-loop approval): never (default; airflow dags test"
            " never waits), held (a plan with held changes waits for them, safe changes are applied at once) or "
            "always (every plan that writes waits before its first write)."
        ),
    ),
    Option(
        "approval_timeout",
        "float",
        default="86400",
        example="3600",
        version_added="0.2.0",
        above=0,
        description=(
            "Seconds to wait for an answer; no answer by then counts as Reject, so a forgotten approval cannot block "
            "later runs (one run at a time)."
        ),
    ),
    Option(
        "approval_users",
        "list",
        default="",
        example="alice,bob",
        version_added="0.2.0",
        description=(
            "Comma-separated Airflow user ids allowed to answer an approval (enforced by auth managers with real "
            "users). Empty: anyone allowed to act on the DAG."
        ),
    ),
    Option(
        "max_writes_limit",
        "integer",
        default="1000",
        example="1000",
        version_added="0.3.0",
        minimum=0,
        description=(
            "Ceiling of the max_writes trigger Param: nobody who may trigger a run can allow more writes than this. "
            "Held changes count toward max_writes too."
        ),
    ),
    Option(
        "create_settle_window",
        "float",
        default="",
        example="2100",
        version_added="0.3.0",
        minimum=0,
        description=(
            "Seconds a create whose outcome is unknown (answer 5xx, timed out, cut off, or the task ended while it "
            "was on the wire) is not sent again, by a retry or a later run, unless Airbyte shows it: Airbyte may "
            "still be committing it. Counted from when the create was sent. Empty: write_timeout plus 15 minutes. "
            "A window shorter than write_timeout is refused: a create may take that long. Shown in the plan as "
            "'create pending since'."
        ),
    ),
    Option(
        "image_check_timeout",
        "float",
        default="5",
        example="5",
        version_added="0.2.0",
        above=0,
        description=("Seconds to wait for an image registry's answer during that check."),
    ),
    Option(
        "image_token_hosts",
        "list",
        default="auth.docker.io",
        example="auth.docker.io,auth.mirror.example.com",
        version_added="0.2.0",
        description=(
            "Comma-separated hosts whose token service an image registry may send the image check to, besides the "
            "registry's own host (Docker Hub's registry sends it to auth.docker.io). A token service elsewhere is not"
            " asked and the image counts as unknown."
        ),
    ),
    Option(
        "max_release_date_reads",
        "integer",
        default="2000",
        example="2000",
        version_added="0.3.0",
        minimum=0,
        description=(
            "Release dates (image manifest and config reads, three requests each) outdated and bump read at most per "
            "run, for minimumReleaseAge cooldowns. Past it the definitions still waiting for a date are unread and the"
            " command exits 1. Docker Hub counts anonymous manifest reads against its pull rate limit."
        ),
    ),
)
OPTION: dict[str, Option] = {option.key: option for option in OPTIONS}


def provider_config() -> dict[str, dict[str, object]]:
    """The provider's ``config`` section: this table in the shape of Airflow's provider_info schema."""
    options = {option.key: option.provider_entry() for option in OPTIONS}
    return {SECTION: {"description": SECTION_DESCRIPTION, "options": options}}


def markdown() -> str:
    """docs/settings.md: every option with its type, default, allowed values and environment variable."""
    lines = [
        "# Settings",
        "",
        "<!-- Generated from airflow_airbyte_connectors/settings_options.py by",
        "     python -m airflow_airbyte_connectors.settings_options > docs/settings.md -->",
        "",
        SECTION_DESCRIPTION,
        "",
        f"Set them in the `[{SECTION}]` section of `airflow.cfg` or as environment variables",
        f"`AIRFLOW__{SECTION.upper()}__<KEY>` (which win); `airflow config list --section {SECTION} --show-values`",
        "shows the values in effect (without `--show-values` Airflow lists the keys only). A value that is not valid",
        "fails the run in `prepare`, naming the key, the value and what is allowed. While the DAG file is parsed, the",
        "default stands in for it and the dag-processor logs one warning starting `invalid settings:`.",
        "",
        "| Key | Type | Default |",
        "| --- | --- | --- |",
    ]
    lines += [f"| [`{o.key}`](#{o.key}) | {o.type} | {_code(o.default)} |" for o in OPTIONS]
    for option in OPTIONS:
        lines += [
            "",
            f"## {option.key}",
            "",
            option.description,
            "",
            f"- Allowed: {option.expected}",
            f"- Default: {_code(option.default)}",
            f"- Example: {_code(option.example)}",
            f"- Environment variable: `{option.env_var}`",
            f"- Since: {option.version_added}",
        ]
    return "\n".join(lines) + "\n"


def _code(value: str) -> str:
    return f"`{value}`" if value else "empty"


if __name__ == "__main__":
    sys.stdout.write(markdown())
