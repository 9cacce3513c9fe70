"""Participant storage: ``<data-dir>/<participant_id>/`` with atomic writes and server-made ids.

Layout (what the collected-dataset adapter reads): ``answer_<n>.webm``, ``ipip50.json``,
``consent.json``, ``metadata.json``.
"""

from __future__ import annotations

import json
import re
import secrets
import shutil
from datetime import UTC, datetime
from pathlib import Path

from sales_ability.io_utils import write_bytes_atomic, write_json_atomic

PARTICIPANT_ID = re.compile(r"^[A-Za-z0-9_-]{16}$")
QUESTIONS: tuple[str, ...] = (
    "Introduce yourself: your name, age, speciality and a few things that describe you.",
    "What skills do you have that will help you work in a potential company, and where would you like to work?",
    "Do you like to do sales?",
    "Why do you want to do sales today?",
    "What achievements are you proud of over the past 3 years?",
)
CONSENT_VERSION = "2026-11"
# Optional self-description, used only to check the scores for fairness across groups.
PROFILE_CHOICES: dict[str, tuple[str, ...]] = {
    "gender": ("female", "male", "other", "prefer_not_to_say"),
    "age_band": ("18-24", "25-34", "35-44", "45-54", "55+", "prefer_not_to_say"),
}


class ParticipantError(Exception):
    """A request about a participant that cannot be served; ``status`` is the HTTP status to answer."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class ParticipantStore:
    """Reads and writes participant folders under ``root``; ids never come from the client as paths."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root).resolve()
        self.root.mkdir(parents=True, exist_ok=True)

    def folder(self, participant_id: str) -> Path:
        """The participant's folder; refuses malformed ids (no path ever built from one) and unknown ones."""
        if not PARTICIPANT_ID.fullmatch(participant_id or ""):
            raise ParticipantError(400, "malformed participant id")
        folder = self.root / participant_id
        if folder.parent != self.root or not folder.is_dir():
            raise ParticipantError(404, "unknown participant id")
        return folder

    def create(self, user_agent: str = "") -> str:
        """A new participant (random, URL-safe id); nothing is recorded before consent."""
        while True:
            participant_id = secrets.token_urlsafe(12)
            folder = self.root / participant_id
            if PARTICIPANT_ID.fullmatch(participant_id) and not folder.exists():
                folder.mkdir()
                break
        write_json_atomic(folder / "metadata.json", {"participant_id": participant_id, "created": now(),
                                                      "status": "started", "user_agent": user_agent[:300]})
        return participant_id

    def consent(self, participant_id: str, agreed: bool) -> None:
        folder = self.folder(participant_id)
        if not agreed:
            raise ParticipantError(400, "consent must be given to take part")
        write_json_atomic(folder / "consent.json", {"agreed": True, "version": CONSENT_VERSION, "at": now()})
        self._status(folder, "consented")

    def save_profile(self, participant_id: str, profile: dict[str, str]) -> None:
        """Store the optional profile (each answer from ``PROFILE_CHOICES``) in metadata.json."""
        folder = self.folder(participant_id)
        if not self.has_consent(folder):
            raise ParticipantError(403, "the profile is accepted only after consent")
        for key, value in profile.items():
            if key not in PROFILE_CHOICES:
                raise ParticipantError(422, f"unknown profile field {key!r}")
            if value not in PROFILE_CHOICES[key]:
                raise ParticipantError(422, f"{key} must be one of {', '.join(PROFILE_CHOICES[key])}")
        meta_path = folder / "metadata.json"
        meta = json.loads(meta_path.read_text())
        meta["profile"] = dict(profile)
        write_json_atomic(meta_path, meta)

    def has_consent(self, folder: Path) -> bool:
        return (folder / "consent.json").is_file()

    def save_answer(self, participant_id: str, number: int, data: bytes, extension: str) -> Path:
        """Store (or atomically replace) answer ``number``."""
        folder = self.folder(participant_id)
        if not self.has_consent(folder):
            raise ParticipantError(403, "answers are accepted only after consent")
        if not 1 <= number <= len(QUESTIONS):
            raise ParticipantError(404, f"there is no question {number}; questions are 1..{len(QUESTIONS)}")
        for old in folder.glob(f"answer_{number}.*"):
            if old.suffix != extension:
                old.unlink()
        path = folder / f"answer_{number}{extension}"
        write_bytes_atomic(path, data)
        self._status(folder, "recording")
        return path

    def save_ipip(self, participant_id: str, answers: dict[str, int], scores: dict[str, float]) -> None:
        folder = self.folder(participant_id)
        if not self.has_consent(folder):
            raise ParticipantError(403, "the questionnaire is accepted only after consent")
        write_json_atomic(folder / "ipip50.json", {"answers": answers, "scores": scores, "submitted": now()})
        self._status(folder, "questionnaire")

    def complete(self, participant_id: str) -> dict:
        folder = self.folder(participant_id)
        missing = [n for n in range(1, len(QUESTIONS) + 1) if not list(folder.glob(f"answer_{n}.*"))]
        if missing or not (folder / "ipip50.json").is_file():
            raise ParticipantError(409, f"not finished: answers missing {missing}" if missing else "not finished: questionnaire missing")
        self._status(folder, "complete")
        return {"participant_code": participant_id}

    def status(self, folder: Path) -> dict:
        meta = json.loads((folder / "metadata.json").read_text()) if (folder / "metadata.json").is_file() else {}
        return {
            "participant_id": folder.name,
            "status": meta.get("status", "unknown"),
            "created": meta.get("created"),
            "consent": self.has_consent(folder),
            "answers": sorted(int(p.stem.split("_")[1]) for p in folder.glob("answer_*")),
            "questionnaire": (folder / "ipip50.json").is_file(),
        }

    def list(self) -> list[dict]:
        return [self.status(f) for f in sorted(self.root.iterdir()) if f.is_dir() and PARTICIPANT_ID.fullmatch(f.name)]

    def delete(self, participant_id: str, export_dir: Path | None = None) -> None:
        """Withdrawal: the participant's raw files go, here and in the export (dropped from the next featurize)."""
        shutil.rmtree(self.folder(participant_id))
        if export_dir is not None and (Path(export_dir) / participant_id).is_dir():
            shutil.rmtree(Path(export_dir) / participant_id)

    def export(self, export_dir: str | Path) -> dict:
        """Copy complete participants into the collected-dataset folder DVC tracks; drop withdrawn ones."""
        export_dir = Path(export_dir)
        export_dir.mkdir(parents=True, exist_ok=True)
        complete = [s["participant_id"] for s in self.list() if s["status"] == "complete"]
        for pid in complete:
            target = export_dir / pid
            staging = export_dir / f".{pid}.tmp"
            shutil.rmtree(staging, ignore_errors=True)
            shutil.copytree(self.root / pid, staging)
            shutil.rmtree(target, ignore_errors=True)
            staging.rename(target)
        removed = [p.name for p in export_dir.iterdir() if p.is_dir() and PARTICIPANT_ID.fullmatch(p.name) and p.name not in complete]
        for name in removed:
            shutil.rmtree(export_dir / name)
        return {"exported": len(complete), "removed": removed, "export_dir": str(export_dir)}

    def _status(self, folder: Path, status: str) -> None:
        meta_path = folder / "metadata.json"
        meta = json.loads(meta_path.read_text()) if meta_path.is_file() else {"participant_id": folder.name}
        meta.update({"status": status, "updated": now()})
        write_json_atomic(meta_path, meta)
