"""The model registry and the serving contract: the one place a model is named, found and promoted.

Promotion lives in ``operations.promotion``: a candidate is registered as ``challenger`` (awaiting a decision),
compared with the champion on held-out people, and only a person's recorded approval moves ``champion``.

Serving contract: ``resolve_model`` turns ``models:/NAME@alias``, ``models:/NAME/VERSION``, ``runs:/...`` or
a ``.keras`` path into the model file, its version, the featurize and segmentation settings it was trained
with (``featurize.json``) and its calibration set (``calibration.json``), all written beside ``model.keras``
by the train and finetune stages and logged with it to MLflow.
The model name comes only from params ``registry.model_name``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from sales_ability.config import FeaturizeParams, RegistryParams, load_params
from sales_ability.errors import ModelError
from sales_ability.io_utils import content_hash, write_json_atomic
from sales_ability.knowledge.rate import load_knowledge_base
from sales_ability.model.calibration import read_calibration
from sales_ability.registry.tracking import http_timeout, tracking_uri
from sales_ability.settings import settings

CHAMPION = "champion"
CHALLENGER = "challenger"
FEATURIZE_FILE = "featurize.json"  # beside model.keras: the featurize settings the model was trained with


def champion_uri(model_name: str) -> str:
    """``models:/NAME@champion``: what scoring uses unless told otherwise."""
    return f"models:/{model_name}@{CHAMPION}"


def pin_version(uri: str, tracking: str | None = None) -> str:
    """``models:/NAME@alias`` as ``models:/NAME/<the version the alias names now>``; any other URI unchanged.

    A batch run pins its model once, so every shard and every retry scores with the same version whatever
    is promoted meanwhile.

    Raises:
        ModelError: no such registered model or alias, or an unreachable registry.
    """
    if not uri.startswith("models:/") or "@" not in uri:
        return uri
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    tracking = tracking or tracking_uri()
    name, _, alias = uri.removeprefix("models:/").partition("@")
    try:
        version = _registered_version(MlflowClient(tracking, registry_uri=tracking), uri, name, alias, "", tracking)
    except MlflowException as err:
        raise registry_error(uri, tracking, err) from None
    return f"models:/{name}/{version.version}"


def project_model_name(project: str | Path) -> str:
    """``registry.model_name`` of the project's params.yaml (its default when the project has none).

    Raises:
        ConfigError: params.yaml is not valid.
    """
    path = Path(project) / "params.yaml"
    return load_params(path).registry.model_name if path.is_file() else RegistryParams().model_name


def champion_version(model_name: str, tracking: str | None = None) -> str | None:
    """The registry version holding the ``champion`` alias, or None."""
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    try:
        return str(MlflowClient(tracking or tracking_uri()).get_model_version_by_alias(model_name, CHAMPION).version)
    except MlflowException:
        return None


def save_featurize_params(model_dir: str | Path, params: FeaturizeParams) -> Path:
    """Store the featurize settings a model is trained with beside its ``model.keras``."""
    path = Path(model_dir) / FEATURIZE_FILE
    write_json_atomic(path, params.tensor_settings())
    return path


def read_featurize_params(model_dir: str | Path) -> FeaturizeParams | None:
    """The featurize settings stored beside a model, or None for a model saved without them.

    Raises:
        ModelError: the file exists but is not valid.
    """
    path = Path(model_dir) / FEATURIZE_FILE
    if not path.is_file():
        return None
    try:
        return FeaturizeParams.model_validate(json.loads(path.read_text()))
    except ValueError as err:
        raise ModelError(f"{path}: not valid featurize settings ({err})") from None


@dataclass(frozen=True)
class ResolvedModel:
    """A model ready to score with."""

    uri: str
    file: Path  # the .keras file
    version: str  # the registry version, or ``sha256:<12 hex>`` of the file for runs:/ URIs and paths
    featurize: FeaturizeParams | None  # what it was trained with; None for a model saved without them
    calibration: dict | None = None  # validation predictions and truths (``model.calibration``), for intervals
    card: str | None = None  # the model card logged with the version (``model_card.md``), when there is one
    knowledge_base: dict | None = None  # the thresholds logged with the version (None: a bare .keras file)
    knowledge_base_sha256: str = ""  # of its knowledge_base.json, recorded with every result row

    def featurize_settings(self, explicit: FeaturizeParams | None = None) -> FeaturizeParams:
        """The settings to featurize with: the model's own (``explicit``'s workers and shard size kept).

        Raises:
            ModelError: ``explicit`` shapes the face tensors differently from the model's training; the
                message names each differing key.
        """
        if self.featurize is None:
            return explicit or FeaturizeParams()
        if explicit is None:
            return self.featurize
        mine, theirs = self.featurize.tensor_settings(), explicit.tensor_settings()
        differing = [f"{k} (model {mine[k]!r}, given {theirs[k]!r})" for k in mine if mine[k] != theirs[k]]
        if differing:
            raise ModelError(f"{self.uri} (version {self.version}) was trained on face tensors made with other "
                             f"featurize settings: {'; '.join(differing)}")
        return explicit




def _version_cache(tracking: str, source: str, identity: str = "") -> Path:
    """Where a registered version's files stay on this machine (a version's files never change; ``identity``,
    its creation time and run, tells apart a version of the same number in a store made anew)."""
    import hashlib

    root = Path(settings().model_cache or Path.home() / ".cache" / "sales-ability" / "models")
    return root / hashlib.sha256(f"{tracking}|{source}|{identity}".encode()).hexdigest()[:16]


def _staging(target: Path) -> str:
    import tempfile

    target.parent.mkdir(parents=True, exist_ok=True)
    return tempfile.mkdtemp(prefix=".fetch-", dir=target.parent)


def _publish(staging: Path, target: Path) -> Path:
    """Move a downloaded version into the cache; another worker may have put the same version there first."""
    import shutil

    try:
        staging.rename(target)
    except OSError:  # theirs is the same version
        shutil.rmtree(staging, ignore_errors=True)
    return target


def _registered_version(client, uri: str, name: str, alias: str, number: str, tracking: str):
    """The ``ModelVersion`` an alias or a number names, with an error that says which part is missing."""
    from mlflow.exceptions import MlflowException

    try:
        model = client.get_registered_model(name)
    except MlflowException as err:
        if err.error_code == "RESOURCE_DOES_NOT_EXIST":
            raise ModelError(f"{uri}: no registered model {name!r} in the registry at {tracking}") from None
        raise
    try:
        return client.get_model_version_by_alias(name, alias) if alias else client.get_model_version(name, number)
    except MlflowException as err:
        if err.error_code not in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"):
            raise
        known = ", ".join(sorted(model.aliases)) or "none"
        what = f"no alias {alias!r} (its aliases: {known})" if alias else f"no version {number!r}"
        raise ModelError(f"{uri}: registered model {name!r} has {what} in the registry at {tracking}") from None


def registry_error(uri: str, tracking: str, err: Exception) -> ModelError:
    """One line for a registry lookup that failed: an unreachable server, a URI scheme MLflow does not
    know, or what MLflow said."""
    text = str(err)
    if "Max retries exceeded" in text or "timed out" in text.lower() or "Connection refused" in text:
        return ModelError(f"{uri}: the tracking server {tracking} did not answer within {http_timeout():g} s "
                          f"(is it running? set MLFLOW_HTTP_REQUEST_TIMEOUT to wait longer)")
    if "scheme" in text.lower() or "Unsupported URI" in text or "not a valid" in text.lower():
        return ModelError(f"{tracking}: not a tracking URI MLflow can use (http(s)://, sqlite:///, postgresql://...)")
    return ModelError(f"{uri}: the registry at {tracking} refused the lookup: {text.splitlines()[0][:300]}")


def resolve_model(uri: str, cache_dir: str | Path | None = None, tracking: str | None = None) -> ResolvedModel:
    """The one model resolver: ``models:/NAME@alias``, ``models:/NAME/VERSION``, ``runs:/...`` or a path.

    An alias is read once and the version it names is downloaded, so a promotion during scoring cannot
    mix two models. A registered version's files go to a cache per machine (``SALES_ABILITY_MODEL_CACHE``,
    default ``~/.cache/sales-ability/models``), fetched once: each batch shard on a worker reuses them. Other
    artifacts (``runs:/``) go to ``cache_dir`` (a temporary folder when None).

    Raises:
        ModelError: no such registered model, alias, version or file, or no .keras file among its artifacts.
    """
    import mlflow
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    tracking = tracking or tracking_uri()
    version, identity = "", ""
    if uri.startswith("models:/"):
        name, _, alias = uri.removeprefix("models:/").partition("@")
        name, _, number = name.partition("/")
        try:
            client = MlflowClient(tracking, registry_uri=tracking)
            registered = _registered_version(client, uri, name, alias, number, tracking)
        except MlflowException as err:
            raise registry_error(uri, tracking, err) from None
        version = str(registered.version)
        identity = f"{registered.creation_timestamp}|{registered.run_id}"
        source = f"models:/{name}/{version}"
    else:
        source = uri
    path = Path(source)
    if not source.startswith(("models:/", "runs:/")) and "://" not in source:
        if not path.exists():
            raise ModelError(f"{uri}: model file not found")
        found = [path] if path.is_file() else sorted(path.rglob("*.keras"))
    elif version and (cached := _version_cache(tracking, source, identity)).is_dir():  # this worker fetched it already
        found = sorted(cached.rglob("*.keras"))
    else:
        # a registered version goes straight into this machine's version cache (staged, then one rename)
        target = _version_cache(tracking, source, identity) if version else None
        staging = _staging(target) if target else (str(cache_dir) if cache_dir else None)
        try:
            local = mlflow.artifacts.download_artifacts(artifact_uri=source, dst_path=staging,
                                                        tracking_uri=tracking, registry_uri=tracking)
        except MlflowException as err:
            raise ModelError(f"{uri}: its artifacts could not be fetched from {tracking} ({err.error_code}: "
                             f"{str(err).splitlines()[0][:200]})") from None
        if target:
            local = _publish(Path(staging), target)
        found = sorted(Path(local).rglob("*.keras"))
    if not found:
        raise ModelError(f"{uri}: no .keras file among the model's artifacts")
    if version and not any((p / "MLmodel").is_file() for p in found[0].parents):
        raise ModelError(f"{uri} (version {version}) is not an MLflow Model (no MLmodel among its artifacts): it was "
                         "registered before models carried their serving contract; run `dvc repro evaluate` to register one")
    return read_contract(found[0], uri, version)


def read_contract(file: Path, uri: str, version: str = "") -> ResolvedModel:
    """The serving contract stored beside a ``model.keras`` (``serving.mlflow_model``'s ``artifacts/serving``, or
    a stage's model folder): featurize settings, calibration set, knowledge base, model card.

    Raises:
        ModelError: a contract file exists but is not valid.
    """
    folder = file.parent
    kb_file = folder / "knowledge_base.json"
    kb = None
    if kb_file.is_file():
        kb = load_knowledge_base(kb_file)
    card = folder / "model_card.md"
    return ResolvedModel(uri=uri, file=file, version=version or f"sha256:{content_hash(file)[:12]}",
                         featurize=read_featurize_params(folder), calibration=read_calibration(folder),
                         card=card.read_text() if card.is_file() else None, knowledge_base=kb,
                         knowledge_base_sha256=content_hash(kb_file) if kb is not None else "")
