"""Provider metadata read by Airflow's ProvidersManager (entry point ``apache_airflow_provider``)."""

from __future__ import annotations

from typing import Any

from airflow_airbyte_connectors import __version__


def get_provider_info() -> dict[str, Any]:
    return {
        "package-name": "airflow-airbyte-connectors",
        "name": "Airbyte connector definitions",
        "description": "Keeps Airbyte's source and destination connector definitions in step with basic_config.",
        "versions": [__version__],
        "hooks": [
            {
                "integration-name": "Airbyte",
                "python-modules": ["airflow_airbyte_connectors.hooks.airbyte_definitions"],
            }
        ],
        "operators": [
            {
                "integration-name": "Airbyte",
                "python-modules": ["airflow_airbyte_connectors.operators.airbyte_definition"],
            }
        ],
        # No "connection-types": apache-airflow-providers-airbyte registers the `airbyte` type and
        # this package uses the same Connection.
        "config": {
            "airbyte_connectors": {
                "description": "Settings of the create_connectors DAG and AirbyteDefinitionOperator.",
                "options": {
                    "basic_config_path": {
                        "description": "Path of the basic_config YAML file written by template_configs. "
                        "Its file:// URI is the Asset that schedules create_connectors.",
                        "version_added": "0.1.0",
                        "type": "string",
                        "example": "/opt/airflow/configs/basic_config.yaml",
                        "default": "{AIRFLOW_HOME}/configs/basic_config.yaml",
                    },
                    "conn_id": {
                        "description": "Airflow Connection to Airbyte (the same `airbyte` connection the "
                        "Airbyte provider's operators use).",
                        "version_added": "0.1.0",
                        "type": "string",
                        "example": "airbyte_default",
                        "default": "airbyte_default",
                    },
                    "workspace_id": {
                        "description": "Airbyte workspace sent with every create and update. Empty: the "
                        "connection's extra `workspace_id`, else the instance's only workspace.",
                        "version_added": "0.1.0",
                        "type": "string",
                        "example": "b5f5e0a4-1c77-4a5e-9a3e-4f0f5e8a2b11",
                        "default": "",
                    },
                    "read_timeout": {
                        "description": "Seconds Airbyte has to answer a read (list, get) in full: connecting, "
                        "waiting and every byte of the answer. Reads are retried with backoff, within twice this "
                        "time in all.",
                        "version_added": "0.1.0",
                        "type": "float",
                        "example": "30",
                        "default": "30",
                    },
                    "write_timeout": {
                        "description": "Seconds Airbyte has to answer a create or update in full. Airbyte "
                        "pulls the image to read its spec during the call, which can take minutes. Writes "
                        "are never retried blindly: one not answered in time is checked in Airbyte instead.",
                        "version_added": "0.1.0",
                        "type": "float",
                        "example": "1200",
                        "default": "1200",
                    },
                    "max_response_mb": {
                        "description": "Megabytes an answer of Airbyte may hold (read as it arrives; a larger "
                        "one is an error naming the call, and a write answered so is checked, not resent). Airbyte's "
                        "whole source definition list is under 1 MB.",
                        "version_added": "0.3.0",
                        "type": "integer",
                        "example": "256",
                        "default": "64",
                    },
                    "max_writes": {
                        "description": "Safety limit: a plan with more creates and updates than this fails "
                        "in prepare, before any write, unless raised here or in the trigger form.",
                        "version_added": "0.1.0",
                        "type": "integer",
                        "example": "50",
                        "default": "50",
                    },
                    "task_retries": {
                        "description": "Retries of each create/update task. Safe: every attempt re-reads "
                        "Airbyte first and never repeats a write that already happened.",
                        "version_added": "0.1.0",
                        "type": "integer",
                        "example": "3",
                        "default": "3",
                    },
                    "task_retry_delay": {
                        "description": "Seconds between those retries.",
                        "version_added": "0.1.0",
                        "type": "float",
                        "example": "60",
                        "default": "60",
                    },
                    "prepare_timeout": {
                        "description": "Seconds the prepare task may run (execution_timeout): reading basic_config, "
                        "Airbyte, the registry and the image check. A run stuck there fails instead of blocking later "
                        "runs (one run at a time).",
                        "version_added": "0.3.0",
                        "type": "float",
                        "example": "3600",
                        "default": "1800",
                    },
                    "apply_timeout": {
                        "description": "Seconds each create/update task (apply, apply_approved) may run per try "
                        "(execution_timeout). Empty: three times write_timeout. Keep it above twice write_timeout: "
                        "the write's own deadline must end first, so a write whose answer is lost is checked, never "
                        "sent again blindly.",
                        "version_added": "0.3.0",
                        "type": "float",
                        "example": "3600",
                        "default": "",
                    },
                    "report_timeout": {
                        "description": "Seconds the publish_changes and report tasks may each run (execution_timeout).",
                        "version_added": "0.3.0",
                        "type": "float",
                        "example": "600",
                        "default": "600",
                    },
                    "max_active_writes": {
                        "description": "How many create/update tasks of one DAG run may run at once "
                        "(each starts a job in Airbyte).",
                        "version_added": "0.1.0",
                        "type": "integer",
                        "example": "4",
                        "default": "4",
                    },
                    "reconcile_schedule": {
                        "description": "Cron expression. When set, create_connectors also runs on this schedule "
                        "(besides the basic_config Asset), so a change made in Airbyte behind the config's back is "
                        "put back within the interval. Empty: only when basic_config is published.",
                        "version_added": "0.2.0",
                        "type": "string",
                        "example": "0 * * * *",
                        "default": "",
                    },
                    "check_images": {
                        "description": "Before writing, check that each image tag to create or update exists in "
                        "its registry (Docker Registry HTTP API v2); a missing tag is never sent to Airbyte. "
                        "Turn off where registries are unreachable (air-gapped).",
                        "version_added": "0.2.0",
                        "type": "boolean",
                        "example": "False",
                        "default": "True",
                    },
                    "docker_hub_url": {
                        "description": "Docker Hub's registry API used by the image check, or a mirror of it "
                        "(images named like airbyte/source-x live on Docker Hub). Other registries are asked at "
                        "the host their image names.",
                        "version_added": "0.2.0",
                        "type": "string",
                        "example": "https://mirror.example.com",
                        "default": "https://registry-1.docker.io",
                    },
                    "registry_url": {
                        "description": "Airbyte's connector registry, read once per run for the breaking changes "
                        "of each updated connector: an http(s) URL, a file:// URI or a path (an air-gapped mirror). "
                        "Empty: off (no breaking-change data; downgrades are still held).",
                        "version_added": "0.2.0",
                        "type": "string",
                        "example": "file:///opt/airflow/configs/oss_registry.json",
                        "default": "https://connectors.airbyte.com/files/registries/v0/oss_registry.json",
                    },
                    "hold_changes": {
                        "description": "Comma-separated version classes whose updates are held (not written) until "
                        "a run is triggered with apply_held: breaking, downgrade, major, minor, patch, prerelease, "
                        "unknown. Empty: hold nothing. Creates are never held.",
                        "version_added": "0.2.0",
                        "type": "string",
                        "example": "breaking,downgrade,major",
                        "default": "breaking,downgrade",
                    },
                    "approval": {
                        "description": "When a run waits for a person in Airflow (Human-in-the-loop approval): "
                        "never (default; airflow dags test never waits), held (a plan with held changes waits "
                        "for them, safe changes are applied at once) or always (every plan that writes waits "
                        "before its first write).",
                        "version_added": "0.2.0",
                        "type": "string",
                        "example": "held",
                        "default": "never",
                    },
                    "approval_timeout": {
                        "description": "Seconds to wait for an answer; no answer by then counts as Reject, so a "
                        "forgotten approval cannot block later runs (one run at a time).",
                        "version_added": "0.2.0",
                        "type": "float",
                        "example": "3600",
                        "default": "86400",
                    },
                    "approval_users": {
                        "description": "Comma-separated Airflow user ids allowed to answer an approval (enforced "
                        "by auth managers with real users). Empty: anyone allowed to act on the DAG.",
                        "version_added": "0.2.0",
                        "type": "string",
                        "example": "alice,bob",
                        "default": "",
                    },
                    "max_writes_limit": {
                        "description": "Ceiling of the max_writes trigger Param: nobody who may trigger a run "
                        "can allow more writes than this. Held changes count toward max_writes too.",
                        "version_added": "0.3.0",
                        "type": "integer",
                        "example": "1000",
                        "default": "1000",
                    },
                    "create_settle_window": {
                        "description": "Seconds a create whose outcome is unknown (answer 502/503/504, timed out "
                        "or cut off) is not sent again, by a retry or a later run, unless Airbyte shows it: "
                        "Airbyte may still be committing it. Shown in the plan as 'create pending since'.",
                        "version_added": "0.3.0",
                        "type": "float",
                        "example": "900",
                        "default": "900",
                    },
                    "image_check_timeout": {
                        "description": "Seconds to wait for an image registry's answer during that check.",
                        "version_added": "0.2.0",
                        "type": "float",
                        "example": "5",
                        "default": "5",
                    },
                    "image_token_hosts": {
                        "description": "Comma-separated hosts whose token service an image registry may send the "
                        "image check to, besides the registry's own host (Docker Hub's registry sends it to "
                        "auth.docker.io). A token service elsewhere is not asked and the image counts as unknown.",
                        "version_added": "0.2.0",
                        "type": "string",
                        "example": "auth.docker.io,auth.mirror.example.com",
                        "default": "auth.docker.io",
                    },
                },
            }
        },
    }
