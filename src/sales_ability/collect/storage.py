"""Participant storage: ``<data-dir>/<participant_id>/`` with atomic writes and server-made ids.

Layout: the applicant folder of ``data/applicant_folder.py`` (the contract the adapters, the batch and the
demo share). Nothing exists before consent: the folder is made by the consent
itself. Once complete, a participant's record is locked; only the admin's withdrawal removes it.
Participants who consented but never completed are removed by ``purge`` after a retention period.

Every change to one participant (an answer placed, the questionnaire, completion and its publication,
the export's copy, purge, withdrawal) runs under that participant's lock (``fcntl.flock`` on a file in
``<data-dir>/.locks/``, named by a hash of the id: it serialises threads and processes alike), so a
withdrawal always wins: whatever was running finishes or finds the participant gone, and nothing is left.
Uploads are received in ``<data-dir>/.uploads/`` (never inside the folder a withdrawal removes), and the
export stages its copies beside the export folder, never inside the folder DVC tracks.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import shutil
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sales_ability.data.applicant_folder import (
    COMPLETE,
    COMPLETE_MARKER,
    CONSENT_FILE,
    CONSENT_VERSION,
    IPIP_FILE,
    METADATA_FILE,
    PARTICIPANT_ID,
    PROFILE_CHOICES,
    QUESTIONS,
    SELF_REPORT_CHOICES,
    answer_file_name,
    answer_number,
)
from sales_ability.io_utils import file_lock, write_json_atomic

class ParticipantError(Exception):
    """A request about a participant that cannot be served; ``status`` is the HTTP status to answer."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


UPLOAD_SUFFIX = ".upload"  # an answer being received: ``.uploads/<participant>.<n>.<random>.upload``
UPLOADS_DIR = ".uploads"
LOCKS_DIR = ".locks"


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def check_profile(profile: dict[str, str]) -> None:
    """Each optional profile answer must come from ``PROFILE_CHOICES``."""
    for key, value in profile.items():
        if key not in PROFILE_CHOICES:
            raise ParticipantError(422, f"unknown profile field {key!r}")
        if value not in PROFILE_CHOICES[key]:
            raise ParticipantError(422, f"{key} must be one of {', '.join(PROFILE_CHOICES[key])}")


MODES: tuple[str, ...] = ("research", "screening")
WITHDRAWALS_DIR = ".withdrawals"  # a withdrawal not finished yet (its database part failed): a retry completes it
# a withdrawal the project has not forgotten everywhere yet (DVC versions, remotes, MLflow): the retraining DAG's
# ingest runs `sales-ability forget` on each (sales_ability.operations.forget), which removes the request when done
REQUESTS_DIR = ".erasure_requests"
SELF_REPORTS_DIR = ".self_reports"  # screening's optional sex and race/ethnicity, for the bias audit only


class ParticipantStore:
    """Reads and writes participant folders under ``root``; ids never come from the client as paths.

    ``mode``: ``research`` (five answers and the IPIP-50, for training) or ``screening`` (a job applicant's
    five answers, no questionnaire; completion publishes the folder into the scoring ``inbox``).
    """

    def __init__(self, root: str | Path, mode: str = "research", inbox: str | Path | None = None) -> None:
        if mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}, not {mode!r}")
        if mode == "screening" and inbox is None:
            raise ValueError("screening mode needs a scoring inbox to publish completed applicants into")
        self.root = Path(root).resolve()
        self.root.mkdir(parents=True, exist_ok=True)
        self.mode = mode
        self.inbox = Path(inbox).resolve() if inbox is not None else None
        if self.inbox is not None:
            self.inbox.mkdir(parents=True, exist_ok=True)
        self._export_lock = threading.Lock()

    @contextmanager
    def locked(self, participant_id: str) -> Iterator[None]:
        """Hold the participant's lock (threads and processes): every change to one participant runs inside."""
        name = hashlib.sha256(participant_id.encode()).hexdigest()[:24]
        (self.root / LOCKS_DIR).mkdir(exist_ok=True)  # made on first use: nothing at all exists before a consent
        with file_lock(self.root / LOCKS_DIR / name):
            yield

    def folder(self, participant_id: str) -> Path:
        """The participant's folder; refuses malformed ids (no path ever built from one) and unknown ones."""
        if not PARTICIPANT_ID.fullmatch(participant_id or ""):
            raise ParticipantError(400, "malformed participant id")
        folder = self.root / participant_id
        if folder.parent != self.root or not folder.is_dir():
            raise ParticipantError(404, "unknown participant id")
        return folder

    def create(self, agreed: bool, profile: dict[str, str] | None = None, application: dict[str, str] | None = None) -> str:
        """A new participant who consents now (random, URL-safe id). Without consent nothing is written.

        ``application``: screening only, the requisition and tracking-system reference the screening link carried
        (kept in ``metadata.json``, so they travel with the answers)."""
        if agreed is not True:
            raise ParticipantError(400, "consent must be given to take part")
        self._no_profile_in_screening(profile)
        if application and self.mode != "screening":
            raise ParticipantError(422, "a requisition belongs to a screening link, not to research participation")
        check_profile(profile or {})
        while True:
            participant_id = secrets.token_urlsafe(12)
            folder = self.root / participant_id
            if PARTICIPANT_ID.fullmatch(participant_id) and not folder.exists():
                folder.mkdir()
                break
        at = now()
        write_json_atomic(folder / CONSENT_FILE, {"agreed": True, "version": CONSENT_VERSION, "purpose": self.mode, "at": at})
        # no User-Agent: the consent text does not mention it, and nothing needs it
        write_json_atomic(folder / METADATA_FILE, {"participant_id": participant_id, "created": at, "status": "consented",
                                                      **({"profile": profile} if profile else {}),
                                                      **({"application": application} if application else {})})
        return participant_id

    def open_folder(self, participant_id: str) -> Path:
        """The folder of a participant whose record may still change (consented, not complete).

        Raises:
            ParticipantError: 400/404 for a bad or unknown id (a folder without its consent is one being
                withdrawn: consent creates the folder), 409 once complete.
        """
        folder = self.folder(participant_id)
        if not self.has_consent(folder):
            raise ParticipantError(404, "unknown participant id")
        if self._meta(folder).get("status") == COMPLETE:
            raise ParticipantError(409, "this participation is complete: answers and questionnaire can no longer be "
                                        "changed (to withdraw, send your participant code to the study team)")
        return folder

    def save_profile(self, participant_id: str, profile: dict[str, str]) -> None:
        """Store the optional profile (each answer from ``PROFILE_CHOICES``) in metadata.json (research only)."""
        self._no_profile_in_screening(profile)
        check_profile(profile)
        with self.locked(participant_id):
            folder = self.open_folder(participant_id)
            meta = self._meta(folder)
            meta["profile"] = dict(profile)
            write_json_atomic(folder / METADATA_FILE, meta)

    def _no_profile_in_screening(self, profile: dict[str, str] | None) -> None:
        """Screening never asks for the research profile: it would be published into the scoring inbox beside
        the answers (the audit's self-report is asked apart, and kept apart)."""
        if self.mode == "screening" and profile:
            raise ParticipantError(422, "screening does not ask for a profile: send no profile fields")

    def has_consent(self, folder: Path) -> bool:
        return (folder / CONSENT_FILE).is_file()

    @staticmethod
    def check_question(number: int) -> None:
        if not 1 <= number <= len(QUESTIONS):
            raise ParticipantError(404, f"there is no question {number}; questions are 1..{len(QUESTIONS)}")

    def upload_path(self, participant_id: str, number: int) -> Path:
        """Where answer ``number`` is received before it is checked (consent, lock and number checked first)."""
        self.open_folder(participant_id)
        self.check_question(number)
        (self.root / UPLOADS_DIR).mkdir(exist_ok=True)
        return self.root / UPLOADS_DIR / f"{participant_id}.{number}.{secrets.token_hex(6)}{UPLOAD_SUFFIX}"

    def place_answer(self, participant_id: str, number: int, received: Path, extension: str) -> Path:
        """Move a checked upload into place as ``answer_<number><extension>`` (an atomic rename; a take in the
        other container is removed), under the participant's lock. The record is checked again: it may have
        completed, or been withdrawn, while the upload was received."""
        with self.locked(participant_id):
            folder = self.open_folder(participant_id)
            path = folder / answer_file_name(number, extension)
            os.replace(received, path)
            for old in folder.glob(f"answer_{number}.*"):
                if old != path:
                    old.unlink()
            self._status(folder, "recording")
            return path

    def answered(self, folder: Path) -> list[int]:
        return sorted(n for p in folder.glob("answer_*") if (n := answer_number(p)) is not None)

    def save_ipip(self, participant_id: str, answers: dict[str, int], scores: dict[str, float]) -> None:
        """Store the questionnaire: once, after the five answers (research mode only)."""
        if self.mode == "screening":
            raise ParticipantError(404, "screening mode has no questionnaire")
        with self.locked(participant_id):
            folder = self.open_folder(participant_id)
            missing = sorted(set(range(1, len(QUESTIONS) + 1)) - set(self.answered(folder)))
            if missing:
                raise ParticipantError(409, f"the questionnaire comes after the five answers (missing: {missing})")
            if (folder / IPIP_FILE).is_file():
                raise ParticipantError(409, "the questionnaire was already submitted")
            write_json_atomic(folder / IPIP_FILE, {"answers": answers, "scores": scores, "submitted": now()})
            self._status(folder, "questionnaire")

    def complete(self, participant_id: str) -> dict:
        """Complete (once: a second complete answers 409) and, in screening mode, publish to the inbox."""
        with self.locked(participant_id):
            folder = self.open_folder(participant_id)
            missing = [n for n in range(1, len(QUESTIONS) + 1) if n not in self.answered(folder)]
            if missing or (self.mode == "research" and not (folder / IPIP_FILE).is_file()):
                raise ParticipantError(409, f"not finished: answers missing {missing}" if missing else "not finished: questionnaire missing")
            if self.mode == "screening":
                self.publish(participant_id)
            self._status(folder, COMPLETE)
            return {"participant_code": participant_id}

    def save_self_report(self, participant_id: str, report: dict[str, str],
                         then: Callable[[str, dict], object] | None = None) -> Path:
        """Screening's optional self-report (``SELF_REPORT_CHOICES``), for the bias audit only: kept in
        ``<data-dir>/.self_reports/``, apart from the answers, so it is never published to the inbox, exported,
        featurized or seen by the model."""
        if self.mode != "screening":
            raise ParticipantError(404, "only screening mode asks for the audit's self-report")
        for key, value in report.items():
            if key not in SELF_REPORT_CHOICES or value not in SELF_REPORT_CHOICES[key]:
                raise ParticipantError(422, f"{key} must be one of {', '.join(SELF_REPORT_CHOICES.get(key, ()))}")
        with self.locked(participant_id):
            self.open_folder(participant_id)
            (self.root / SELF_REPORTS_DIR).mkdir(exist_ok=True)
            path = self.root / SELF_REPORTS_DIR / f"{participant_id}.json"
            write_json_atomic(path, {"participant_id": participant_id, **report, "reported": now()})
            if then is not None:  # under the same lock as a withdrawal: it never lands after one
                then(participant_id, report)
            return path

    def publish(self, participant_id: str) -> Path:
        """Put a complete applicant into the scoring inbox atomically: the answers, consent and metadata are
        copied into a hidden staging folder beside the inbox's applicants, ``complete.json`` is written last,
        and one rename makes the folder appear whole (the batch scores a folder only with its marker)."""
        folder = self.folder(participant_id)
        target = self.inbox / participant_id
        staging = self.inbox / f".{participant_id}.tmp"
        shutil.rmtree(staging, ignore_errors=True)
        shutil.copytree(folder, staging, ignore=shutil.ignore_patterns(".*"))
        write_json_atomic(staging / COMPLETE_MARKER, {"participant_id": participant_id, "completed": now(),
                                                       "answers": self.answered(staging)})
        if target.exists():  # a retried complete of an already published applicant
            shutil.rmtree(staging)
            return target
        staging.rename(target)
        return target

    def status(self, folder: Path, retention_days: float | None = None) -> dict:
        """Where a participant stands; ``stale`` once an unfinished one is older than ``retention_days``."""
        meta = self._meta(folder)
        created = meta.get("created")
        stale = (retention_days is not None and meta.get("status") != COMPLETE and created is not None
                 and datetime.fromisoformat(created) < datetime.now(UTC) - timedelta(days=retention_days))
        return {
            "participant_id": folder.name,
            "status": meta.get("status", "unknown"),
            "created": created,
            "consent": self.has_consent(folder),
            "answers": self.answered(folder),
            "questionnaire": (folder / IPIP_FILE).is_file(),
            "stale": bool(stale),
        }

    def list(self, retention_days: float | None = None) -> list[dict]:
        out = []
        for f in sorted(self.root.iterdir()):
            if f.is_dir() and PARTICIPANT_ID.fullmatch(f.name):
                try:
                    out.append(self.status(f, retention_days))
                except (FileNotFoundError, json.JSONDecodeError):  # withdrawn while listed
                    continue
        return out

    def purge(self, older_than_days: float) -> list[str]:
        """Remove participants who consented more than ``older_than_days`` ago and never completed, and
        uploads left half-received by a crash. Complete participants are never touched."""
        removed = []
        for candidate in [s["participant_id"] for s in self.list(older_than_days) if s["stale"]]:
            with self.locked(candidate):  # checked again under the lock: it may have completed meanwhile
                folder = self.root / candidate
                if folder.is_dir() and self.status(folder, older_than_days)["stale"]:
                    shutil.rmtree(folder)
                    removed.append(candidate)
        cutoff = datetime.now(UTC).timestamp() - older_than_days * 86400
        for leftover in [*self.root.glob(f"{UPLOADS_DIR}/*{UPLOAD_SUFFIX}"), *self.root.glob(f"*/.answer_*{UPLOAD_SUFFIX}")]:
            if leftover.stat().st_mtime < cutoff:
                leftover.unlink(missing_ok=True)
        return removed

    def delete(self, participant_id: str, export_dir: Path | None = None,
               then: Callable[[str], object] | None = None) -> None:
        """Withdrawal: the participant's raw files go, here, in the export (dropped from the next featurize)
        and in the scoring inbox (screening mode); then ``then`` (the results database's erasure) runs under
        the same lock. An erasure request (``.erasure_requests/<id>.json``) is left for the project, whose copies
        (DVC versions, remotes, MLflow) the next ingest forgets.

        Idempotent and retryable to completion: a marker (``.withdrawals/<id>``) is written before anything is
        removed and cleared only after ``then`` succeeded, so when ``then`` fails (a busy database) the files
        are gone, the error is raised, and a retry of the same withdrawal finishes the rest instead of 404.
        """
        if not PARTICIPANT_ID.fullmatch(participant_id or ""):
            raise ParticipantError(400, "malformed participant id")
        pending = self.root / WITHDRAWALS_DIR / participant_id
        with self.locked(participant_id):  # waits for whatever else runs on this participant, then wins
            if not (self.root / participant_id).is_dir() and not pending.is_file():
                raise ParticipantError(404, "unknown participant id")
            pending.parent.mkdir(exist_ok=True)
            write_json_atomic(pending, {"requested": now()})
            request = self.root / REQUESTS_DIR / f"{participant_id}.json"
            if not request.is_file():  # the deadline counts from the first request
                request.parent.mkdir(exist_ok=True)
                write_json_atomic(request, {"participant_id": participant_id, "requested": now()})
            shutil.rmtree(self.root / participant_id, ignore_errors=True)
            for where in (export_dir, self.inbox):
                if where is not None:
                    shutil.rmtree(Path(where) / participant_id, ignore_errors=True)
                    shutil.rmtree(Path(where) / f".{participant_id}.tmp", ignore_errors=True)
            if export_dir is not None:
                shutil.rmtree(self._export_staging(Path(export_dir)) / participant_id, ignore_errors=True)
            for upload in self.root.glob(f"{UPLOADS_DIR}/{participant_id}.*"):
                upload.unlink(missing_ok=True)
            (self.root / SELF_REPORTS_DIR / f"{participant_id}.json").unlink(missing_ok=True)
            if then is not None:
                then(participant_id)
            pending.unlink()

    @staticmethod
    def _export_staging(export_dir: Path) -> Path:
        """Where the export stages copies: beside the export folder (same file system), never inside it."""
        return export_dir.parent / f".{export_dir.name}.staging"

    def export(self, export_dir: str | Path, accept: Callable[[Path], str | None] | None = None) -> dict:
        """Copy complete, consented participants into the collected-dataset folder DVC tracks; drop withdrawn
        ones (no longer here at all). A complete record is locked, so an exported participant is never dropped.

        ``accept`` returns why a participant's folder cannot be used (None when it can); such a participant is
        not copied (and leaves the export folder), and is listed in ``rejected`` with the reason.

        One export at a time; each participant's copy is made under their lock (a withdrawal waits for it,
        then removes both copies). Copies are staged beside the export folder, and the staging folder is
        cleared at start and on failure, so the tracked folder never holds a half copy or a withdrawn person.
        """
        export_dir = Path(export_dir)
        export_dir.mkdir(parents=True, exist_ok=True)
        staging_root = self._export_staging(export_dir)
        with self._export_lock:
            shutil.rmtree(staging_root, ignore_errors=True)
            for leftover in export_dir.glob(".*.tmp"):  # what an older version staged inside the tracked folder
                shutil.rmtree(leftover, ignore_errors=True)
            staging_root.mkdir()
            exported, rejected = 0, {}
            try:
                for pid in [s["participant_id"] for s in self.list() if s["status"] == COMPLETE and s["consent"]]:
                    with self.locked(pid):
                        if not (self.root / pid).is_dir():  # withdrawn while the export ran
                            continue
                        if accept is not None and (problem := accept(self.root / pid)) is not None:
                            rejected[pid] = problem
                            shutil.rmtree(export_dir / pid, ignore_errors=True)
                            continue
                        staging = staging_root / pid
                        shutil.copytree(self.root / pid, staging, ignore=shutil.ignore_patterns(".*"))
                        shutil.rmtree(export_dir / pid, ignore_errors=True)
                        staging.rename(export_dir / pid)
                        exported += 1
                present = {s["participant_id"] for s in self.list()}
                removed = []
                for p in export_dir.iterdir():
                    if p.is_dir() and PARTICIPANT_ID.fullmatch(p.name) and p.name not in present:
                        with self.locked(p.name):
                            shutil.rmtree(p, ignore_errors=True)
                        removed.append(p.name)
            finally:
                shutil.rmtree(staging_root, ignore_errors=True)
        return {"exported": exported, "removed": removed, "rejected": rejected, "export_dir": str(export_dir)}

    @staticmethod
    def _meta(folder: Path) -> dict:
        """The participant's metadata; a file a withdrawal removes while it is read counts as absent (the
        caller's write, under the lock, then finds nobody and answers 404, never 500)."""
        try:
            return json.loads((folder / METADATA_FILE).read_text())
        except FileNotFoundError:
            return {"participant_id": folder.name}

    def _status(self, folder: Path, status: str) -> None:
        meta = self._meta(folder)
        meta.update({"status": status, "updated": now()})
        write_json_atomic(folder / METADATA_FILE, meta)
