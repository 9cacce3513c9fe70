"""docker/ without a Docker engine: the compose file parses and is consistent with the repository."""

from __future__ import annotations

import re

import pytest
import yaml

from tests.conftest import REPO

DOCKER = REPO / "docker"
SERVICES = {
    "postgres", "redis", "minio", "minio-init", "mlflow", "airflow-init", "airflow-apiserver", "airflow-scheduler",
    "airflow-dag-processor", "airflow-triggerer", "airflow-worker", "collect", "review",
}


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((DOCKER / "docker-compose.yml").read_text())


def test_every_service_exists(compose: dict) -> None:
    assert SERVICES <= set(compose["services"])


def test_every_variable_is_in_env_example() -> None:
    text = (DOCKER / "docker-compose.yml").read_text()
    used = set(re.findall(r"(?<!\$)\$\{([A-Z0-9_]+)(?::?-[^}]*)?\}", text))
    example = {line.split("=", 1)[0] for line in (DOCKER / ".env.example").read_text().splitlines() if "=" in line and not line.startswith("#")}
    assert used, "the compose file takes its secrets from the environment"
    assert used <= example, f"missing from .env.example: {sorted(used - example)}"
    ignored = (REPO / ".gitignore").read_text().splitlines()
    assert "docker/.env" in ignored


def test_build_contexts_and_mounted_files_exist(compose: dict) -> None:
    for name, service in compose["services"].items():
        build = service.get("build")
        if build:
            context = (DOCKER / build["context"]).resolve()
            assert context.is_dir(), name
            assert (context / build["dockerfile"]).is_file(), name
        else:
            assert service.get("image"), f"{name} has neither image nor build"
        for volume in service.get("volumes", []):
            source = volume.split(":", 1)[0]
            if source.startswith("."):
                assert (DOCKER / source).exists(), f"{name}: {source}"
            else:
                assert source in compose["volumes"], f"{name}: named volume {source} is not declared"


def test_health_checks_and_scalable_worker(compose: dict) -> None:
    services = compose["services"]
    for name in SERVICES - {"minio-init", "airflow-init"}:
        assert "healthcheck" in services[name], name
    worker = services["airflow-worker"]
    assert "container_name" not in worker and "ports" not in worker
    assert worker["command"] == "airflow celery worker"
    assert worker["environment"]["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"


def test_workers_preload_the_scoring_stack_before_forking_tasks(compose: dict) -> None:
    """Every Airflow component (and the stack test) names one Celery config: Airflow's own plus the preload module
    in Celery's ``imports``, which only a worker imports (at its start, before it forks), never the scheduler."""
    from airflow.providers.celery.executors.default_celery import DEFAULT_CELERY_CONFIG
    import importlib

    airflow = [s for n, s in compose["services"].items() if n.startswith("airflow-")]
    names = {s["environment"]["AIRFLOW__CELERY__CELERY_CONFIG_OPTIONS"] for s in airflow}
    assert len(names) == 1
    name = names.pop()
    assert f'"AIRFLOW__CELERY__CELERY_CONFIG_OPTIONS": "{name}"' in (DOCKER / "stack_scenario.py").read_text()
    module, _, attribute = name.rpartition(".")
    config = getattr(importlib.import_module(module), attribute)  # as Airflow's conf.getimport reads it
    assert config["imports"] == ("sales_ability.operations.worker_preload",)
    assert {k: v for k, v in config.items() if k != "imports"} == DEFAULT_CELERY_CONFIG  # nothing else changed
    assert "sales_ability.operations.worker_preload" not in __import__("sys").modules  # naming it imports nothing


def test_a_failed_preload_never_stops_the_worker_and_each_shard_task_says_how_it_started(monkeypatch) -> None:
    """A module that cannot be imported is reported, not raised (the worker's other tasks need none of them), and
    a shard task's first log line says whether its worker preloaded the stack, failed to, or has no preload."""
    import sys
    import types

    from sales_ability.operations.batch import _start_note
    from sales_ability.operations.celery_config import preload

    seconds, failed = preload(("json", "sales_ability_no_such_module", "csv"))
    assert seconds >= 0 and len(failed) == 1
    assert failed[0].startswith("sales_ability_no_such_module: ModuleNotFoundError")
    assert "csv" in sys.modules  # the imports after a failure still happen

    monkeypatch.delitem(sys.modules, "sales_ability.operations.worker_preload", raising=False)
    assert _start_note().startswith("starting cold")
    worker = types.SimpleNamespace(FAILED=[])
    monkeypatch.setitem(sys.modules, "sales_ability.operations.worker_preload", worker)
    assert _start_note().startswith("the worker preloaded the scoring stack")
    worker.FAILED = failed
    assert _start_note().startswith("the worker's preload failed") and "sales_ability_no_such_module" in _start_note()
    assert "the worker preloaded the scoring stack" not in _start_note()  # the stack test's check cannot match it


def test_airflow_components_share_one_jwt_secret(compose: dict) -> None:
    airflow = [s for n, s in compose["services"].items() if n.startswith("airflow-")]
    secrets = {s["environment"]["AIRFLOW__API_AUTH__JWT_SECRET"] for s in airflow}
    assert secrets == {"${AIRFLOW_JWT_SECRET}"}


def test_mlflow_server_on_postgres_and_minio(compose: dict) -> None:
    mlflow = compose["services"]["mlflow"]
    assert "--backend-store-uri postgresql" in mlflow["command"]
    assert "--artifacts-destination s3://mlflow" in mlflow["command"]
    assert "--allowed-hosts" in mlflow["command"]
    assert mlflow["environment"]["MLFLOW_S3_ENDPOINT_URL"] == "http://minio:9000"
    assert "mc mb" in compose["services"]["minio-init"]["entrypoint"]
    for name in ("airflow-worker", "airflow-scheduler"):
        assert compose["services"][name]["environment"]["MLFLOW_TRACKING_URI"] == "http://mlflow:5000"


def test_dockerfile_installs_from_the_makefiles_lock_file() -> None:
    dockerfile = (DOCKER / "Dockerfile").read_text()
    makefile = (REPO / "Makefile").read_text()
    assert "pip install -q -r requirements.lock" in makefile
    assert "COPY requirements.lock" in dockerfile and "pip install -r requirements.lock" in dockerfile
    assert dockerfile.startswith("#") and "FROM python:3.11-slim" in dockerfile
    lock = (REPO / "requirements.lock").read_text()
    for package in ("apache-airflow-providers-celery==", "psycopg2-binary==", "dvc-s3==", "boto3==", "opencv-python-headless=="):
        assert package in lock


def test_nothing_downloads_model_weights() -> None:
    for path in (DOCKER / "Dockerfile", DOCKER / "docker-compose.yml"):
        text = path.read_text().lower()
        for word in ("imagenet", "wget ", "curl ", ".h5", "weights=", "hf_hub", "huggingface"):
            assert word not in text, f"{path.name}: {word}"


def test_dvc_remote_for_minio_in_repo_config() -> None:
    config = (REPO / ".dvc/config").read_text()
    assert "url = s3://dvc" in config and "endpointurl = http://minio:9000" in config
    assert "access_key" not in config and "secret" not in config  # credentials stay out of git


def test_stack_test_reads_the_compose_settings() -> None:
    """`make stack-test` and `docker compose` share one settings file: every secret and user the stack test
    uses is one the compose file reads from it."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("stack_harness", DOCKER / "stack_harness.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    settings = module.read_env_file()
    assert module.ENV_FILE == DOCKER / ".env.example"
    source = "".join((DOCKER / name).read_text() for name in ("stack_harness.py", "stack_test.py", "stack_scenario.py"))
    assert "import stack_test" not in source and "from stack_test" not in source  # no circle: both import the harness
    used = set(re.findall(r'settings\["([A-Z0-9_]+)"\]', source))
    compose_text = (DOCKER / "docker-compose.yml").read_text()
    assert used and used <= set(settings)
    assert all(f"${{{key}}}" in compose_text for key in used), used
