"""The applicant folder: the one layout the website writes, the collected-dataset adapter reads, segmentation
cuts, the batch scores, erasure removes and the demo imitates (beside ``face_tensors``, the other contract)::

    <participant_id>/
        answer_<n>.<ext>   the recording of question n (1..5, ``QUESTIONS``), webm or mp4
        consent.json       {"agreed": true, "version": CONSENT_VERSION, "purpose": research | screening, "at"}
        metadata.json      {"participant_id", "created", "status", "profile"?: PROFILE_CHOICES,
                            "application"?: screening's {"requisition": REQUISITION_ID, "reference": ATS_REFERENCE}}
        ipip50.json        research: {"answers": 50 items 1..5, "scores": the five traits, "submitted"}
        complete.json      screening: written last, when the folder is published into the scoring inbox

A folder is complete (ready to score) when it holds ``complete.json`` or its metadata says ``complete`` (a
research export).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

PARTICIPANT_ID = re.compile(r"^[A-Za-z0-9_-]{16}$")  # a folder's name: made by the server, never a path
# what a screening link carries (?requisition=...&ref=...): the job and the applicant's tracking-system reference
REQUISITION_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
ATS_REFERENCE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._:/#-]{0,99}$")
QUESTIONS: tuple[str, ...] = (
    "Introduce yourself: your name, age, speciality and a few things that describe you.",
    "What skills do you have that will help you work in a potential company, and where would you like to work?",
    "Do you like to do sales?",
    "Why do you want to do sales today?",
    "What achievements are you proud of over the past 3 years?",
)
CONSENT_VERSION = "2026-11"
# Optional self-description (metadata.json's profile), used only to check the scores for fairness across groups.
PROFILE_CHOICES: dict[str, tuple[str, ...]] = {
    "gender": ("female", "male", "other", "prefer_not_to_say"),
    "age_band": ("18-24", "25-34", "35-44", "45-54", "55+", "prefer_not_to_say"),
}
# Screening's optional self-report, kept apart from the folder (for the bias audit only): LL144's categories,
# sex and the EEO-1 race/ethnicity categories; each may be left unsaid.
SELF_REPORT_CHOICES: dict[str, tuple[str, ...]] = {
    "sex": ("female", "male", "prefer_not_to_say"),
    "race_ethnicity": ("hispanic_or_latino", "white", "black_or_african_american", "native_hawaiian_or_other_pacific_islander",
                       "asian", "american_indian_or_alaska_native", "two_or_more_races", "prefer_not_to_say"),
}
VIDEO_EXTENSIONS: tuple[str, ...] = (".mp4", ".webm", ".avi", ".mkv", ".mov")

CONSENT_FILE = "consent.json"
METADATA_FILE = "metadata.json"
IPIP_FILE = "ipip50.json"
COMPLETE_MARKER = "complete.json"
COMPLETE = "complete"  # metadata.json's status once every part is in
ANSWER_STEM = re.compile(r"^answer_(\d+)$")  # a file stem naming the question it answers
ANSWER_NAME = re.compile(r"^answer_\d+\.[A-Za-z0-9]+$")


def answer_file_name(number: int, extension: str) -> str:
    """``answer_<number><extension>`` (``extension`` with its dot)."""
    return f"answer_{number}{extension}"


def answer_number(path: str | Path) -> int | None:
    """The question a file answers (``answer_3.webm`` -> 3), None for any other name."""
    match = ANSWER_STEM.fullmatch(Path(path).stem)
    return int(match.group(1)) if match else None


def answer_files(folder: Path) -> list[Path]:
    """The folder's answer recordings, in name order."""
    return [a for a in sorted(folder.glob("answer_*")) if a.suffix.lower() in VIDEO_EXTENSIONS and answer_number(a) is not None]


def read_metadata(folder: Path) -> dict:
    """``metadata.json`` (empty when absent)."""
    meta = folder / METADATA_FILE
    return json.loads(meta.read_text()) if meta.is_file() else {}


def is_complete(folder: Path) -> bool:
    """Whether the folder is ready to score: ``complete.json``, or metadata whose status is ``complete``."""
    if (folder / COMPLETE_MARKER).is_file():
        return True
    try:
        return read_metadata(folder).get("status") == COMPLETE
    except (json.JSONDecodeError, AttributeError, OSError):
        return False
