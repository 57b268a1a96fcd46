"""The production stack's files: docker-compose.yml and the Dockerfile (no Docker engine runs here)."""

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent


def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_compose_has_temporal_on_postgresql_the_ui_and_the_worker():
    services = compose()["services"]
    assert {"postgresql", "temporal", "temporal-ui", "worker"} <= set(services)
    assert services["temporal"]["environment"]["DB"] == "postgres12"
    assert services["temporal"]["environment"]["POSTGRES_SEEDS"] == "postgresql"
    assert "7233:7233" in services["temporal"]["ports"]
    assert "8233:8080" in services["temporal-ui"]["ports"]


def test_compose_starts_services_in_dependency_order():
    services = compose()["services"]
    assert services["temporal"]["depends_on"]["postgresql"]["condition"] == "service_healthy"
    assert services["worker"]["depends_on"]["temporal"]["condition"] == "service_healthy"
    assert "temporal" in services["temporal-ui"]["depends_on"]


def test_compose_registers_standbys_search_attributes():
    command = compose()["services"]["temporal-admin-tools"]["command"]
    for name in ("Runbook", "Operation", "Mode", "State"):
        assert f"--name {name} --type Keyword" in command


def test_worker_is_built_here_and_gets_credentials_only_from_its_environment():
    worker = compose()["services"]["worker"]
    assert worker["build"] == "."
    assert worker["environment"]["TEMPORAL_ADDRESS"] == "temporal:7233"
    assert not any("SECRET" in key or "PASSWORD" in key for key in worker["environment"])
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert 'CMD ["python", "worker.py"]' in dockerfile
    for folder in ("standby", "workflows", "activities", "sampleapp", "runbooks"):
        assert f"COPY {folder} {folder}" in dockerfile
