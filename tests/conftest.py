"""Shared fixtures: a small demo dataset and its face tensors, made once per test session."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# JAX compiles every op and step with XLA; in these tiny runs compiling is most of the time, and XLA's CPU backend
# without LLVM's optimisations compiles about a third faster (the results are the same; only speed differs)
os.environ.setdefault("XLA_FLAGS", "--xla_backend_optimization_level=0")
# make test runs three workers and their stage processes on two cores: TensorFlow's own thread pools per process
# only add to that contention, and the tests' tiny models gain little from them. With one thread each, make test
# took 365 s and 380 s against 405 s and 381 s (ABBA order; docs/measurements.md, sixth session): a few percent, within
# the machine's drift; the product keeps TensorFlow's defaults.
os.environ.setdefault("TF_NUM_INTRAOP_THREADS", "1")
os.environ.setdefault("TF_NUM_INTEROP_THREADS", "1")
# scikit-learn's OpenMP threads (KMeans, PCA) spin between parallel regions by default, which on two cores shared
# by three workers takes CPU from the others: three `rate` stages at once took 16.6 and 15.6 CPU s spinning, 14.6
# and 14.7 waiting passively (ABAB; docs/measurements.md, twelfth session). YuNetDetector sets the same for itself.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
# registered versions fetched by the tests stay in this session's own cache (and its subprocesses')
os.environ.setdefault("SALES_ABILITY_MODEL_CACHE", __import__("tempfile").mkdtemp(prefix="sales-ability-model-cache-"))
# never the project's own store (the Makefile exports it): a test's runs and models go to this session's store
os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{__import__('tempfile').mkdtemp(prefix='sales-ability-mlflow-')}/mlflow.db"

REPO = Path(__file__).resolve().parents[1]


# The files that take longest, longest first (`make test --durations` shows them): `make test` hands files out in
# collection order (--no-loadscope-reorder), so the longest start at once and the short ones fill the gaps after,
# instead of the session's `dvc repro` starting last behind a hundred small tests. The browser file mostly waits
# for real-time recordings, so it starts beside the two that use a core each, and the DAG file (CPU-bound) after
# it: with the DAG file first, the three competed while the repro ran and the machine then sat 35 CPU s idle while
# the retraining file waited for the repro, against 14 s in this order (docs/measurements.md, twelfth session).
LONGEST_FIRST = (
    "tests/pipeline/test_dvc_repro.py",
    "tests/model/test_jax_backend.py",
    "tests/collect/test_browser.py",
    "tests/dags/test_dags.py",
    "tests/model/test_model.py",
    # after the others, so that the run's `dvc repro` (started by the first file) is done when they need it
    "tests/pipeline/test_retraining_dag.py",
    "tests/pipeline/test_dvc_experiments.py",
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    def rank(item: pytest.Item) -> int:
        path = item.nodeid.split("::")[0]
        return LONGEST_FIRST.index(path) if path in LONGEST_FIRST else len(LONGEST_FIRST)

    items.sort(key=rank)  # stable: within a file, and among the rest, the order stays


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO


@pytest.fixture(scope="session", autouse=True)
def _outside_the_checkout(tmp_path_factory: pytest.TempPathFactory):
    """Each worker works in a folder of its own, not in the checkout: what code writes relative to the working
    directory (MLflow's default artifact root ``./mlruns``, a project's default ``results.db``) stays in the run's
    temporary folder instead of mixing the tests' runs and models into the demo's ``mlruns``."""
    checkout = os.getcwd()
    os.chdir(tmp_path_factory.mktemp("cwd"))
    yield
    os.chdir(checkout)


@pytest.fixture(scope="session")
def demo_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """12 demo clips of 3 participants (64 frames each), written once per `make test` (``once_per_run``) and
    only read by the tests (each copies what it changes)."""
    from sales_ability.data.demo_data import write_demo_dataset

    return once_per_run(tmp_path_factory, "demo", lambda out: write_demo_dataset(out, clips=12, clips_per_participant=4,
                                                                                 seed=11))


@pytest.fixture(scope="session")
def featurized_demo(demo_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo clips featurized with the default parameters (shards of 5), once per `make test`, read only."""
    from sales_ability.config import FeaturizeParams
    from sales_ability.data.datasets import demo_manifest
    from sales_ability.data.featurize import featurize_manifest

    def featurize(out: Path) -> None:
        summary = featurize_manifest(demo_manifest(demo_dir), out, FeaturizeParams(shard_size=5), progress=False)
        assert summary.kept == 12 and summary.rejected == 0

    return once_per_run(tmp_path_factory, "faces", featurize)


def _empty_mlflow_store(folder: Path) -> None:
    """An MLflow SQLite store holding MLflow's tables and its default experiment, as a first use leaves it."""
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

    folder.mkdir(parents=True)
    SqlAlchemyStore(f"sqlite:///{folder / 'mlflow.db'}", str(folder / "mlruns")).engine.dispose()


def empty_mlflow_store(uri: str, tmp_path_factory: pytest.TempPathFactory) -> str:
    """The SQLite file of ``uri`` as a new, empty MLflow store (one that exists is kept); returns ``uri``. A first use of a SQLite store runs MLflow's
    migrations (about 1.3 CPU s, and make test opened a dozen): so they run once per `make test`
    (``once_per_run``) and each store starts as a copy. Experiments created later keep their artifacts under the
    working directory that creates them (``_outside_the_checkout``); experiment 0's are under the template's folder."""
    template = once_per_run(tmp_path_factory, "mlflow_store", _empty_mlflow_store) / "mlflow.db"
    db_file = Path(uri.removeprefix("sqlite:///"))
    if not db_file.exists():
        db_file.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(template, db_file)
    return uri


@pytest.fixture()
def isolated_mlflow(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory):
    """A fresh SQLite MLflow store for one test: the variable, and MLflow's in-process URI, which an earlier
    test's ``mlflow.set_tracking_uri`` in the same worker would otherwise keep (it outranks the variable)."""
    import mlflow

    session_uri, uri = os.environ["MLFLOW_TRACKING_URI"], empty_mlflow_store(f"sqlite:///{tmp_path / 'mlflow.db'}", tmp_path_factory)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    mlflow.set_tracking_uri(uri)
    yield uri
    mlflow.set_tracking_uri(session_uri)


def copy_project(dest: Path) -> Path:
    """Copy the tracked project files (no data, no .venv) into ``dest`` for a pipeline test."""
    files = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=REPO, capture_output=True, text=True, check=True,
    ).stdout.split()
    for rel in files:
        src = REPO / rel
        if src.is_file():
            target = dest / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, target)
    return dest


def _reproduce(root: Path, env: dict) -> None:
    """`dvc repro` of the demo with small params in ``root`` (a fresh git repository), then a person's promotion."""
    import yaml

    params = yaml.safe_load((root / "params.yaml").read_text())
    params["demo"]["clips"] = 12  # 12 people: 7 train, 3 validation, 2 test
    params["demo"]["collected_participants"] = 5  # phase 2: 25 answers, plus the broken participants
    params["demo"]["answer_seconds"] = [16, 26]  # 1 or 2 segments of ~15 s each: the adapter segments for real
    params["demo"]["collected_fps"] = 6  # the shortest segment (11.25 s: round(23/15) = 2) still holds 67 frames
    params["train"]["epochs"] = 2
    params["finetune"]["epochs"] = 1
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    for cmd in (["git", "init", "-q"], ["git", "add", "-A"],
                ["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "init"]):
        assert subprocess.run(cmd, cwd=root, env=env, capture_output=True).returncode == 0
    repro = subprocess.run(["dvc", "repro"], cwd=root, env=env, capture_output=True, text=True, timeout=1800)
    assert repro.returncode == 0, repro.stdout[-3000:] + repro.stderr[-3000:]
    for cmd in (["git", "add", "-A"], ["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "repro"]):
        assert subprocess.run(cmd, cwd=root, env=env, capture_output=True).returncode == 0  # dvc.lock, metrics
    # the registry is untouched by `dvc repro`: a person proposes the candidate and approves it, as in production
    # (the override: a handful of selection people cannot pass the audit's gate)
    cli = str(Path(sys.executable).parent / "sales-ability")
    proposed = subprocess.run([cli, "promote", "propose"], cwd=root, env=env, capture_output=True, text=True, timeout=900)
    assert proposed.returncode == 0, proposed.stdout[-3000:] + proposed.stderr[-3000:]
    version = proposed.stderr.split("version ")[-1].split()[0]
    decided = subprocess.run([cli, "promote", "decide", version, "--approve", "--override", "--by", "test session",
                              "--reason", "the reproduced demo for the tests"], cwd=root, env=env, capture_output=True, text=True)
    assert decided.returncode == 0, decided.stderr[-3000:]


def _project_env(root: Path) -> dict:
    return {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
            "MLFLOW_TRACKING_URI": f"sqlite:///{root / 'mlflow.db'}", "TF_CPP_MIN_LOG_LEVEL": "2"}


def once_per_run(tmp_path_factory: pytest.TempPathFactory, name: str, build) -> Path:
    """``build(folder)`` once per `make test`, shared by the workers: the first to ask builds ``folder`` behind a
    file lock (pytest-xdist's pattern for a session fixture run once), the others wait for it; a failure is
    recorded for them instead of being repeated by every worker."""
    from filelock import FileLock

    base = tmp_path_factory.getbasetemp()
    shared = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base  # the run's folder, above the workers'
    folder, failed, done = shared / name, shared / f"{name}.failed", shared / f"{name}.done"
    with FileLock(str(shared / f"{name}.lock")):
        if failed.is_file():
            pytest.fail(f"the run's {name} failed in another worker:\n{failed.read_text()}")
        if not done.is_file():
            try:
                build(folder)
            except Exception as error:  # a failed step or a timeout: recorded for the workers that wait
                failed.write_text(f"{type(error).__name__}: {error}")
                raise
            done.touch()
    return folder


@pytest.fixture(scope="session")
def reproduced_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One `dvc repro` of the demo per `make test` (``once_per_run``). Never used in place: each test file works
    on its own copy (``reproduced_project``), so files that change the project run on different workers at once."""
    def reproduce(root: Path) -> None:
        env = _project_env(root)
        empty_mlflow_store(env["MLFLOW_TRACKING_URI"], tmp_path_factory)
        _reproduce(copy_project(root), env)

    return once_per_run(tmp_path_factory, "reproduced", reproduce)


@pytest.fixture(scope="module")
def reproduced_project(reproduced_template: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    """A copy of the run's reproduced demo project for one test file (git, DVC cache, MLflow store and all).

    The tests of one file share it; a test that changes its params puts them back. MLflow's artifact locations
    are absolute, so a copy's new runs keep their artifacts under the template's folder (each in its run's own
    folder). Returns the project folder and the environment to run its commands in.
    """
    root = tmp_path_factory.mktemp("project") / "project"
    shutil.copytree(reproduced_template, root, symlinks=True)
    return root, _project_env(root)


def run_in_project(cmd: list[str], root: Path, env: dict) -> subprocess.CompletedProcess:
    """Run a command (dvc, git, the CLI) in a reproduced project with its environment."""
    return subprocess.run(cmd, cwd=root, env=env, capture_output=True, text=True, timeout=1800)


DAG_RUNNER = Path(__file__).parent / "dags" / "dag_runner.py"


def _airflow_env(home: Path) -> dict:
    return {
        **os.environ,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
        "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
        "TF_CPP_MIN_LOG_LEVEL": "2",
        "MLFLOW_TRACKING_URI": f"sqlite:///{home / 'mlflow.db'}",
    }


def _migrate_airflow(home: Path) -> None:
    """An Airflow metadata database as a deployment leaves it: migrated, with the training pool."""
    home.mkdir(parents=True)
    env, airflow = _airflow_env(home), str(Path(sys.executable).parent / "airflow")
    migrate = subprocess.run([airflow, "db", "migrate"], env=env, capture_output=True, text=True, timeout=600)
    assert migrate.returncode == 0, migrate.stderr[-2000:]
    pool = subprocess.run([airflow, "pools", "set", "sales_ability_training", "1", "one dvc repro at a time"], env=env,
                          capture_output=True, text=True, timeout=300)
    assert pool.returncode == 0, pool.stderr[-2000:]


@pytest.fixture(scope="module")
def airflow_env(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """An Airflow home of this test file's own, whose database is a copy of the run's one migrated database
    (``airflow db migrate`` once per `make test`, not once per file)."""
    migrated = once_per_run(tmp_path_factory, "airflow_migrated", _migrate_airflow)
    home = tmp_path_factory.mktemp("airflow_home")
    shutil.copy2(migrated / "airflow.db", home / "airflow.db")
    env = _airflow_env(home)
    empty_mlflow_store(env["MLFLOW_TRACKING_URI"], tmp_path_factory)
    return env


def run_dag(dag_id: str, conf: dict, env: dict, keep_retries: bool = False, answer: dict | None = None) -> dict:
    """Run a DAG with ``dag.test()`` (tests/dags/dag_runner.py); ``answer`` is what a person answers to every
    human-in-the-loop task of the run."""
    args = [sys.executable, str(DAG_RUNNER), dag_id, json.dumps(conf), "keep-retries" if keep_retries else "",
            json.dumps(answer) if answer else ""]
    proc = subprocess.run(args, env=env, capture_output=True, text=True, timeout=1800)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("DAG_RESULT ")]
    assert proc.returncode == 0 and lines, proc.stdout[-3000:] + proc.stderr[-5000:]
    return json.loads(lines[-1].removeprefix("DAG_RESULT "))


def run_dags(runs: list[dict], env: dict) -> list[dict]:
    """Several DAG runs in one process (one Airflow start-up): each ``{"dag_id", "conf", "keep_retries", "env"}``,
    ``env`` holding that run's own SALES_ABILITY_* variables, and optionally ``before``/``after``: files copied in
    before the run, and out after it (tests/dags/dag_runner.py)."""
    proc = subprocess.run([sys.executable, str(DAG_RUNNER), "--many", json.dumps(runs)], env=env, capture_output=True,
                          text=True, timeout=1800)
    results = [json.loads(line.removeprefix("DAG_RESULT ")) for line in proc.stdout.splitlines()
               if line.startswith("DAG_RESULT ")]
    assert proc.returncode == 0 and len(results) == len(runs), proc.stdout[-3000:] + proc.stderr[-5000:]
    return results


def run_cli(*args: str, cwd: Path | None = None, timeout: float = 600):
    """Run the installed ``sales-ability`` console script (the venv's, whatever PATH says)."""
    exe = Path(sys.executable).parent / "sales-ability"
    return subprocess.run([str(exe), *map(str, args)], capture_output=True, text=True, cwd=cwd, timeout=timeout)


@pytest.fixture(scope="session")
def face_y4m(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A Y4M of a demo talking head at 30 fps (what Chromium's fake camera plays in the browser tests)."""
    from tests.recordings import demo_face_y4m

    return demo_face_y4m(tmp_path_factory.mktemp("y4m") / "face.y4m", seconds=4.0, fps=30)


@pytest.fixture(scope="session")
def chrome_takes(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Three real headless-Chromium MediaRecorder takes of a face (VP9 + Opus WebM, no Duration, no Cues):
    5, 5.5 and 9 s, recorded once per `make test` (``once_per_run``) for the files that read them."""
    from tests.recordings import chromium_recordings, demo_face_y4m

    def record(work: Path) -> None:
        work.mkdir(parents=True, exist_ok=True)
        face = demo_face_y4m(work / "face.y4m", seconds=4.0, fps=30)
        for i, data in enumerate(chromium_recordings(face, [5.0, 5.5, 9.0], work)):
            (work / f"take_{i}.webm").write_bytes(data)

    work = once_per_run(tmp_path_factory, "chrome_takes", record)
    return [work / f"take_{i}.webm" for i in range(3)]


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An untrained tiny model saved with featurize settings and a calibration set, as the stages save one."""
    import numpy as np

    from sales_ability.config import FeaturizeParams
    from sales_ability.model.calibration import save_calibration
    from sales_ability.model.network import build_model, seed_everything
    from sales_ability.model.training import save_model
    from sales_ability.registry.models import save_featurize_params
    from sales_ability.traits import TRAITS

    folder = tmp_path_factory.mktemp("tiny_model")
    seed_everything(0)
    save_model(build_model("tiny"), folder / "model.keras")
    save_featurize_params(folder, FeaturizeParams(clip_seconds=4.0))
    rng = np.random.default_rng(0)
    truth = {t: rng.uniform(0.2, 0.8, 40).round(4).tolist() for t in TRAITS}
    save_calibration(folder, {"split": "validation", "n": 40, "participant_id": ["v"] * 40,
                              "predicted": {t: (np.array(v) + rng.normal(0, 0.05, 40)).clip(0, 1).tolist() for t, v in truth.items()},
                              "true": truth})
    return folder / "model.keras"

