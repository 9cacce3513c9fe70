"""Score candidate videos end to end: featurize, predict with a registered model, rate, report."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from sales_ability.config import FeaturizeParams
from sales_ability.data.face_tensors import REJECT_COLUMNS, REJECTS_FILE
from sales_ability.errors import ModelError
from sales_ability.io_utils import atomic_path, write_csv_atomic, write_text_atomic
from sales_ability.traits import TRAITS

DEFAULT_MODEL_URI = "models:/sales-ability@champion"
RESULT_COLUMNS: tuple[str, ...] = (
    "clip_id", "source", "content_sha256", *TRAITS, *(f"score_{t}" for t in TRAITS), "sales_score",
    "face_share", "model_uri", "model_version", "knowledge_base", "scored_at",
)
STRIPS_FILE = "face_strips.parquet"  # per scored video: a few of the face crops the model saw, as one PNG
STRIP_COLUMNS: tuple[str, ...] = ("content_sha256", "clip_id", "strip_png")
STRIP_FRAMES = 6


@dataclass
class ScoreSummary:
    """What one scoring call produced."""

    scored: int
    rejected: int
    out_dir: Path


def content_hash(path: str | Path, chunk: int = 1 << 20) -> str:
    """sha256 of a file's bytes (a renamed copy has the same hash)."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def model_version(uri: str) -> str:
    """The version label of ``uri``: the registry version of ``models:/NAME@alias`` or ``models:/NAME/VERSION``,
    else the file (or artifact) name.

    Raises:
        ModelError: the registry holds no such alias or version, or the local path does not exist.
    """
    if not uri.startswith("models:/"):
        if "://" not in uri and not Path(uri).exists():
            raise ModelError(f"{uri}: model file not found")
        return Path(uri).name
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    from sales_ability.serving.tracking import tracking_uri

    name, _, alias = uri.removeprefix("models:/").partition("@")
    client = MlflowClient(tracking_uri())
    try:
        if alias:
            return str(client.get_model_version_by_alias(name, alias).version)
        name, _, version = name.partition("/")
        return str(client.get_model_version(name, version).version)
    except MlflowException as err:
        raise ModelError(f"{uri}: no such model in the registry at {tracking_uri()} ({err.error_code})") from None


def resolve_model(uri: str, cache_dir: Path) -> tuple[Path, str]:
    """The .keras file behind ``uri`` and its version label (see ``model_version``)."""
    from sales_ability.serving.registry import download_model

    version = model_version(uri)
    if uri.startswith("models:/") and "@" in uri:  # download the version the alias pointed at just now
        uri = f"models:/{uri.removeprefix('models:/').partition('@')[0]}/{version}"
    return download_model(uri, cache_dir), version


def predict_folder(model_file: Path, faces: Path) -> pd.DataFrame:
    """Predict every clip of a featurized folder (labelled or not): clip_id, source, five traits."""
    from sales_ability.model.feed import FaceTensorDataset
    from sales_ability.model.training import load_model

    data = FaceTensorDataset(faces, None, batch_size=8, labelled_only=False)
    pred = load_model(model_file).predict(data, verbose=0)
    frame = pd.DataFrame(np.asarray(pred).round(6), columns=list(TRAITS))
    frame.insert(0, "clip_id", data.clip_ids)
    frame.insert(1, "source", data.sources)
    return frame


def face_strips(faces: Path, n_frames: int = STRIP_FRAMES) -> pd.DataFrame:
    """Per featurized clip: ``face_share`` (frames where a face was found) and ``strip_png``, ``n_frames``
    evenly spaced crops side by side, so a reviewer can see what the model looked at."""
    import io

    from PIL import Image

    from sales_ability.data.face_tensors import frames_array, read_face_tensors

    table = read_face_tensors(faces, columns=["clip_id", "frames", "face_found"])
    frames = frames_array(table) if table.num_rows else np.zeros((0, 1, 1, 1, 3), np.uint8)
    rows = []
    for clip_id, clip, found in zip(table.column("clip_id").to_pylist(), frames, table.column("face_found").to_pylist(), strict=True):
        picks = np.linspace(0, len(clip) - 1, min(n_frames, len(clip))).round().astype(int)
        buffer = io.BytesIO()
        Image.fromarray(np.concatenate(list(clip[picks]), axis=1)).save(buffer, format="PNG", optimize=True)
        rows.append({"clip_id": clip_id, "face_share": round(float(np.mean(found)), 4), "strip_png": buffer.getvalue()})
    return pd.DataFrame(rows, columns=["clip_id", "face_share", "strip_png"])


def score_videos(
    inputs: list[str | Path],
    out_dir: str | Path,
    kb: dict,
    model_uri: str = DEFAULT_MODEL_URI,
    featurize_params: FeaturizeParams | None = None,
    workers: int = 1,
    progress: bool = True,
    write_report: bool = True,
    known_hashes: dict[str, str] | None = None,
) -> ScoreSummary:
    """Featurize ``inputs``, predict traits, rate them, and write ``results.parquet``, ``results.csv``,
    ``rejects.csv`` and ``report.html`` into ``out_dir``. Bad videos are listed with their reason.
    ``known_hashes`` (path -> sha256) spares re-reading videos whose content hash the caller already has."""
    from sales_ability.data.datasets import manifest_from_inputs
    from sales_ability.data.featurize import featurize_manifest
    from sales_ability.knowledge.rate import rate

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    manifest = manifest_from_inputs(inputs)
    summary = featurize_manifest(manifest, out_dir / "faces", featurize_params or FeaturizeParams(), workers, progress)
    rejects = pd.DataFrame(summary.rejects, columns=list(REJECT_COLUMNS))
    if summary.kept:
        model_file, version = resolve_model(model_uri, out_dir / "model")
        predictions = predict_folder(model_file, out_dir / "faces")
        strips = face_strips(out_dir / "faces")
        predictions = predictions.merge(strips[["clip_id", "face_share"]], on="clip_id", how="left")
        rated, bad = rate(predictions, kb)
        if len(bad):  # a model output outside [0, 1] would be a bug; keep it visible, not lost
            rejects = pd.concat([rejects, bad.assign(source=bad["clip_id"], reason="rating: " + bad["reason"])])
    else:
        rated, version = pd.DataFrame(columns=["clip_id", "source", *TRAITS]), ""
        strips = pd.DataFrame(columns=["clip_id", "face_share", "strip_png"])
    known = known_hashes or {}
    rated["content_sha256"] = [known.get(str(s)) or content_hash(s) for s in rated["source"]]
    rated["model_uri"] = model_uri
    rated["model_version"] = version
    rated["knowledge_base"] = kb.get("knowledge_base", "?")
    rated["scored_at"] = datetime.now(UTC).isoformat(timespec="seconds")
    results = rated.reindex(columns=list(RESULT_COLUMNS))
    strips = strips.merge(results[["clip_id", "content_sha256"]], on="clip_id").reindex(columns=list(STRIP_COLUMNS))
    write_results(results, rejects, out_dir, kb, f"{model_uri} (version {version})" if version else model_uri,
                  write_report, strips)
    return ScoreSummary(scored=len(results), rejected=len(rejects), out_dir=out_dir)


def read_strips(out_dir: Path) -> pd.DataFrame:
    """The face strips written next to a results file (empty when there are none)."""
    path = Path(out_dir) / STRIPS_FILE
    return pd.read_parquet(path) if path.is_file() else pd.DataFrame(columns=list(STRIP_COLUMNS))


def write_results(results: pd.DataFrame, rejects: pd.DataFrame, out_dir: Path, kb: dict, model: str,
                  report: bool = True, strips: pd.DataFrame | None = None) -> None:
    """Write results (Parquet + CSV), rejects, the face strips and the HTML report atomically."""
    from sales_ability.serving.report import render_report

    strips = strips if strips is not None else pd.DataFrame(columns=list(STRIP_COLUMNS))
    with atomic_path(out_dir / "results.parquet") as tmp:
        results.to_parquet(tmp, index=False)
    with atomic_path(out_dir / STRIPS_FILE) as tmp:
        strips.reindex(columns=list(STRIP_COLUMNS)).to_parquet(tmp, index=False)
    write_csv_atomic(out_dir / "results.csv", results)
    write_csv_atomic(out_dir / REJECTS_FILE, rejects.reindex(columns=list(REJECT_COLUMNS)))
    if report:
        pngs = dict(zip(strips["content_sha256"], strips["strip_png"], strict=True))
        write_text_atomic(out_dir / "report.html", render_report(results, rejects, kb, model, pngs))
