"""The ``[airbyte_connectors]`` section of Airflow's configuration, read when needed (never at import)."""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlsplit

SECTION = "airbyte_connectors"
# create_connectors announces what it changed through this alias, as an event of the Asset that names the
# Airbyte instance (see definitions_asset_uri).
DEFINITIONS_ASSET_ALIAS = "airbyte_connector_definitions"
DEFAULTS = {
    "basic_config_path": "{AIRFLOW_HOME}/configs/basic_config.yaml",
    "conn_id": "airbyte_default",
    "workspace_id": "",
    "read_timeout": "30",
    "write_timeout": "1200",
    "max_response_mb": "64",
    "max_writes": "50",
    "task_retries": "3",
    "task_retry_delay": "60",
    "prepare_timeout": "1800",
    "apply_timeout": "",
    "report_timeout": "600",
    "max_active_writes": "4",
    "reconcile_schedule": "",
    "check_images": "True",
    "image_check_timeout": "5",
    "image_token_hosts": "auth.docker.io",
    "docker_hub_url": "https://registry-1.docker.io",
    "registry_url": "https://connectors.airbyte.com/files/registries/v0/oss_registry.json",
    "hold_changes": "breaking,downgrade",
    "approval": "never",
    "approval_timeout": "86400",
    "approval_users": "",
    "max_writes_limit": "1000",
    "create_settle_window": "900",
}
APPROVAL_MODES = ("never", "held", "always")


def get(key: str) -> str:
    """Value of ``[airbyte_connectors] key`` (env ``AIRFLOW__AIRBYTE_CONNECTORS__KEY`` wins)."""
    from airflow.configuration import conf

    return conf.get(SECTION, key, fallback=DEFAULTS[key])


def basic_config_path() -> Path:
    airflow_home = os.environ.get("AIRFLOW_HOME") or str(Path("~/airflow").expanduser())
    return Path(get("basic_config_path").replace("{AIRFLOW_HOME}", airflow_home)).expanduser()


def basic_config_asset_uri() -> str:
    """URI of the Asset that ``template_configs`` emits and ``create_connectors`` is scheduled on."""
    return basic_config_path().absolute().as_uri()


def conn_id() -> str:
    return get("conn_id") or DEFAULTS["conn_id"]


def workspace_id() -> str | None:
    return get("workspace_id").strip() or None


def read_timeout() -> float:
    return float(get("read_timeout"))


def write_timeout() -> float:
    return float(get("write_timeout"))


def max_response_bytes() -> int:
    """The most an answer of Airbyte may hold; a larger one is not read."""
    return int(float(get("max_response_mb")) * 1024 * 1024)


def prepare_timeout() -> float:
    return float(get("prepare_timeout"))


def apply_timeout() -> float:
    """Of each create/update task. Empty: three times ``write_timeout``, so the write's own deadline (within
    twice ``write_timeout``, retries included) always ends first and a lost answer is checked, not resent."""
    value = get("apply_timeout").strip()
    return float(value) if value else 3 * write_timeout()


def report_timeout() -> float:
    return float(get("report_timeout"))


def max_active_writes() -> int:
    return int(get("max_active_writes"))


def max_writes() -> int:
    return int(get("max_writes"))


def task_retries() -> int:
    return int(get("task_retries"))


def task_retry_delay() -> float:
    return float(get("task_retry_delay"))


def reconcile_schedule() -> str | None:
    """Cron expression for periodic runs besides the basic_config Asset; None when unset."""
    return get("reconcile_schedule").strip() or None


def check_images() -> bool:
    return get("check_images").strip().lower() in ("true", "1", "yes", "on")


def image_check_timeout() -> float:
    return float(get("image_check_timeout"))


def image_token_hosts() -> list[str]:
    """Hosts whose token service a registry may send the image check to (besides the registry's own host)."""
    return _comma_list("image_token_hosts")


def docker_hub_url() -> str:
    """Docker Hub's registry API, or a mirror of it, for the image check."""
    return get("docker_hub_url").strip().rstrip("/") or DEFAULTS["docker_hub_url"]


def definitions_asset_uri(airbyte_root_url: str) -> str:
    """``airbyte://<host>:<port>[/<path>]/connector-definitions``: the Asset naming one Airbyte's definitions."""
    parts = urlsplit(airbyte_root_url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return f"airbyte://{parts.hostname}:{port}{parts.path.rstrip('/')}/connector-definitions"


def registry_url() -> str | None:
    """Airbyte's connector registry (URL, ``file://`` URI or path) for breaking changes; None when off."""
    return get("registry_url").strip() or None


def _comma_list(key: str) -> list[str]:
    return [item.strip() for item in get(key).split(",") if item.strip()]


def hold_changes() -> frozenset[str]:
    """Version classes whose updates wait for a person (``apply_held``) instead of being written."""
    from airflow_airbyte_connectors.versions import VERSION_CLASSES  # read in prepare, not at parse time

    classes = {c.lower() for c in _comma_list("hold_changes")}
    unknown = classes - set(VERSION_CLASSES)
    if unknown:
        raise ValueError(
            f"[airbyte_connectors] hold_changes: {', '.join(sorted(unknown))} is not a version class "
            f"(choose from {', '.join(VERSION_CLASSES)}, comma-separated, or leave it empty)"
        )
    return frozenset(classes)


def approval() -> str:
    """When a run waits for a person: ``never``, ``held`` (plans with held changes) or ``always`` (every plan
    that writes)."""
    mode = get("approval").strip().lower() or "never"
    if mode not in APPROVAL_MODES:
        raise ValueError(f"[airbyte_connectors] approval: {mode!r} is not one of {', '.join(APPROVAL_MODES)}")
    return mode


def approval_timeout() -> float:
    """Seconds a run waits for an answer; no answer by then counts as Reject."""
    return float(get("approval_timeout"))


def approval_users() -> list[str]:
    """Airflow user ids allowed to answer (empty: anyone who may act on the DAG)."""
    return _comma_list("approval_users")


def max_writes_limit() -> int:
    """The ceiling of the ``max_writes`` Param (held changes count toward it)."""
    return int(get("max_writes_limit"))


def create_settle_window() -> float:
    """Seconds a create with an unknown outcome is not sent again unless Airbyte shows it."""
    return float(get("create_settle_window"))
