"""The container files name only settings and commands the registry actually has (there is no
Docker engine here, so tests/e2e/test_production.py runs the same sequence without containers)."""

import dataclasses
import re

import yaml
from click.testing import CliRunner

from registry import Settings
from registry.cli import main
from tests.conftest import ROOT

SETTING_NAMES = {"REGISTRY_" + f.name.upper() for f in dataclasses.fields(Settings)}
AWS_NAMES = {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_DEFAULT_REGION"}


def compose():
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_compose_sets_only_settings_the_registry_reads():
    services = compose()["services"]
    for name in ("migrate", "registry"):
        environment = services[name]["environment"]
        unknown = {key for key in environment if key.startswith("REGISTRY_")} - SETTING_NAMES
        assert not unknown, f"{name} sets variables the registry never reads: {unknown}"
        assert set(environment) - SETTING_NAMES <= AWS_NAMES
        assert Settings.from_env({k: str(v) for k, v in environment.items()}).storage == "s3"


def test_compose_runs_real_commands_in_order():
    services = compose()["services"]
    runner = CliRunner()
    for name in ("migrate", "registry"):
        assert runner.invoke(main, [*services[name]["command"], "--help"]).exit_code == 0, name
    assert services["migrate"]["depends_on"]["mysql"]["condition"] == "service_healthy"
    assert services["registry"]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert all("healthcheck" in services[name] for name in ("mysql", "seaweedfs", "registry"))
    assert "-master.telemetry=false" in services["seaweedfs"]["command"]


def test_dockerfile_runs_serve_as_a_non_root_user():
    dockerfile = (ROOT / "Dockerfile").read_text()
    users = re.findall(r"^USER (\S+)", dockerfile, re.MULTILINE)
    assert users and users[-1] not in ("root", "0")
    assert 'ENTRYPOINT ["registry"]' in dockerfile and 'CMD ["serve"' in dockerfile
    for setting in re.findall(r"\b(REGISTRY_[A-Z0-9_]+)=", dockerfile):
        assert setting in SETTING_NAMES


def test_compose_requires_the_operator_to_set_the_secret():
    """No secret in the file: compose stops with this message unless REGISTRY_SECRET_KEY is set."""
    secret = compose()["x-registry-environment"]["REGISTRY_SECRET_KEY"]
    assert re.fullmatch(r"\$\{REGISTRY_SECRET_KEY:\?set REGISTRY_SECRET_KEY [^}]+\}", secret)
    for name in ("migrate", "registry"):
        assert compose()["services"][name]["environment"]["REGISTRY_SECRET_KEY"] == secret
    assert "REGISTRY_SECRET_KEY" not in (ROOT / "Dockerfile").read_text()
