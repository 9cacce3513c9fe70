"""Dataset adapters: each turns a raw folder into a *clip manifest*, one row per clip.

Manifest columns: ``clip_id, source, participant_id, split, start_s, end_s`` (a clip may be a segment of a
longer recording; NaN means the whole file), the five traits in ``TRAITS`` order and ``interview``
(NaN where the dataset has none). Every later stage reads this manifest, whatever the dataset.
"""

from __future__ import annotations

import json
import math
import pickle
from pathlib import Path

import numpy as np
import pandas as pd

from sales_ability.config import FeaturizeParams, Params
from sales_ability.data.applicant_folder import IPIP_FILE, VIDEO_EXTENSIONS, answer_files, answer_number, read_metadata
from sales_ability.data.face_tensors import GROUP_COLUMNS
from sales_ability.data.ipip50 import score_answers
from sales_ability.data.segments import Recording, recording_duration, recordings, segment_rows
from sales_ability.data.splits import assign_splits
from sales_ability.errors import DatasetError, IPIPError
from sales_ability.traits import INTERVIEW, TRAITS, fi_to_project_scale

MANIFEST_COLUMNS: tuple[str, ...] = (
    "clip_id", "source", "participant_id", "split", "start_s", "end_s", *TRAITS, INTERVIEW,
)
FI_ANNOTATIONS: dict[str, str] = {
    "train": "annotation_training.pkl",
    "validation": "annotation_validation.pkl",
    "test": "annotation_test.pkl",
}
FI_PARTICIPANT_ID_LENGTH = 11


def find_videos(paths: list[str | Path] | tuple[str | Path, ...]) -> list[Path]:
    """Video files among ``paths``; folders are searched recursively (``os.walk``: an inbox may hold thousands).
    Sorted, without duplicates.

    Raises:
        DatasetError: a path does not exist.
    """
    import os

    found: set[Path] = set()
    for p in map(Path, paths):
        if p.is_dir():
            for folder, _, files in os.walk(p):
                found.update(Path(folder, f) for f in files if os.path.splitext(f)[1].lower() in VIDEO_EXTENSIONS)
        elif p.is_file():
            found.add(p)
        else:
            raise DatasetError(f"{p}: no such file or folder")
    return sorted(found)


def check_label_range(frame: pd.DataFrame, source: str | Path, columns: tuple[str, ...] = TRAITS) -> None:
    """Raise DatasetError naming the first clip whose label is NaN or outside [0, 1]."""
    for column in columns:
        values = pd.to_numeric(frame[column], errors="coerce")
        bad = values.isna() | (values < 0) | (values > 1)
        if bad.any():
            row = frame.loc[bad].iloc[0]
            raise DatasetError(
                f"{source}: clip {row['clip_id']}: {column} = {row[column]!r} is not a number in [0, 1]"
            )


def participant_from_clip_id(clip_id: str) -> str:
    """First Impressions clip ``<youtube id>.<NNN>`` -> the 11-character YouTube id."""
    return clip_id[:FI_PARTICIPANT_ID_LENGTH]


# --- First Impressions V2 -------------------------------------------------------------------------


def load_fi_annotation(path: str | Path, neuroticism_is_stability: bool = True) -> pd.DataFrame:
    """Read one First Impressions annotation pickle into ``clip_id``, ``file`` and the label columns.

    Args:
        path: ``annotation_{training,validation,test}.pkl``.
        neuroticism_is_stability: FI's ``neuroticism`` is emotional stability: store ``1 - x``, the
            project's scale (``dataset.fi_neuroticism_is_stability``; see ``sales_ability.traits``).

    Raises:
        DatasetError: the file is missing or unreadable, a trait is missing, or a label is NaN or outside [0, 1].
    """
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"{path}: annotation file not found")
    try:
        with path.open("rb") as fh:
            raw = pickle.load(fh, encoding="latin1")
    except Exception as err:  # noqa: BLE001 - any unpickling failure is the file's fault
        raise DatasetError(f"{path}: not a readable annotation pickle ({err})") from None
    if not isinstance(raw, dict):
        raise DatasetError(f"{path}: expected a dict trait -> {{file name: value}}")
    missing = [t for t in TRAITS if t not in raw]
    if missing:
        raise DatasetError(f"{path}: missing traits {', '.join(missing)}")
    files = sorted(raw[TRAITS[0]])
    frame = pd.DataFrame({"file": files})
    frame["clip_id"] = [Path(f).stem for f in files]
    for column in (*TRAITS, INTERVIEW):
        values = raw.get(column, {})
        frame[column] = [values.get(f, np.nan) for f in files]
    check_label_range(frame, path)
    if INTERVIEW in raw:
        check_label_range(frame, path, (INTERVIEW,))
    frame["neuroticism"] = fi_to_project_scale(frame["neuroticism"], neuroticism_is_stability)
    return frame


def first_impressions_manifest(folder: str | Path, neuroticism_is_stability: bool = True) -> pd.DataFrame:
    """Manifest of a First Impressions V2 folder: clips plus the three annotation pickles (labels on the
    project's scale unless ``neuroticism_is_stability`` is off).

    Raises:
        DatasetError: an annotation file is missing, a label is bad, a labelled clip has no video, or a
            video has no label.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise DatasetError(f"{folder}: First Impressions folder not found")
    frames = []
    for split, name in FI_ANNOTATIONS.items():
        ann = load_fi_annotation(folder / name, neuroticism_is_stability)
        ann["split"] = split
        ann["annotation"] = name
        frames.append(ann)
    labels = pd.concat(frames, ignore_index=True)
    dup = labels["clip_id"].duplicated(keep=False)
    if dup.any():
        clip = labels.loc[dup, "clip_id"].iloc[0]
        raise DatasetError(f"{folder}: clip {clip} is labelled in more than one annotation file")
    videos = {p.stem: p for p in find_videos([folder]) if p.suffix.lower() == ".mp4"}
    no_video = labels.loc[~labels["clip_id"].isin(videos)]
    if len(no_video):
        row = no_video.iloc[0]
        raise DatasetError(
            f"{folder / row['annotation']}: clip {row['file']} is labelled but has no video "
            f"({len(no_video)} such clips)"
        )
    unlabelled = sorted(set(videos) - set(labels["clip_id"]))
    if unlabelled:
        raise DatasetError(
            f"{videos[unlabelled[0]]}: video has no label in any annotation file ({len(unlabelled)} such videos)"
        )
    labels["source"] = [str(videos[c]) for c in labels["clip_id"]]
    labels["participant_id"] = labels["clip_id"].map(participant_from_clip_id)
    labels["start_s"] = np.nan
    labels["end_s"] = np.nan
    return labels[list(MANIFEST_COLUMNS)].sort_values("clip_id", ignore_index=True)


# --- Demo -----------------------------------------------------------------------------------------


def demo_manifest(folder: str | Path) -> pd.DataFrame:
    """Manifest of a demo folder written by ``sales-ability demo-data`` (``labels.csv`` beside the clips).

    Raises:
        DatasetError: labels.csv is missing or bad, or a labelled clip has no video.
    """
    folder = Path(folder)
    labels_path = folder / "labels.csv"
    if not labels_path.is_file():
        raise DatasetError(f"{labels_path}: labels file not found (write one with `sales-ability demo-data`)")
    labels = pd.read_csv(labels_path, dtype={"clip_id": str, "participant_id": str})
    missing = [c for c in ("clip_id", "participant_id", *TRAITS) if c not in labels.columns]
    if missing:
        raise DatasetError(f"{labels_path}: missing columns {', '.join(missing)}")
    check_label_range(labels, labels_path)
    videos = {p.stem: p for p in find_videos([folder])}
    no_video = labels.loc[~labels["clip_id"].isin(videos), "clip_id"]
    if len(no_video):
        raise DatasetError(f"{labels_path}: clip {no_video.iloc[0]} is labelled but has no video")
    labels["source"] = [str(videos[c]) for c in labels["clip_id"]]
    for column in ("split", "start_s", "end_s", INTERVIEW):
        if column not in labels:
            labels[column] = np.nan
    return labels[list(MANIFEST_COLUMNS)].sort_values("clip_id", ignore_index=True)


# --- Collected (the website's participants) ---------------------------------------------------------


def collected_manifest(folder: str | Path, settings: FeaturizeParams | None = None,
                        skipped: dict[str, str] | None = None) -> pd.DataFrame:
    """Manifest of the website's data folder: ``<participant>/answer_<n>.<ext>`` plus ``ipip50.json``.

    Labels come from the participant's IPIP-50 answers; each answer is cut into segments by ``settings``
    (``clip_seconds``, ``segment_rounding``: ``sales_ability.data.segments``, as scoring cuts them), its
    duration read from its packets (Chrome's WebM has none in its header). A participant is left out, with the reason recorded in ``skipped`` (participant id
    -> reason), when the questionnaire is missing or invalid or no answer recording can be read; the
    others are listed. An answer that cannot be read while others can is listed and featurize rejects it.

    Raises:
        DatasetError: the folder is missing.
    """
    settings = settings or FeaturizeParams()
    folder = Path(folder)
    if not folder.is_dir():
        raise DatasetError(f"{folder}: collected data folder not found")
    skipped = {} if skipped is None else skipped
    rows = []
    for person in sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")):
        try:
            traits, durations = _usable_participant(person)
        except DatasetError as err:
            skipped[person.name] = str(err)
            continue
        profile = read_metadata(person).get("profile", {})
        groups = {g: (None if profile.get(g) in (None, "prefer_not_to_say") else profile[g]) for g in GROUP_COLUMNS}
        for answer, duration in durations.items():
            recording = Recording(person.name, answer_number(answer), answer)
            for row in segment_rows(recording, settings, duration):
                rows.append({**row, "split": np.nan, **traits, INTERVIEW: np.nan, **groups})
    return pd.DataFrame(rows, columns=[*MANIFEST_COLUMNS, *GROUP_COLUMNS])


def _usable_participant(person: Path) -> tuple[dict[str, float], dict[Path, float]]:
    """A participant's traits and each answer's duration; DatasetError with the reason they cannot be trained on
    (the questionnaire missing or invalid, or no answer recording readable)."""
    traits = _participant_traits(person)
    answers = answer_files(person)
    durations = {answer: recording_duration(answer) for answer in answers}
    if not any(math.isfinite(d) and d > 0 for d in durations.values()):
        raise DatasetError(f"{person}: no usable answer ({len(answers)} recordings, none readable)")
    return traits, durations


def participant_problem(person: str | Path) -> str | None:
    """Why a collected participant's folder cannot be trained on, or None: the rule ``collected_manifest``
    applies, for the ingest to leave them out of the versioned dataset with the same reason."""
    try:
        _usable_participant(Path(person))
    except DatasetError as err:
        return str(err)
    return None


def _participant_traits(person: Path) -> dict[str, float]:
    """One participant's traits from ``ipip50.json``; DatasetError naming the file and item otherwise."""
    sheet = person / IPIP_FILE
    if not sheet.is_file():
        raise DatasetError(f"{sheet}: missing (questionnaire not submitted)")
    try:
        payload = json.loads(sheet.read_text())
        return score_answers(payload["answers"], participant=person.name)
    except (json.JSONDecodeError, KeyError, TypeError, AttributeError) as err:
        raise DatasetError(f"{sheet}: malformed questionnaire ({type(err).__name__}: {err})") from None
    except IPIPError as err:
        raise DatasetError(f"{sheet}: {err}") from None


# --- Any dataset ----------------------------------------------------------------------------------


def build_manifest(raw_dir: str | Path, params: Params, skipped: dict[str, str] | None = None) -> pd.DataFrame:
    """Manifest of the active dataset (``params.dataset.name``) with splits assigned.

    Args:
        raw_dir: the dataset's raw folder (``data/raw/<dataset>``).
        params: the project parameters.
        skipped: filled with the participants left out and why (collected data).
    """
    ds = params.dataset
    if ds.name == "first_impressions":
        manifest = first_impressions_manifest(raw_dir, ds.fi_neuroticism_is_stability)
    elif ds.name == "demo":
        manifest = demo_manifest(raw_dir)
    else:  # collected, and the demo's collected-layout dataset
        manifest = collected_manifest(raw_dir, params.featurize, skipped)
    if manifest.empty:
        raise DatasetError(f"{raw_dir}: no labelled clips found for dataset {ds.name!r}")
    return assign_splits(manifest, ds.split, ds.split_fractions, ds.seed)


def manifest_from_inputs(inputs: list[str | Path], settings: FeaturizeParams | None = None,
                         applicant_ids: dict[str, str] | None = None) -> pd.DataFrame:
    """An unlabelled manifest of applicants' videos, cut into the segments training uses (``settings``).

    ``<folder>/answer_<n>.<ext>`` files belong to the applicant named by the folder, any other video is an
    applicant of its own named by its stem (``sales_ability.data.segments``); clip ids are unique across
    folders (``applicant_ids``, path -> id, overrides the rule). A video that cannot be read gets one row,
    which featurize rejects with the reason.
    """
    settings = settings or FeaturizeParams()
    rows = []
    for recording in recordings(find_videos(inputs), applicant_ids):
        for row in segment_rows(recording, settings, recording_duration(recording.path)):
            rows.append({**row, "split": np.nan, **{c: np.nan for c in (*TRAITS, INTERVIEW)}})
    return pd.DataFrame(rows, columns=list(MANIFEST_COLUMNS))
