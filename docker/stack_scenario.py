"""The scenario `make stack-test` runs against the local stack (see docker/stack_test.py)."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import time
from pathlib import Path

import httpx
import pandas as pd
import yaml
from stack_harness import BIN, REPO, Stack, free_port, log, run, wait_for

RETRAINING = "sales_ability_retraining"
BATCH = "sales_ability_batch_scoring"
INBOX_CLIPS = 12
KILL_CLIPS = 4
HOSTNAME_MODULE = '''import os, socket


def hostname() -> str:
    """The Celery worker's own name (both workers share this machine's hostname)."""
    return os.environ.get("STACK_WORKER_NAME") or socket.getfqdn()
'''


def make_project(root: Path, env: dict) -> Path:
    """The working tree's files (tracked and new, not ignored) in a fresh git repository, with the test
    suite's small demo params, committed."""
    project = root / "project"
    for name in run(["git", "ls-files", "-co", "--exclude-standard"], cwd=REPO).splitlines():
        source = REPO / name
        if source.is_file():
            (project / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, project / name)
    git = ["git", "-c", "user.name=stack", "-c", "user.email=stack@test"]
    run(["git", "init", "-q"], cwd=project)
    run(["git", "add", "-A"], cwd=project)
    run([*git, "commit", "-qm", "working tree"], cwd=project)
    params = yaml.safe_load((project / "params.yaml").read_text())
    params["demo"]["clips"] = 12
    params["demo"]["collected_participants"] = 5
    params["demo"]["answer_seconds"] = [16, 26]  # as the test suite: 1 or 2 segments per answer
    params["demo"]["collected_fps"] = 6  # the shortest segment (11.25 s) still holds 67 frames
    params["train"]["epochs"] = 2
    params["finetune"]["epochs"] = 1
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    run([*git, "commit", "-qam", "small demo params"], cwd=project)
    return project


def configure_remote(project: Path, endpoint: str, settings: dict, env: dict) -> None:
    """Point the `minio` remote of .dvc/config at the local S3 store (git-ignored .dvc/config.local)."""
    for key, value in (("endpointurl", endpoint), ("access_key_id", settings["MINIO_ROOT_USER"]),
                       ("secret_access_key", settings["MINIO_ROOT_PASSWORD"])):
        run(["dvc", "remote", "modify", "--local", "minio", key, value], cwd=project, env=env)


def write_inbox(inbox: Path, clips: int, seed: int, bad: bool) -> list[Path]:
    from sales_ability.data.demo_data import write_demo_dataset

    staging = inbox.parent / f".staging-{seed}"
    paths = [c.path for c in write_demo_dataset(staging, clips=clips, seed=seed)]
    inbox.mkdir(parents=True, exist_ok=True)
    moved = []
    for p in paths:
        target = inbox / f"s{seed}_{p.name}"
        shutil.move(str(p), target)
        moved.append(target)
    if bad:
        (inbox / "notes.mp4").write_text("not a video, a text file named like one\n")
        (inbox / "empty.mp4").write_bytes(b"")
        (inbox / "truncated.mp4").write_bytes(moved[0].read_bytes()[:2000])
    shutil.rmtree(staging, ignore_errors=True)
    return moved


class Api:
    """Airflow's REST API v2 with a token from the simple auth manager."""

    def __init__(self, url: str, user: str, password: str) -> None:
        self.url = url
        token = httpx.post(f"{url}/auth/token", json={"username": user, "password": password}, timeout=30)
        token.raise_for_status()
        self.client = httpx.Client(base_url=f"{url}/api/v2", timeout=60,
                                   headers={"Authorization": f"Bearer {token.json()['access_token']}"})

    def get(self, path: str, **params) -> dict:
        r = self.client.get(path, params=params)
        r.raise_for_status()
        return r.json()

    def unpause(self, dag: str) -> None:
        self.client.patch(f"/dags/{dag}", json={"is_paused": False}).raise_for_status()

    def trigger(self, dag: str, conf: dict | None = None) -> str:
        r = self.client.post(f"/dags/{dag}/dagRuns", json={"logical_date": None, "conf": conf or {}})
        r.raise_for_status()
        return r.json()["dag_run_id"]

    def runs(self, dag: str) -> list[dict]:
        return self.get(f"/dags/{dag}/dagRuns", order_by="-start_date", limit=50)["dag_runs"]

    def wait_run(self, dag: str, run_id: str, timeout: float = 600) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            state = self.get(f"/dags/{dag}/dagRuns/{run_id}")["state"]
            if state in ("success", "failed"):
                return state
            time.sleep(3)
        raise TimeoutError(f"{dag} run {run_id} did not finish in {timeout:.0f} s")

    def answer(self, dag: str, run_id: str, task_id: str, chosen: list[str], params_input: dict,
               timeout: float = 900) -> dict:
        """Wait until the task waits for a person, then answer it as one would: Airflow's HITL REST route."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            state = self.get(f"/dags/{dag}/dagRuns/{run_id}/taskInstances/{task_id}").get("state")
            if state == "awaiting_input":
                r = self.client.patch(f"/dags/{dag}/dagRuns/{run_id}/taskInstances/{task_id}/-1/hitlDetails",
                                      json={"chosen_options": chosen, "params_input": params_input})
                r.raise_for_status()
                return r.json()
            if self.get(f"/dags/{dag}/dagRuns/{run_id}")["state"] in ("success", "failed"):
                raise RuntimeError(f"{dag} run {run_id} ended before {task_id} asked anyone")
            time.sleep(3)
        raise TimeoutError(f"{dag} run {run_id}: {task_id} did not wait for a person within {timeout:.0f} s")

    def settle(self, dag: str, run_id: str, timeout: float = 900) -> str:
        """Let a run the scheduler started end; a review it asks for is rejected, as an operator would reject
        a proposal nobody planned (the run's candidate stays unpromoted, its decision recorded)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            state = self.get(f"/dags/{dag}/dagRuns/{run_id}")["state"]
            if state in ("success", "failed"):
                return state
            waiting = [t for t in self.task_instances(dag, run_id) if t["state"] == "awaiting_input"]
            for t in waiting:
                self.client.patch(f"/dags/{dag}/dagRuns/{run_id}/taskInstances/{t['task_id']}/-1/hitlDetails",
                                  json={"chosen_options": ["Reject"], "params_input": {
                                      "reason": "a scheduled slot the stack test did not plan", "override_gates": False}}
                                  ).raise_for_status()
            time.sleep(3)
        raise TimeoutError(f"{dag} run {run_id} did not end in {timeout:.0f} s")

    def task_instances(self, dag: str, run_id: str) -> list[dict]:
        return self.get(f"/dags/{dag}/dagRuns/{run_id}/taskInstances", limit=100)["task_instances"]


def shard_task_starts(logs: Path, run_id: str) -> dict[str, str]:
    """Per score_shard log of ``run_id``: "preloaded" (forked from a worker that imported the scoring stack), "cold",
    or "unsaid" (the task's start line is missing)."""
    from sales_ability.operations.batch import STARTED_COLD, STARTED_PRELOADED

    starts = {}
    for path in sorted(logs.glob("dag_id=*/run_id=*/task_id=score_shard/**/*.log")):
        if path.relative_to(logs).parts[1] != f"run_id={run_id}":
            continue
        text = path.read_text(errors="replace")
        starts[str(path.relative_to(logs))] = ("preloaded" if STARTED_PRELOADED in text
                                               else "cold" if STARTED_COLD in text else "unsaid")
    return starts


def ledger(url: str) -> pd.DataFrame:
    """The ledger (one row per video that reached an outcome), read from the results database in PostgreSQL."""
    from sales_ability.results import store as db

    with db.engine(url).connect() as conn:
        return db.read_table(conn, db.videos)


def segment_rows(url: str) -> pd.DataFrame:
    from sales_ability.results import store as db

    with db.engine(url).connect() as conn:
        return db.read_table(conn, db.segments)


def run_scenario(stack: Stack, settings: dict, start_postgres, start_s3) -> dict:
    step = stack.step
    root = stack.root
    base_env = {**os.environ, "PATH": f"{BIN}:{os.environ['PATH']}", "TF_CPP_MIN_LOG_LEVEL": "2",
                "MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "true"}
    ports = {k: free_port() for k in ("postgres", "redis", "s3", "mlflow", "airflow")}
    with step("postgres"):
        pg = start_postgres(stack, settings, ports["postgres"])
    with step("redis"):
        stack.start("redis", ["redis-server", "--port", str(ports["redis"]), "--bind", "127.0.0.1", "--save", "",
                              "--appendonly", "no"])
        import redis

        wait_for("redis", lambda: redis.Redis(port=ports["redis"]).ping(), 30, 0.5)
    with step("s3"):
        endpoint = start_s3(stack, settings, ports["s3"])
    s3_env = {"AWS_ACCESS_KEY_ID": settings["MINIO_ROOT_USER"], "AWS_SECRET_ACCESS_KEY": settings["MINIO_ROOT_PASSWORD"],
              "AWS_DEFAULT_REGION": "us-east-1"}
    mlflow_uri = f"http://127.0.0.1:{ports['mlflow']}"
    with step("mlflow_server"):
        stack.start("mlflow", [str(BIN / "mlflow"), "server", "--host", "127.0.0.1", "--port", str(ports["mlflow"]),
                               "--backend-store-uri", f"postgresql+psycopg2://{pg}/mlflow",
                               "--artifacts-destination", "s3://mlflow", "--serve-artifacts", "--workers", "1"],
                    env={**base_env, **s3_env, "MLFLOW_S3_ENDPOINT_URL": endpoint})
        wait_for("mlflow", lambda: httpx.get(f"{mlflow_uri}/health", timeout=5).status_code == 200, 180, 2)
    env = {**base_env, **s3_env, "MLFLOW_TRACKING_URI": mlflow_uri}

    with step("dvc_repro"):
        project = make_project(root, env)
        configure_remote(project, endpoint, settings, env)
        run(["dvc", "repro"], cwd=project, env=env, timeout=1500)
        run(["git", "add", "-A"], cwd=project)  # dvc.lock and the git-tracked metrics and plots
        run(["git", "-c", "user.name=stack", "-c", "user.email=stack@test", "commit", "-qm", "repro"], cwd=project)
    with step("dvc_push_pull"):
        run(["dvc", "push", "-r", "minio"], cwd=project, env=env)
        clone = root / "clone"
        run(["git", "clone", "-q", str(project), str(clone)])
        configure_remote(clone, endpoint, settings, env)
        run(["dvc", "pull", "-r", "minio"], cwd=clone, env=env)
        status = run(["dvc", "status"], cwd=clone, env=env).strip()
        # the `cache: false` metrics and learning curves come with git, everything cached from the remote:
        # a clean clone has nothing to re-run
        missing = re.findall(r"deleted:\s+(\S+)", status)
        pulled_model_identical = ((clone / "models/finetune/model.keras").read_bytes()
                                  == (project / "models/finetune/model.keras").read_bytes())
        cloud = run(["dvc", "status", "-c", "-r", "minio"], cwd=project, env=env).strip()
        dry = run(["dvc", "repro", "--dry"], cwd=clone, env=env)
        would_run = re.findall(r"Running stage '([^']+)'", dry)
        push_pull_ok = "up to date" in status and pulled_model_identical and "in sync" in cloud and not would_run
        shutil.rmtree(clone)

    from mlflow import MlflowClient

    client = MlflowClient(mlflow_uri)
    password = "stack-test-admin"
    (root / "passwords.json").write_text(json.dumps({settings["AIRFLOW_ADMIN_USER"]: password}))
    (root / "pylib").mkdir()
    (root / "pylib" / "stack_hostname.py").write_text(HOSTNAME_MODULE)
    from cryptography.fernet import Fernet

    airflow_url = f"http://127.0.0.1:{ports['airflow']}"
    import sys

    sys.path.insert(0, str(REPO))
    from tests.alert_sinks import webhook_sink

    sink = webhook_sink()  # kept referenced: a collected context manager would shut its server down
    alert_url, alerts = sink.__enter__()  # serves from a daemon thread until the test ends
    db = f"postgresql+psycopg2://{pg}/{settings['POSTGRES_DB']}"
    results_url = f"postgresql+psycopg2://{pg}/results"  # the results database beside Airflow's and MLflow's
    airflow_env = {
        **env,
        "PYTHONPATH": str(root / "pylib"),
        "AIRFLOW_HOME": str(root / "airflow"),
        "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_FOLDER": str(project / "dags"),
        "AIRFLOW__CORE__FERNET_KEY": Fernet.generate_key().decode(),
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{airflow_url}/execution/",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{settings['AIRFLOW_ADMIN_USER']}:admin",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(root / "passwords.json"),
        "AIRFLOW__CORE__HOSTNAME_CALLABLE": "stack_hostname.hostname",
        "AIRFLOW__API_AUTH__JWT_SECRET": settings["AIRFLOW_JWT_SECRET"],
        "AIRFLOW__API__PORT": str(ports["airflow"]),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": db,
        "AIRFLOW__CELERY__BROKER_URL": f"redis://127.0.0.1:{ports['redis']}/0",
        "AIRFLOW__CELERY__RESULT_BACKEND": f"db+postgresql+psycopg2://{pg}/{settings['POSTGRES_DB']}",
        "AIRFLOW__CELERY__WORKER_CONCURRENCY": "2",
        # each worker imports the scoring stack once; the shard tasks forked from it start warm
        "AIRFLOW__CELERY__CELERY_CONFIG_OPTIONS": "sales_ability.operations.celery_config.CELERY_CONFIG",
        # a killed worker's task is noticed within half a minute and retried after 5 s (not the DAG's minutes)
        "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": "30",
        "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL": "5",
        "SALES_ABILITY_RETRY_DELAY_S": "5",
        "SALES_ABILITY_PROJECT": str(project),
        "SALES_ABILITY_DVC_REMOTE": "minio",
        "SALES_ABILITY_SHARD_SIZE": "2",
        "SALES_ABILITY_DATABASE_URL": results_url,
        "SALES_ABILITY_ALERT_WEBHOOK": alert_url,
        "SALES_ABILITY_COLLECT_DATA": str(root / "website"),  # the website's data folder the retraining ingests
    }
    (root / "website").mkdir()  # nobody complete yet: a scheduled slot ingests an empty folder
    airflow = str(BIN / "airflow")
    with step("airflow_start"):
        run([airflow, "db", "migrate"], env=airflow_env, timeout=600)
        run([str(BIN / "sales-ability"), "applicants", "migrate"], env=airflow_env, timeout=300)  # once per deployment
        run([airflow, "pools", "set", "sales_ability_training", "1", "one dvc repro at a time"], env=airflow_env)
        stack.start("api-server", [airflow, "api-server", "--port", str(ports["airflow"])], env=airflow_env)
        for component in ("scheduler", "dag-processor", "triggerer"):
            stack.start(component, [airflow, component], env=airflow_env)
        for n in (1, 2):
            stack.start(f"worker{n}", [airflow, "celery", "worker", "--celery-hostname", f"worker{n}@stack",
                                       "--concurrency", "2"],
                        env={**airflow_env, "STACK_WORKER_NAME": f"worker{n}"})
        wait_for("airflow api-server", lambda: httpx.get(f"{airflow_url}/api/v2/monitor/health", timeout=5).status_code == 200, 240, 3)
        api = Api(airflow_url, settings["AIRFLOW_ADMIN_USER"], password)
        for dag in (RETRAINING, BATCH):
            wait_for(f"DAG {dag} parsed", lambda dag=dag: api.client.get(f"/dags/{dag}").status_code == 200, 240, 3)
            api.unpause(dag)
        time.sleep(5)  # unpausing may start each DAG's latest scheduled slot (nothing to do yet): let them end
        for dag in (RETRAINING, BATCH):
            for r in api.runs(dag):
                if r["state"] not in ("success", "failed"):
                    api.settle(dag, r["dag_run_id"], 900)

    from mlflow.exceptions import MlflowException

    try:  # `dvc repro` registers nothing: the retraining run proposes, a person approves
        client.delete_registered_model_alias("sales-ability", "champion")
    except MlflowException:
        pass
    params = yaml.safe_load((project / "params.yaml").read_text())
    params["intervals"]["coverage"] = 0.85  # makes `evaluate` stale for the retraining DAG
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))

    from sales_ability.collect.storage import ParticipantStore
    from tests.participants import QUESTIONNAIRE, website_participant

    own_clip = write_inbox(root / "newcomer_clip", 1, seed=99, bad=False)[0]  # bytes no one else in the project has
    newcomer = website_participant(ParticipantStore(root / "website"), own_clip,
                                   QUESTIONNAIRE)  # completed on the website since the last night
    inbox = project / "inbox"
    write_inbox(inbox, INBOX_CLIPS, seed=21, bad=True)
    inbox_files = len([p for p in inbox.iterdir() if p.is_file()])
    with step("retraining_dag"):
        run_id = api.trigger(RETRAINING, {"project_dir": str(project), "target": "evaluate"})
        review = api.answer(RETRAINING, run_id, "review_candidate", ["Approve"],  # a person, through the REST API
                            {"reason": "the stack test's reviewer approves the selection figures", "override_gates": True})
        state = api.wait_run(RETRAINING, run_id, 900)
        retraining_tis = api.task_instances(RETRAINING, run_id)
        retraining_tasks = {t["task_id"]: t["state"] for t in retraining_tis}
        if state != "success":
            raise RuntimeError(f"retraining run {run_id}: {state} {retraining_tasks}")
    reproduce_pool = next(t["pool"] for t in retraining_tis if t["task_id"] == "reproduce")
    branches = run(["git", "branch", "--list", "retraining/*"], cwd=project).split()
    mine = "retraining/" + re.sub(r"[^A-Za-z0-9._-]+", "-", run_id).strip("-.")  # a scheduled slot may have its own
    branch = mine if mine in branches else None
    recorded_lock = run(["git", "show", f"{branch}:dvc.lock"], cwd=project) if branch else ""
    lock_recorded = recorded_lock == (project / "dvc.lock").read_text() and recorded_lock != run(
        ["git", "show", "HEAD:dvc.lock"], cwd=project)
    cloud_after = run(["dvc", "status", "-c", "-r", "minio"], cwd=project, env=env).strip()
    ingested = (project / "data/raw/collected" / newcomer / "ipip50.json").is_file() and branch is not None and run(
        ["git", "show", f"{branch}:data/raw/collected.dvc"], cwd=project) == (project / "data/raw/collected.dvc").read_text()
    with step("forget_on_s3"):
        forgotten = forget_on_s3(project, root / "website", newcomer, own_clip.read_bytes(), env, endpoint, settings,
                                 results_url)
    with step("failure_notice"):
        failing = api.trigger(RETRAINING, {"project_dir": str(root / "no_such_project")})
        failing_state = api.wait_run(RETRAINING, failing, 300)
        wait_for("the failure notice", lambda: any(p["run_id"] == failing and p["task_id"] == "champion_before"
                                                   for p in alerts), 120, 1)
    notice = next(p for p in alerts if p["run_id"] == failing and p["task_id"] == "champion_before")
    champion = client.get_model_version_by_alias("sales-ability", "champion")
    approved_by = champion.tags.get("decided_by")
    artifact_uri = client.get_run(champion.run_id).info.artifact_uri
    with step("batch_dag_from_asset"):
        wait_for("asset-triggered batch run", lambda: any(r["run_type"] == "asset_triggered" for r in api.runs(BATCH)), 180, 3)
        batch_run = next(r for r in api.runs(BATCH) if r["run_type"] == "asset_triggered")
        state = api.wait_run(BATCH, batch_run["dag_run_id"], 900)
        tis = api.task_instances(BATCH, batch_run["dag_run_id"])
        if state != "success":
            raise RuntimeError(f"batch run {batch_run['dag_run_id']}: {state} {[(t['task_id'], t['map_index'], t['state']) for t in tis]}")
    mapped = [{"map_index": t["map_index"], "hostname": t["hostname"], "state": t["state"], "try_number": t["try_number"],
               "duration_s": t.get("duration")} for t in tis if t["task_id"] == "score_shard"]
    shard_starts = shard_task_starts(root / "airflow" / "logs", batch_run["dag_run_id"])
    first = ledger(results_url)
    with step("batch_rerun"):
        rerun = api.trigger(BATCH)
        if api.wait_run(BATCH, rerun, 600) != "success":
            raise RuntimeError(f"batch re-run {rerun} failed")
    rerun_new = len(ledger(results_url)) - len(first)

    write_inbox(inbox, KILL_CLIPS, seed=33, bad=False)
    with step("worker_kill"):
        kill_run = api.trigger(BATCH)
        victim = None
        deadline = time.monotonic() + 300
        while victim is None and time.monotonic() < deadline:
            running = [t for t in api.task_instances(BATCH, kill_run) if t["task_id"] == "score_shard" and t["state"] == "running"]
            if running and running[0]["hostname"] in ("worker1", "worker2"):
                victim = running[0]["hostname"]
            time.sleep(1)
        if victim is None:
            raise RuntimeError("no score_shard task was seen running to kill its worker")
        time.sleep(3)  # in the middle of its shard
        victim_pid = stack.procs[victim].pid
        stack.kill(victim, signal.SIGKILL)
        log(f"killed {victim} (pid {victim_pid})")
        state = api.wait_run(BATCH, kill_run, 900)
        kill_tis = [t for t in api.task_instances(BATCH, kill_run) if t["task_id"] == "score_shard"]
        if state != "success":
            raise RuntimeError(f"batch run after the kill: {state} {[(t['map_index'], t['state'], t['hostname']) for t in kill_tis]}")
    final = ledger(results_url)
    with step("review_workspace"):
        review_figures = review_on_postgres(stack, results_url, env, final)
    from sales_ability.registry.models import resolve_model

    champion_kb = resolve_model(f"models:/sales-ability/{champion.version}", tracking=mlflow_uri).knowledge_base_sha256
    expected = inbox_files + KILL_CLIPS
    results = segment_rows(results_url)
    counts = final["content_sha256"].value_counts()
    import boto3

    s3 = boto3.client("s3", endpoint_url=endpoint, aws_access_key_id=settings["MINIO_ROOT_USER"],
                      aws_secret_access_key=settings["MINIO_ROOT_PASSWORD"], region_name="us-east-1")
    mlflow_objects = s3.list_objects_v2(Bucket="mlflow").get("KeyCount", 0)
    dvc_objects = s3.list_objects_v2(Bucket="dvc").get("KeyCount", 0)
    figures = {
        "executor": "CeleryExecutor",
        "metadata_db": f"postgresql (port {ports['postgres']})",
        "broker": f"redis (port {ports['redis']})",
        "workers": ["worker1", "worker2"],
        "project": "demo, 12 training clips, 2+1 epochs (the test suite's small params)",
        "dvc": {"push_pull_ok": push_pull_ok, "remote_status": cloud, "pulled_model_identical": pulled_model_identical,
                "clean_clone_deleted": missing, "clean_clone_would_run": would_run, "s3_objects": dvc_objects},
        "mlflow": {"tracking_uri": "http://127.0.0.1 (mlflow server)", "backend_store": "postgresql", "artifact_uri": artifact_uri,
                   "champion_version": str(champion.version), "s3_objects": mlflow_objects},
        "retraining": {"tasks": retraining_tasks, "reproduce_pool": reproduce_pool, "lock_branch": branch,
                       "remote_status_after": cloud_after, "ingested_newcomer": ingested},
        "forget": forgotten,
        "failure_notice": {"run_state": failing_state, "webhook_posts": len(alerts), "text": notice["text"][:300]},
        "results_database": {"url": "postgresql (database results)", "ledger_rows": len(final),
                             "segment_rows": len(results)},
        "scoring": {
            "run_type": batch_run["run_type"], "inbox_videos": inbox_files, "shard_size": 2,
            "mapped_tasks": mapped, "hostnames": sorted({m["hostname"] for m in mapped}),
            "scored": int((first["outcome"] == "scored").sum()), "rejected": int((first["outcome"] == "rejected").sum()),
            "rerun_scored_new": rerun_new, "shard_task_starts": shard_starts,
        },
        "worker_killed": {
            "worker": victim, "pid": victim_pid, "new_videos": KILL_CLIPS,
            "mapped_tasks": [{"map_index": t["map_index"], "hostname": t["hostname"], "try_number": t["try_number"],
                              "state": t["state"]} for t in kill_tis],
            "ledger_rows": len(final), "expected": expected,
            "counted_in": "the results database (PostgreSQL)",
            "lost": expected - int(counts.size), "duplicated": int((counts > 1).sum()),
            "results_rows": len(results), "results_duplicated": int(results["clip_id"].duplicated().sum()),
        },
        "review": review_figures,
        "timings_s": stack.timings,
    }
    checks = {
        "dvc push, then pull into a clean clone leaves `dvc status` clean": push_pull_ok,
        "the retraining DAG published the champion Asset": retraining_tasks.get("publish_champion") == "success",
        "the champion moved only after a person approved it through the REST API":
            retraining_tasks.get("apply_decision") == "success" and approved_by == settings["AIRFLOW_ADMIN_USER"]
            and review.get("chosen_options") == ["Approve"],
        "the batch run was started by that Asset": batch_run["run_type"] == "asset_triggered",
        "mapped shard tasks ran on both workers": len({m["hostname"] for m in mapped}) == 2,
        "results and rejects account for every inbox file": len(first) == inbox_files,
        "every shard task started warm, forked from a worker that preloaded the scoring stack":
            len(shard_starts) == len(mapped) > 0 and set(shard_starts.values()) == {"preloaded"},
        "a second run scores nothing": rerun_new == 0,
        "after the worker kill every video is in the ledger exactly once": expected == int(counts.size) and not (counts > 1).any(),
        "model artifacts are in the S3 bucket": mlflow_objects > 0,
        "retraining's repro ran in the training pool": reproduce_pool == "sales_ability_training",
        "retraining recorded dvc.lock on a branch and pushed its outputs": lock_recorded and "in sync" in cloud_after
                                                                         and retraining_tasks.get("push_outputs") == "success",
        "the retraining run ingested the website's new participant, recorded the version and pushed it to S3":
            ingested and retraining_tasks.get("ingest_collected") == "success" and "in sync" in cloud_after,
        "a withdrawn participant left no byte in the S3 remote, the cache or the workspace (searched by content)":
            forgotten["on_s3_before"] > 0 and forgotten["answer_on_s3_before"] and not forgotten["answer_on_s3_after"]
            and forgotten["on_s3_after"] == 0 and forgotten["in_cache_after"] == 0
            and forgotten["in_workspace_after"] == 0 and forgotten["status"] == "complete",
        "a failed run was notified on the webhook": failing_state == "failed" and "project folder not found" in notice["reason"],
        "a recruiter's decision in the review workspace (PostgreSQL) reached the tracking system's webhook":
            review_figures["decision_delivered"] and review_figures["signature_refused"] == 0,
        "every result row names the champion's knowledge base": bool(champion_kb)
                                                                and set(results["knowledge_base_sha256"]) == {champion_kb},
    }
    figures["checks"] = checks
    failed = [name for name, ok in checks.items() if not ok]
    if failed:
        raise RuntimeError(f"checks failed: {failed}; figures: {json.dumps(figures, default=str)[:3000]}")
    return figures


def forget_on_s3(project: Path, website: Path, person: str, answer: bytes, env: dict, endpoint: str, settings: dict,
                 results_url: str) -> dict:
    """The newcomer withdraws on the website; `sales-ability forget --requested` removes them from every DVC version
    in the cache and on the S3 remote (and MLflow's S3 artifacts); their answer's bytes and their id are then
    searched for in every object of the bucket, the cache and the workspace."""
    import boto3

    from sales_ability.collect.storage import ParticipantStore

    s3 = boto3.client("s3", endpoint_url=endpoint, aws_access_key_id=settings["MINIO_ROOT_USER"],
                      aws_secret_access_key=settings["MINIO_ROOT_PASSWORD"], region_name="us-east-1")
    pieces = [answer[i:i + 64] for i in range(1024, len(answer) - 64, max(64, len(answer) // 8))] + [person.encode()]

    def holding_in_bucket() -> int:
        keys = [o["Key"] for page in s3.get_paginator("list_objects_v2").paginate(Bucket="dvc")
                for o in page.get("Contents", [])]
        bodies = (s3.get_object(Bucket="dvc", Key=k)["Body"].read() for k in keys)  # each object read once
        return sum(any(p in body for p in pieces) for body in bodies)

    def holding_under(folder: Path) -> int:
        return sum(any(p in f.read_bytes() for p in pieces) for f in folder.rglob("*") if f.is_file())

    import hashlib

    digest = hashlib.md5(answer).hexdigest()
    answer_key = f"files/md5/{digest[:2]}/{digest[2:]}"

    def answer_on_s3() -> bool:
        return s3.list_objects_v2(Bucket="dvc", Prefix=answer_key).get("KeyCount", 0) > 0

    before, answer_before = holding_in_bucket(), answer_on_s3()
    ParticipantStore(website).delete(person)  # the website's withdrawal: its files go, a request is left
    printed = run([str(BIN / "sales-ability"), "forget", "--requested", "--from", str(website), "--project", str(project),
                   "--remote", "minio", "--database-url", results_url], cwd=project, env=env, timeout=600)
    record = json.loads(next((project / "erasures").glob("E-*.json")).read_text())
    return {"on_s3_before": before, "on_s3_after": holding_in_bucket(), "answer_on_s3_before": answer_before,
            "answer_on_s3_after": answer_on_s3(),
            "in_cache_after": holding_under(project / ".dvc" / "cache"),
            "in_workspace_after": holding_under(project / "data"), "status": record["status"],
            "deleted": record["removed"].get("dvc_objects_deleted"), "printed": printed.strip()[-600:]}


def review_on_postgres(stack: Stack, results_url: str, env: dict, scored: pd.DataFrame) -> dict:
    """The review workspace as the compose file's ``review`` service runs it, over the results database the batch
    filled: an admin opens a requisition for one scored applicant, a recruiter signs in and
    decides, and the decision reaches a loopback tracking system's webhook with a valid signature (the stack's
    inbox holds loose clips, not answer folders, so there is no answer to play: the decision is flagged)."""
    from sales_ability.review.accounts import create_account
    from sales_ability.review.requisitions import assign, create_requisition, record_application
    from tests.review.loopback import SECRET, Receiver

    applicant = sorted(scored.loc[scored["outcome"] == "scored", "applicant_id"])[0]
    create_account(results_url, "rita", "recruiter", "stack-test-password")
    create_requisition(results_url, "STACK-1", "Field sales (stack test)")
    assign(results_url, "STACK-1", "rita")
    record_application(results_url, applicant, "STACK-1", "ATS-STACK-1")
    tracking, port = Receiver(), free_port()
    review_env = {**env, "SALES_ABILITY_DATABASE_URL": results_url, "SALES_ABILITY_REVIEW_WEBHOOK_URL": tracking.url,
                  "SALES_ABILITY_REVIEW_WEBHOOK_SECRET": SECRET, "SALES_ABILITY_REVIEW_COOKIE_SECURE": "false"}
    stack.start("review", [str(BIN / "sales-ability"), "review", "serve", "--port", str(port)], env=review_env)
    base = f"http://127.0.0.1:{port}"
    wait_for("review workspace", lambda: httpx.get(f"{base}/signin", timeout=5).status_code == 200, 120, 1)
    with httpx.Client(base_url=base, timeout=30) as browser:
        signed = browser.post("/signin", data={"username": "rita", "password": "stack-test-password"})
        page = browser.get("/requisitions/STACK-1").text
        csrf = re.search(r'name="csrf-token" content="([^"]+)"', page).group(1)
        version = re.search(r"Model version <strong>([^<]+)</strong>", page).group(1)
        decided = browser.post(f"/requisitions/STACK-1/applicants/{applicant}/decision",
                               data={"csrf_token": csrf, "decision": "hold", "reason": "second_opinion", "version": version})
    wait_for("the decision at the webhook", lambda: any(e["kind"] == "decision" for e in tracking.events.values()), 60, 0.5)
    tracking.close()
    return {"applicant_in_list": applicant in page, "signed_in": signed.status_code, "decided": decided.status_code, "model_version": version, "signature_refused": tracking.refused,
            "webhook_events": sorted(e["kind"] for e in tracking.events.values()),
            "decision_delivered": any(e["kind"] == "decision" and e["applicant_id"] == applicant for e in tracking.events.values())}
