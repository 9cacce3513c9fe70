"""Segments and identity: how an applicant's recordings become clips, the same way in training and serving.

An answer is cut into equal segments of about ``featurize.clip_seconds`` (``featurize.segment_rounding``
decides how many), each later sampled to ``featurize.n_frames`` frames: the density the model was trained
on. Cutting never makes a segment shorter than ``MIN_SEGMENT_FRACTION`` of ``clip_seconds`` (11.25 s of 15 s:
``nearest`` rounding cuts 22.5 s into two of 11.25 s); only an answer shorter than that would be one short
segment seen at two or three times the training's frame density, so the website refuses such answers at
upload (``shortest_segment_seconds``). Both settings are featurize settings, so they are stored with every
model (``featurize.json``) and a
scorer with other settings is refused.

Identity, unique across folders:
- a file named ``answer_<n>.<ext>`` belongs to the applicant named by its folder (the website's layout):
  clip ids ``<applicant>_answer_<n>_c<k>``;
- any other video is an applicant of its own, named by the file stem: clip ids ``<stem>_c<k>``.
Two different folders (or loose files) with the same name get ``~<6 hex of the folder path>`` appended.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from pathlib import Path

from sales_ability.config import FeaturizeParams
from sales_ability.data.applicant_folder import answer_number
from sales_ability.data.video import probe_video
from sales_ability.errors import VideoError


MIN_SEGMENT_FRACTION = 0.75  # of clip_seconds: the shortest segment cutting makes, and the shortest answer taken


def shortest_segment_seconds(settings: FeaturizeParams) -> float:
    """The shortest segment (and so the shortest answer) that is scored: ``MIN_SEGMENT_FRACTION x clip_seconds``."""
    return MIN_SEGMENT_FRACTION * settings.clip_seconds


def segment_bounds(duration_s: float, clip_seconds: float, rounding: str = "nearest") -> list[tuple[float, float]]:
    """Cut a recording of ``duration_s`` into equal segments of about ``clip_seconds`` (at least one).

    ``rounding``: ``nearest`` (``round(duration / clip_seconds)``, halves to even) or ``floor`` (only
    segments at least ``clip_seconds`` long).
    """
    if not math.isfinite(duration_s) or duration_s <= 0:
        return [(0.0, float("nan"))]
    ratio = duration_s / clip_seconds
    n = max(1, math.floor(ratio) if rounding == "floor" else round(ratio))
    step = duration_s / n
    return [(round(i * step, 3), round((i + 1) * step, 3)) for i in range(n)]


@dataclass(frozen=True)
class Recording:
    """One video file and whose it is."""

    applicant_id: str
    answer: int | None  # the question number for ``answer_<n>`` files, None for a loose video
    path: Path

    def clip_id(self, k: int) -> str:
        """The id of the recording's ``k``-th segment."""
        prefix = f"{self.applicant_id}_answer_{self.answer}" if self.answer is not None else self.applicant_id
        return f"{prefix}_c{k}"


def applicant_of(path: Path) -> tuple[str, int | None]:
    """(applicant name, answer number) of a video path before disambiguation."""
    answer = answer_number(path)
    return (path.parent.name, answer) if answer is not None else (path.stem, None)


def recordings(videos: list[Path], applicant_ids: dict[str, str] | None = None) -> list[Recording]:
    """Each video with its applicant: the folder for ``answer_<n>`` files, the stem otherwise; names that
    two different folders (or loose files) share get a short hash of the folder path. ``applicant_ids``
    (path -> id) names some videos' applicants explicitly."""
    owners: dict[str, set[Path]] = {}
    named = []
    for path in videos:
        name, answer = applicant_of(path)
        key = path.parent.resolve() if answer is not None else path.resolve().with_suffix("")
        owners.setdefault(name, set()).add(key)
        named.append((name, answer, key, path))
    out = []
    for name, answer, key, path in named:
        if applicant_ids and str(path) in applicant_ids:
            name = applicant_ids[str(path)]
        elif len(owners[name]) > 1:
            name = disambiguated(name, key)
        out.append(Recording(name, answer, path))
    return out


def disambiguated(name: str, key: Path | str) -> str:
    """``name~<6 hex>``: an applicant name made unique by the path it comes from."""
    return f"{name}~{hashlib.sha1(str(key).encode()).hexdigest()[:6]}"


def segment_rows(recording: Recording, settings: FeaturizeParams, duration_s: float) -> list[dict]:
    """Manifest rows (``clip_id, source, participant_id, start_s, end_s``) of one recording's segments."""
    return [
        {"clip_id": recording.clip_id(k), "source": str(recording.path), "participant_id": recording.applicant_id,
         "start_s": start, "end_s": end}
        for k, (start, end) in enumerate(segment_bounds(duration_s, settings.clip_seconds, settings.segment_rounding))
    ]


def recording_duration(path: Path) -> float:
    """Seconds of video in ``path`` (from its packets, so Chrome's WebM too); NaN when it cannot be read
    (featurize then rejects it with the reason)."""
    try:
        return probe_video(path).duration_s
    except VideoError:
        return float("nan")
