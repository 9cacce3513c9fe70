"""The champion as an MLflow Model: one folder that carries everything serving needs.

Layout (what ``build_mlflow_model`` writes; ``log_mlflow_model`` logs it as a LoggedModel of the evaluate run, so it
shows in the experiment's Models tab and registers from ``models:/<model_id>``)::

    MLmodel                      flavors: python_function (ApplicantScorer) and keras
    python_model.pkl             the ApplicantScorer (pickled by reference to the package in code/)
    code/sales_ability/          the package itself (``code_paths``): nothing to install from an index
    artifacts/serving/           the serving contract, one folder:
        model.keras              the CNN-LSTM network (the keras flavor's data)
        featurize.json           featurize and segmentation settings of its training tensors
        calibration.json         validation predictions and truths, for the intervals
        knowledge_base.json      the thresholds that turn traits into 1..10 scores
        label_means.json, model_card.md
    input_example.json, serving_input_example.json, requirements.txt, python_env.yaml

``mlflow.pyfunc.load_model(uri).predict(pd.DataFrame({"path": [...]}))`` takes video files or applicant
folders and returns one row per applicant (``APPLICANT_OUTPUT``); ``mlflow models serve`` serves the same.

Confined to one inbox: every path is resolved (links followed) and must lie strictly inside the serving root
(``model_config={"inbox_root": ...}``, else ``SALES_ABILITY_SERVE_ROOT``, else ``./inbox``). A folder must be
an applicant folder (its ``answer_<n>`` recordings are taken, nothing is walked). Missing, unreadable and
outside all answer with one message, so the server is no oracle for what exists. With
``SALES_ABILITY_SERVE_TOKEN`` set, a request must carry it as the ``token`` param. Refusals are
``MlflowException`` (400, no stack trace).
``mlflow.keras.load_model(uri)`` gives the network (after ``import sales_ability.model.network``).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd

import warnings

from mlflow.pyfunc import PythonModel

from sales_ability.data.applicant_folder import VIDEO_EXTENSIONS, answer_number
from sales_ability.io_utils import read_csv_neutralised
from sales_ability.registry.models import read_contract
from sales_ability.serving.scoring import score_videos
from sales_ability.settings import settings

# MLflow advises type hints on predict() for a signature it would infer; this model's signature is explicit
warnings.filterwarnings("ignore", message=".*Add type hints to the `predict` method", category=UserWarning)

from sales_ability.traits import TRAITS

SERVING_ARTIFACT = "serving"  # the pyfunc artifact holding the contract; also the keras flavor's data folder
KNOWLEDGE_BASE_FILE = "knowledge_base.json"
TRAINED_FILES = ("model.keras", "label_means.json", "featurize.json", "calibration.json")  # from the model folder
INPUT_COLUMN = "path"
SERVE_ROOT_ENV = "SALES_ABILITY_SERVE_ROOT"
SERVE_TOKEN_ENV = "SALES_ABILITY_SERVE_TOKEN"
MAX_INPUTS = 100  # rows per request: a request's cost is bounded
MAX_ANSWERS = 20  # answer files taken from one applicant folder
NOT_SERVABLE = "is not a video or applicant folder inside the serving inbox (missing, unreadable or outside it)"
APPLICANT_OUTPUT: tuple[str, ...] = (
    "applicant_id", "answers", "segments", "face_share", *TRAITS, *(f"score_{t}" for t in TRAITS),
    "sales_score", "sales_score_low", "sales_score_high", "rejected", "model_version", "knowledge_base_sha256",
)


class ApplicantScorer(PythonModel):
    """pyfunc: video paths or applicant folders (column ``path``) -> one ranked row per applicant.

    A video that cannot be scored is named with its reason in ``rejected`` (its applicant keeps a row, with
    empty scores when nothing of theirs could be scored); the other inputs are scored.
    """

    def load_context(self, context) -> None:
        self.model = read_contract(Path(context.artifacts[SERVING_ARTIFACT]) / "model.keras", uri="pyfunc")
        config = getattr(context, "model_config", None) or {}
        self.root = Path(config.get("inbox_root") or settings().serve_root or "inbox").resolve()

    def predict(self, context, model_input, params: dict[str, Any] | None = None) -> pd.DataFrame:
        params = params or {}
        _check_token(params.get("token"))
        coverage = _coverage(params.get("coverage", 0.9))
        paths = confined_paths(_input_paths(model_input), getattr(self, "root", Path("inbox").resolve()))
        try:
            with tempfile.TemporaryDirectory(prefix="pyfunc-") as out:
                score_videos(paths, out, self.model.knowledge_base, self.model, progress=False, write_report=False,
                             coverage=coverage)
                applicants = pd.read_parquet(Path(out) / "applicants.parquet")
                rejects = read_csv_neutralised(Path(out) / "rejects.csv")
                done = json.loads((Path(out) / "done.json").read_text())
        except Exception as err:  # noqa: BLE001 - logged here; the client gets one line, never a stack trace
            logging.getLogger(__name__).exception("scoring a request failed")
            raise _refused(f"scoring failed ({type(err).__name__}); the server's log has the details") from None
        owner = {v["path"]: a["applicant_id"] for a in done["applicants"] for v in a["videos"]}
        return applicant_output(applicants, rejects.assign(applicant_id=rejects["source"].map(owner)), self.model.version,
                                self.model.knowledge_base_sha256)


def _refused(message: str):
    from mlflow.exceptions import MlflowException
    from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE

    return MlflowException(message, error_code=INVALID_PARAMETER_VALUE)


def _check_token(given: object) -> None:
    """With ``SALES_ABILITY_SERVE_TOKEN`` set, the request's ``token`` param must equal it."""
    import hmac

    secret = settings().serve_token
    expected = secret.get_secret_value() if secret is not None else None
    if expected and not (isinstance(given, str) and hmac.compare_digest(given.encode(), expected.encode())):
        raise _refused("unauthorised: pass the serving token as the 'token' param")


def _coverage(value: object) -> float:
    """The intervals' nominal coverage: a number strictly between 0 and 1."""
    import math

    try:
        coverage = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        coverage = math.nan
    if not (math.isfinite(coverage) and 0 < coverage < 1):
        raise _refused(f"coverage must be a number strictly between 0 and 1, got {value!r}")
    return coverage


def confined_paths(values: list[str], root: Path) -> list[str]:
    """The recordings to score: each value (absolute, or relative to ``root``) resolved and strictly inside
    ``root``; a video file as itself, an applicant folder as its ``answer_<n>`` recordings (regular files, at
    most ``MAX_ANSWERS``, no walk). Anything else raises one refusal that names only the row."""
    if len(values) > MAX_INPUTS:
        raise _refused(f"at most {MAX_INPUTS} paths per request, got {len(values)}")
    out: list[str] = []
    for i, value in enumerate(values):
        candidate = Path(value) if Path(value).is_absolute() else root / value
        try:
            real = candidate.resolve(strict=True)
            inside = root in real.parents
            if inside and real.is_file() and real.suffix.lower() in VIDEO_EXTENSIONS and os.access(real, os.R_OK):
                out.append(str(real))
                continue
            if inside and real.is_dir():
                answers = sorted(e.path for e in os.scandir(real) if e.is_file(follow_symlinks=False)
                                 and answer_number(e.name) is not None and Path(e.name).suffix.lower() in VIDEO_EXTENSIONS
                                 and os.access(e.path, os.R_OK))
                if 0 < len(answers) <= MAX_ANSWERS:
                    out.extend(answers)
                    continue
        except (OSError, RuntimeError):
            pass
        raise _refused(f"input row {i} {NOT_SERVABLE}")
    return out


def _input_paths(model_input) -> list[str]:
    """The ``path`` column of a DataFrame (or a list of paths), each checked to be a non-empty string."""
    if isinstance(model_input, pd.DataFrame):
        if INPUT_COLUMN not in model_input.columns:
            raise _refused(f"input needs a {INPUT_COLUMN!r} column (video files or applicant folders); "
                           f"got {list(model_input.columns)}")
        values = model_input[INPUT_COLUMN].tolist()
    else:
        values = list(model_input)
    for i, value in enumerate(values):
        if not isinstance(value, str) or not value or "\0" in value:
            raise _refused(f"input row {i}: {INPUT_COLUMN!r} must be a path, got {type(value).__name__}")
    return values


def applicant_output(applicants: pd.DataFrame, rejects: pd.DataFrame, version: str, kb_sha256: str) -> pd.DataFrame:
    """Applicant rows in the pyfunc's output schema; rejected videos (``rejects`` with their ``applicant_id``)
    are listed per applicant."""
    reasons: dict[str, list[str]] = {}
    for applicant, source, reason in zip(rejects["applicant_id"], rejects["source"], rejects["reason"], strict=True):
        reasons.setdefault(str(applicant), []).append(f"{Path(str(source)).name}: {reason}")
    missing = [a for a in reasons if a not in set(applicants["applicant_id"])]
    out = pd.concat([applicants, pd.DataFrame({"applicant_id": missing})], ignore_index=True) if missing else applicants
    out = out.assign(rejected=out["applicant_id"].map(lambda a: "; ".join(reasons.get(a, []))),
                     model_version=version, knowledge_base_sha256=kb_sha256)
    return out.reindex(columns=list(APPLICANT_OUTPUT))


def signature():
    """Input: one ``path`` per row; output: ``APPLICANT_OUTPUT``; param ``coverage`` (the intervals' nominal)."""
    from mlflow.models import ModelSignature
    from mlflow.types.schema import ColSpec, ParamSchema, ParamSpec, Schema

    text = ("applicant_id", "rejected", "model_version", "knowledge_base_sha256")
    counts = ("answers", "segments")
    outputs = [ColSpec("string" if c in text else "long" if c in counts else "double", c, required=c in text[:1])
               for c in APPLICANT_OUTPUT]
    return ModelSignature(inputs=Schema([ColSpec("string", INPUT_COLUMN)]), outputs=Schema(outputs),
                          params=ParamSchema([ParamSpec("coverage", "double", 0.9), ParamSpec("token", "string", "")]))


def log_mlflow_model(model_dir: Path, kb_file: Path, card: str, example_paths: list[str], tags: dict[str, str]) -> str:
    """Log the MLflow Model of ``build_mlflow_model`` as a LoggedModel of the active run; returns its model id.

    MLflow 3's own steps for a model whose folder is built by hand (``log_model`` would drop the keras flavor
    added beside the pyfunc): initialise the LoggedModel, write its id into ``MLmodel``, upload the folder,
    record it as the run's output and mark it READY (FAILED when anything on the way fails)."""
    import mlflow
    from mlflow import MlflowClient
    from mlflow.entities import LoggedModelOutput

    run = mlflow.active_run()
    if run is None:
        raise RuntimeError("log_mlflow_model needs an active MLflow run")
    logged = mlflow.initialize_logged_model(name="model", source_run_id=run.info.run_id, model_type="sales-ability",
                                            tags=tags)
    try:
        with tempfile.TemporaryDirectory(prefix="mlflow-model-") as tmp:
            folder = build_mlflow_model(model_dir, kb_file, card, Path(tmp) / "model", example_paths,
                                        model_id=logged.model_id, run_id=run.info.run_id)
            client = MlflowClient()
            client.log_model_artifacts(logged.model_id, str(folder))
            client.log_outputs(run.info.run_id, [LoggedModelOutput(logged.model_id, step=0)])
    except BaseException:
        mlflow.finalize_logged_model(logged.model_id, "FAILED")
        raise
    mlflow.finalize_logged_model(logged.model_id, "READY")
    return logged.model_id


def build_mlflow_model(model_dir: Path, kb_file: Path, card: str, dest: Path, example_paths: list[str],
                       model_id: str | None = None, run_id: str | None = None) -> Path:
    """Write the MLflow Model folder ``dest`` from a trained model folder (``model.keras`` and its contract),
    the knowledge base and the model card; ``example_paths`` make the input example. ``model_id`` and ``run_id``
    (a LoggedModel's) are written into ``MLmodel``."""
    import keras
    import mlflow

    with tempfile.TemporaryDirectory(prefix="contract-") as tmp:
        serving = Path(tmp) / SERVING_ARTIFACT
        serving.mkdir()
        for name in TRAINED_FILES:
            if (model_dir / name).is_file():
                shutil.copy2(model_dir / name, serving / name)
        shutil.copy2(kb_file, serving / KNOWLEDGE_BASE_FILE)
        (serving / "model_card.md").write_text(card)
        if dest.exists():
            shutil.rmtree(dest)
        with _quiet_pyfunc():
            # the package travels inside the model (code/sales_ability): no requirement names a package the public
            # index does not hold, so no environment manager can install a stranger's `sales-ability` instead
            mlflow.pyfunc.save_model(
                str(dest), python_model=ApplicantScorer(), artifacts={SERVING_ARTIFACT: str(serving)},
                signature=signature(), input_example=pd.DataFrame({INPUT_COLUMN: example_paths[:2]}),
                pip_requirements=_requirements(), code_paths=[str(Path(__file__).resolve().parents[1])],
                mlflow_model=mlflow.models.Model(model_id=model_id, run_id=run_id) if model_id else None,
            )
    # the same network under the keras flavor: mlflow.keras.load_model reads <data>/model.keras
    meta = mlflow.models.Model.load(str(dest / "MLmodel"))
    meta.add_flavor("keras", data=f"artifacts/{SERVING_ARTIFACT}", keras_version=keras.__version__,
                    keras_backend=keras.backend.backend(), save_exported_model=False)
    meta.save(str(dest / "MLmodel"))
    return dest


@contextmanager
def _quiet_pyfunc() -> Iterator[None]:
    """Without MLflow's warning on pickled python_models: the pickle holds only a reference to the installed class."""
    import logging

    logger = logging.getLogger("mlflow.pyfunc")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def _requirements() -> list[str]:
    """What the package serves with (the package itself travels as code), pinned to this environment's versions."""
    from importlib.metadata import version

    names = ("mlflow", "keras", "pandas", "pyarrow", "av", "opencv-python-headless", "scipy")
    pins = []
    for name in names:
        try:
            pins.append(f"{name}=={version(name)}")
        except Exception:  # noqa: BLE001 - a package this environment does not have is simply not pinned
            continue
    return pins


def example_request(paths: list[str]) -> str:
    """The JSON body ``mlflow models serve`` takes for ``paths``."""
    return json.dumps({"dataframe_split": {"columns": [INPUT_COLUMN], "data": [[p] for p in paths]}})
