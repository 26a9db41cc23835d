"""What can be checked of docker-compose.yaml and the Dockerfile without a Docker engine."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from airflow_airbyte_connectors.get_provider_info import get_provider_info
from tests.services.production_stack import BROKER_SCHEME, DATABASE_SCHEME, RESULT_BACKEND_SCHEME
from tests.support import REPO_ROOT

COMPOSE = yaml.safe_load((REPO_ROOT / "docker-compose.yaml").read_text())
SERVICES = COMPOSE["services"]
AIRFLOW_SERVICES = [
    "airflow-apiserver",
    "airflow-scheduler",
    "airflow-dag-processor",
    "airflow-worker",
    "airflow-triggerer",
    "airflow-init",
]


def test_services_and_profiles_are_as_documented():
    assert set(SERVICES) == {"postgres", "redis", "airbyte-emulator", *AIRFLOW_SERVICES}
    profiled = {name: service.get("profiles") for name, service in SERVICES.items() if service.get("profiles")}
    assert profiled == {"airbyte-emulator": ["demo"]}
    readme = (REPO_ROOT / "README.md").read_text()
    assert "docker compose up" in readme and "docker compose --profile demo up" in readme


def test_database_and_celery_urls_name_the_drivers_of_the_topology_run_natively():
    # tests/services/test_celery.py runs this topology for real, with these schemes.
    env = COMPOSE["x-airflow-common"]["environment"]
    schemes = {
        name: env[f"AIRFLOW__{name}"].split("://")[0]
        for name in ("DATABASE__SQL_ALCHEMY_CONN", "CELERY__RESULT_BACKEND", "CELERY__BROKER_URL")
    }
    assert schemes == {
        "DATABASE__SQL_ALCHEMY_CONN": DATABASE_SCHEME,
        "CELERY__RESULT_BACKEND": RESULT_BACKEND_SCHEME,
        "CELERY__BROKER_URL": BROKER_SCHEME,
    }


def test_airflow_image_is_built_here_and_installs_the_package():
    for name in AIRFLOW_SERVICES + ["airbyte-emulator"]:
        context = REPO_ROOT / SERVICES[name].get("build", ".")
        assert (context / "Dockerfile").is_file(), name
    dockerfile = (REPO_ROOT / "Dockerfile").read_text()
    assert re.search(r"^FROM apache/airflow:3\.3\.2$", dockerfile, re.MULTILINE)
    for copied in re.findall(r"^COPY (?:--\S+ )*(.+) \S+$", dockerfile, re.MULTILINE):
        for source in copied.split():
            assert (REPO_ROOT / source).exists(), source
    assert "pip install" in dockerfile and "/opt/airflow-airbyte-connectors" in dockerfile


@pytest.mark.parametrize("name", AIRFLOW_SERVICES)
def test_mounted_folders_exist(name):
    for volume in SERVICES[name].get("volumes", []):
        host, _, container = volume.partition(":")
        if host.startswith("./"):
            assert (REPO_ROOT / host).is_dir(), volume
    assert (REPO_ROOT / "configs" / "basic_config.yaml").is_file()


def test_config_path_and_connection_agree_with_the_provider():
    env = SERVICES["airflow-scheduler"]["environment"]
    configured = env["AIRFLOW__AIRBYTE_CONNECTORS__BASIC_CONFIG_PATH"]
    mounts = {v.split(":")[1]: v.split(":")[0] for v in SERVICES["airflow-scheduler"]["volumes"]}
    assert configured == "/opt/airflow/configs/basic_config.yaml" and mounts["/opt/airflow/configs"] == "./configs"
    default = get_provider_info()["config"]["airbyte_connectors"]["options"]["basic_config_path"]["default"]
    assert default.replace("{AIRFLOW_HOME}", "/opt/airflow") == configured  # the image's AIRFLOW_HOME

    connection = env["AIRFLOW_CONN_AIRBYTE_DEFAULT"]
    fallback = re.fullmatch(r"\$\{AIRBYTE_CONN:-(.*)\}", connection).group(1)
    assert json.loads(fallback) == {"conn_type": "airbyte", "host": "http://host.docker.internal:8000"}
    assert "host.docker.internal:host-gateway" in SERVICES["airflow-worker"]["extra_hosts"]


def test_demo_emulator_listens_on_the_compose_network_where_the_demo_connection_looks():
    emulator = SERVICES["airbyte-emulator"]
    assert emulator["entrypoint"][-1] == "airflow_airbyte_connectors.testing"
    assert emulator["expose"] == ["8000"]
    command = emulator["command"]
    # 0.0.0.0 inside its container: the compose network, not the host (it publishes no port).
    assert command[command.index("--host") + 1] == "0.0.0.0" and command[command.index("--port") + 1] == "8000"
    demo_connection = '{"conn_type":"airbyte","host":"http://airbyte-emulator:8000"}'
    compose_text = (REPO_ROOT / "docker-compose.yaml").read_text()
    readme = (REPO_ROOT / "README.md").read_text()
    assert f"AIRBYTE_CONN='{demo_connection}' docker compose --profile demo up" in compose_text
    assert f"AIRBYTE_CONN='{demo_connection}' docker compose --profile demo up" in readme


def test_nothing_is_published_beyond_this_machine():
    # The demo emulator takes any request without a login; the UI is reached through a proxy if shared.
    published = {name: service.get("ports", []) for name, service in SERVICES.items()}
    assert published["airbyte-emulator"] == []
    for name, ports in published.items():
        for port in ports:
            assert str(port).startswith("127.0.0.1:"), (name, port)


SECRET_SETTINGS = {
    "AIRFLOW__API_AUTH__JWT_SECRET": "/opt/airflow/auth/jwt_secret",
    "AIRFLOW__API__SECRET_KEY": "/opt/airflow/auth/api_secret_key",
    "AIRFLOW__CORE__FERNET_KEY": "/opt/airflow/auth/fernet_key",
}


def environment(name: str) -> dict[str, str]:
    return {key: str(value) for key, value in (SERVICES[name].get("environment") or {}).items()}


@pytest.mark.parametrize("name", AIRFLOW_SERVICES)
def test_no_secret_or_key_has_a_value_or_default_in_the_file(name):
    # A default (`${AIRFLOW_JWT_SECRET:-change-me}`) or an empty Fernet key is the same in every install.
    env = environment(name)
    for setting in SECRET_SETTINGS:
        assert setting not in env, f"{name}: {setting}={env[setting]!r}"
        assert f"{setting}_SECRET" not in env, name


@pytest.mark.parametrize("name", AIRFLOW_SERVICES)
def test_every_service_reads_the_same_secrets_from_the_shared_volume(name):
    env = environment(name)
    mounts = [volume.split(":")[1] for volume in SERVICES[name]["volumes"]]
    for setting, path in SECRET_SETTINGS.items():
        assert env[f"{setting}_CMD"] == f"cat {path}", name
        assert any(path.startswith(mount + "/") for mount in mounts), (name, path)
    assert "airflow-auth:/opt/airflow/auth" in SERVICES[name]["volumes"]


def generation_lines() -> list[str]:
    """airflow-init's lines that create a secret file when there is none yet."""
    script = SERVICES["airflow-init"]["command"][-1]
    return [line for line in script.splitlines() if line.startswith("[ -s /opt/airflow/auth/")]


def test_airflow_init_generates_each_secret_once_before_airflow_starts():
    script = SERVICES["airflow-init"]["command"][-1]
    lines = generation_lines()
    assert {re.search(r"> (\S+)$", line).group(1) for line in lines} == set(SECRET_SETTINGS.values())
    # Written under umask 077, before the files change hands and before the first airflow command.
    assert script.index("umask 077") < script.index(lines[0]) < script.index("chown -R") < script.index("airflow db")
    for name in AIRFLOW_SERVICES[:-1]:
        assert SERVICES[name]["depends_on"]["airflow-init"]["condition"] == "service_completed_successfully"


def test_generated_secrets_are_what_airflow_reads_and_survive_a_restart(tmp_path, monkeypatch):
    """airflow-init's lines, run in a temporary folder: Airflow reads the files through the *_CMD settings."""
    import subprocess
    import sys

    from airflow.configuration import conf
    from cryptography.fernet import Fernet

    def run_init() -> dict[str, str]:
        script = "\n".join(["umask 077", *generation_lines()]).replace("/opt/airflow/auth", str(tmp_path))
        env = {"PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin"}
        subprocess.run(["bash", "-euc", script], check=True, env=env, timeout=60)
        return {path.name: path.read_text() for path in tmp_path.iterdir()}

    first = run_init()
    assert run_init() == first  # a restart keeps them: tokens and encrypted values stay valid
    assert {oct(path.stat().st_mode & 0o777) for path in tmp_path.iterdir()} == {"0o600"}
    for setting, path in SECRET_SETTINGS.items():
        monkeypatch.setenv(f"{setting}_CMD", f"cat {tmp_path / Path(path).name}")
    values = {
        "jwt_secret": conf.get("api_auth", "jwt_secret"),
        "api_secret_key": conf.get("api", "secret_key"),
        "fernet_key": conf.get("core", "fernet_key"),
    }
    assert values == first
    assert len(values["jwt_secret"]) >= 64 and values["jwt_secret"] != values["api_secret_key"]
    assert Fernet(values["fernet_key"]).decrypt(Fernet(values["fernet_key"]).encrypt(b"x")) == b"x"


def test_airflow_reads_these_secrets_through_cmd():
    # Airflow runs a *_CMD only for the settings it declares sensitive.
    from airflow.configuration import conf

    assert {("api_auth", "jwt_secret"), ("api", "secret_key"), ("core", "fernet_key")} <= conf.sensitive_config_values


def test_demo_emulator_is_seeded_so_the_first_run_has_work():
    # Parsed by the emulator's own command line and seeded (not started): no Docker engine needed.
    from airflow_airbyte_connectors.config.configs import get_configs
    from airflow_airbyte_connectors.testing.__main__ import build_emulator, build_parser

    command = SERVICES["airbyte-emulator"]["command"]
    args = build_parser().parse_args(command)
    assert args.seed == "builtin" and args.set_tag
    emulator = build_emulator(args)
    config = get_configs("connectors", path=REPO_ROOT / "configs" / "basic_config.yaml")
    older, missing = [], []
    for kind, wanted in (("source", config.source_definitions), ("destination", config.destination_definitions)):
        seeded = {d["dockerRepository"]: d["dockerImageTag"] for d in emulator.definitions(kind)}
        for entry in wanted:
            if entry.docker_repository not in seeded:
                missing.append(entry.name)
            elif seeded[entry.docker_repository] != entry.docker_image_tag:
                older.append(entry.name)
    assert older and missing, (older, missing)


def test_example_config_is_valid():
    from airflow_airbyte_connectors.config.configs import get_configs

    config = get_configs("connectors", path=REPO_ROOT / "configs" / "basic_config.yaml")
    assert config.source_definitions and config.destination_definitions
    assert (REPO_ROOT / "configs" / "basic_config.yaml").read_text() == (
        REPO_ROOT / "examples" / "basic_config.yaml"
    ).read_text()


def test_ui_is_published_on_loopback_only_and_needs_a_login_by_default():
    (published,) = SERVICES["airflow-apiserver"]["ports"]
    assert published.startswith("127.0.0.1:")
    env = SERVICES["airflow-apiserver"]["environment"]
    # No-login is an explicit choice; the default is a login with users and passwords from the environment.
    assert env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS"] == "${AIRFLOW_NO_LOGIN:-false}"
    assert env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS"].startswith("${AIRFLOW_USERS")
    passwords = env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"]
    for name in AIRFLOW_SERVICES:
        assert any(v.endswith(":/opt/airflow/auth") for v in SERVICES[name]["volumes"]), name
    init = SERVICES["airflow-init"]
    assert "AIRFLOW_PASSWORDS" in init["environment"] and passwords in " ".join(init["command"])


def test_approval_settings_are_offered_in_comments():
    text = (REPO_ROOT / "docker-compose.yaml").read_text()
    for key in ("APPROVAL", "APPROVAL_TIMEOUT", "APPROVAL_USERS"):
        assert f"# AIRFLOW__AIRBYTE_CONNECTORS__{key}:" in text
    options = get_provider_info()["config"]["airbyte_connectors"]["options"]
    assert {"approval", "approval_timeout", "approval_users"} <= set(options)
