"""Score applicants end to end: segment, featurize, predict with a registered model, rate with intervals,
aggregate per applicant, report.

Outputs in ``out_dir``: ``results.parquet``/``.csv`` (one row per segment, each trait with its interval),
``applicants.parquet``/``.csv`` (one row per applicant, ranked), ``rejects.csv``, ``face_strips.parquet`` and
``report.html``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from sales_ability.config import FeaturizeParams
from sales_ability.data.datasets import manifest_from_inputs
from sales_ability.data.face_tensors import REJECTS_FILE, REJECT_COLUMNS, frames_array, read_face_tensors
from sales_ability.data.featurize import featurize_manifest
from sales_ability.errors import ModelError
from sales_ability.io_utils import (
    content_hash,
    write_csv_neutralised,
    write_json_atomic,
    write_parquet_atomic,
    write_text_atomic,
)
from sales_ability.knowledge.applicants import APPLICANT_COLUMNS, rate_applicants
from sales_ability.knowledge.intervals import fit_intervals, with_intervals
from sales_ability.knowledge.quantile_map import map_traits
from sales_ability.knowledge.rate import rate
from sales_ability.registry.models import ResolvedModel, resolve_model
from sales_ability.serving.run_report import render_report
from sales_ability.traits import TRAITS

_BOUNDS = tuple(f"{t}_{end}" for t in TRAITS for end in ("low", "high"))
PROVENANCE: tuple[str, ...] = ("model_uri", "model_version", "knowledge_base", "knowledge_base_sha256", "scored_at")
RESULT_COLUMNS: tuple[str, ...] = (
    "clip_id", "applicant_id", "source", "content_sha256", "start_s", "end_s", *TRAITS, *_BOUNDS,
    *(f"score_{t}" for t in TRAITS), "sales_score", "sales_score_low", "sales_score_high", "face_share", *PROVENANCE,
)
APPLICANTS_FILE = "applicants.parquet"
STRIPS_FILE = "face_strips.parquet"  # per scored segment: a few of the face crops the model saw, as one PNG
STRIP_COLUMNS: tuple[str, ...] = ("content_sha256", "clip_id", "strip_png")


def applicant_columns() -> list[str]:
    return [*APPLICANT_COLUMNS, *PROVENANCE]
STRIP_FRAMES = 6


@dataclass
class ScoreSummary:
    """What one scoring call produced."""

    scored: int  # segments
    rejected: int
    out_dir: Path
    applicants: int = 0

    def line(self) -> str:
        return (f"scored {self.applicants} applicants ({self.scored} segments), rejected {self.rejected} -> "
                f"{self.out_dir / 'report.html'}")


def face_strips(faces: Path, n_frames: int = STRIP_FRAMES) -> pd.DataFrame:
    """Per featurized clip: ``face_share`` (frames where a face was found) and ``strip_png``, ``n_frames``
    evenly spaced crops side by side, so a reviewer can see what the model looked at."""
    import io

    from PIL import Image

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
    kb: dict | None,
    model_uri: str | ResolvedModel,
    featurize_params: FeaturizeParams | None = None,
    workers: int = 1,
    progress: bool = True,
    write_report: bool = True,
    known_hashes: dict[str, str] | None = None,
    tracking: str | None = None,
    coverage: float = 0.9,
    applicant_ids: dict[str, str] | None = None,
) -> ScoreSummary:
    """Cut ``inputs`` into the model's segments, featurize, predict, rate with intervals, aggregate per
    applicant, and write the results, applicants, rejects, face strips and ``report.html`` into ``out_dir``.
    Bad videos are listed with their reason.

    Args:
        kb: the knowledge base; None: the one logged with the model version.
        model_uri: see ``registry.resolve_model`` (resolved before anything is featurized), or a resolved model.
        featurize_params: checked against the settings the model was trained with (None: use the model's).
        known_hashes: path -> sha256, spares re-reading videos whose content hash the caller already has.
        tracking: the MLflow tracking URI (default: ``tracking_uri()``).
        coverage: nominal coverage of the intervals (params ``intervals.coverage``).
        applicant_ids: path -> applicant id, overriding the folder/stem rule (the batch's global names).

    Raises:
        ModelError: the model cannot be found, has no knowledge base when ``kb`` is None, or
            ``featurize_params`` differ from its training settings.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    model = model_uri if isinstance(model_uri, ResolvedModel) else resolve_model(model_uri, out_dir / "model", tracking)
    model_uri = model.uri
    if kb is None and model.knowledge_base is None:
        raise ModelError(f"{model.uri} (version {model.version}) carries no knowledge base: pass one")
    kb_file = out_dir / "knowledge_base.json"  # what these rows are rated with (its sha256 is on each)
    write_json_atomic(kb_file, kb if kb is not None else model.knowledge_base)
    kb_sha256 = model.knowledge_base_sha256 if kb is None else content_hash(kb_file)
    kb = kb if kb is not None else model.knowledge_base
    settings = model.featurize_settings(featurize_params)
    intervals = fit_intervals(model.calibration, kb, coverage)
    manifest = manifest_from_inputs(inputs, settings, applicant_ids)
    # Keras takes seconds to import: it loads in a thread while the videos are featurized (decoding and detection
    # leave a share of the cores free), and only once the model, the tracking server and the featurize settings
    # have been checked, so that those errors still come in about a second.
    keras_loading = _import_in_background("sales_ability.model.predict") if len(manifest) else None
    try:
        summary = featurize_manifest(manifest, out_dir / "faces", settings, workers, progress)
    finally:
        if keras_loading is not None:
            keras_loading.join()
    rejects = pd.DataFrame(summary.rejects, columns=list(REJECT_COLUMNS))
    if summary.kept:
        from sales_ability.model.predict import predict_clips  # loaded above; an import error surfaces here

        predictions = map_traits(predict_clips(model.file, out_dir / "faces"), kb, model.calibration)  # as served
        strips = face_strips(out_dir / "faces")
        bounds = manifest.set_index("clip_id")[["start_s", "end_s"]]
        predictions = predictions.join(bounds, on="clip_id")
        rated, bad = rate(predictions, kb)
        if len(bad):  # a model output outside [0, 1] would be a bug; keep it visible, not lost
            sources = predictions.set_index("clip_id")["source"]
            rejects = pd.concat([rejects, bad.assign(source=bad["clip_id"].map(sources), reason="rating: " + bad["reason"])])
        rated = with_intervals(rated, kb, intervals.segment_half_widths())
    else:
        rated = pd.DataFrame(columns=["clip_id", "participant_id", "source", *TRAITS, "sales_score"])
        strips = pd.DataFrame(columns=["clip_id", "face_share", "strip_png"])
    applicants = rate_applicants(rated, kb, intervals)
    known = known_hashes or {}
    hashes = {s: known.get(str(s)) or _hash_or_empty(s) for s in manifest["source"].unique()}
    rated["content_sha256"] = rated["source"].map(hashes)
    rated["applicant_id"] = rated["participant_id"]
    provenance = {"model_uri": model_uri, "model_version": model.version, "knowledge_base": kb.get("knowledge_base", "?"),
                  "knowledge_base_sha256": kb_sha256, "scored_at": datetime.now(UTC).isoformat(timespec="seconds")}
    results = rated.assign(**provenance).reindex(columns=list(RESULT_COLUMNS))
    applicants = applicants.assign(**provenance).reindex(columns=applicant_columns())
    strips = strips.merge(results[["clip_id", "content_sha256"]], on="clip_id").reindex(columns=list(STRIP_COLUMNS))
    write_results(results, rejects, out_dir, kb, f"{model_uri} (version {model.version})", write_report, strips, applicants,
                  card=model.card, reliability=intervals.reliability)
    owners = manifest.drop_duplicates("source").groupby("participant_id")["source"].apply(list)
    write_json_atomic(out_dir / "done.json", {"shard_id": out_dir.name, "applicants": [  # what was scored, for the database
        {"applicant_id": a, "videos": [{"path": str(p), "sha256": hashes[p]} for p in paths]} for a, paths in owners.items()]})
    return ScoreSummary(scored=len(results), rejected=len(rejects), out_dir=out_dir, applicants=len(applicants))


def _import_in_background(module: str):
    """A started thread importing ``module``, for the caller to join; an error is left for the caller's own
    import of the module to raise."""
    import importlib
    import threading

    def load() -> None:
        try:
            importlib.import_module(module)
        except Exception:  # noqa: BLE001 - the caller's own import raises it where it belongs
            pass

    thread = threading.Thread(target=load, name=f"import {module}")
    thread.start()
    return thread


def _hash_or_empty(path: str | Path) -> str:
    """The content hash, or the hash of the path for a file that vanished (the ledger still names it)."""
    import hashlib

    return content_hash(path) if Path(path).is_file() else hashlib.sha256(str(path).encode()).hexdigest()


def read_strips(out_dir: Path) -> pd.DataFrame:
    """The face strips written next to a results file (empty when there are none)."""
    path = Path(out_dir) / STRIPS_FILE
    return pd.read_parquet(path) if path.is_file() else pd.DataFrame(columns=list(STRIP_COLUMNS))


def read_applicants(out_dir: Path) -> pd.DataFrame:
    """The applicants written next to a results file (empty when there are none)."""
    path = Path(out_dir) / APPLICANTS_FILE
    return pd.read_parquet(path) if path.is_file() else pd.DataFrame(columns=applicant_columns())


def write_results(results: pd.DataFrame, rejects: pd.DataFrame, out_dir: Path, kb: dict, model: str,
                  report: bool = True, strips: pd.DataFrame | None = None, applicants: pd.DataFrame | None = None,
                  card: str | None = None, reliability: dict | None = None) -> None:
    """Write segment results and applicants (Parquet + CSV), rejects, the face strips and the HTML report
    atomically."""
    strips = strips if strips is not None else pd.DataFrame(columns=list(STRIP_COLUMNS))
    applicants = (applicants if applicants is not None else pd.DataFrame()).reindex(columns=applicant_columns())
    applicants = applicants.sort_values(["sales_score", "applicant_id"], ascending=[False, True], ignore_index=True)
    write_parquet_atomic(out_dir / "results.parquet", results)
    write_parquet_atomic(out_dir / APPLICANTS_FILE, applicants)
    write_csv_neutralised(out_dir / "applicants.csv", applicants)  # ids are the applicants' own: never a formula
    write_parquet_atomic(out_dir / STRIPS_FILE, strips.reindex(columns=list(STRIP_COLUMNS)))
    write_csv_neutralised(out_dir / "results.csv", results)
    write_csv_neutralised(out_dir / REJECTS_FILE, rejects.reindex(columns=list(REJECT_COLUMNS)))
    if report:
        pngs = dict(zip(strips["clip_id"], strips["strip_png"], strict=True))
        write_text_atomic(out_dir / "report.html", render_report(applicants, results, rejects, kb, model, pngs, card=card,
                                                                        reliability=reliability))
