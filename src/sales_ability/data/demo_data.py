"""The embedded demo datasets: short interview-like clips of real faces with five learnable planted cues.

Faces are the photographs that ship inside scikit-image (``astronaut`` and the LFW subset). Each clip is a
talking head that bobs, sways and breathes. Every face is first normalised to the same mean luminance and
contrast, so identity carries no trait; then each trait drives one cue of its own, chosen so that no two
cues move the same image statistic and a horizontal flip (the training augmentation) keeps every cue. The
bands sit on the shirt (the bottom fifth of the face patch) and the wall, never over the eyes, so the
face detector still finds every face:

========================  =========================================================  =================
trait                     planted cue                                                statistic it moves
========================  =========================================================  =================
openness                  warm/cool cast: red up and blue down (or the reverse)      red - blue
conscientiousness         exposure: every channel brighter or darker                 mean luminance
extraversion              vertical bands on the shirt and the wall (a window grille's  vertical-edge energy
                          shadow), deeper when E
agreeableness             horizontal bands on the shirt and the wall (the blinds'      horizontal-edge energy
                          shadow), deeper when A
neuroticism               green/magenta cast                                         green - (red+blue)/2
========================  =========================================================  =================

Traits are drawn per participant on a Latin hypercube, so across people the five are close to
independent (a model cannot score well by learning one factor), and each clip jitters a little around
its participant's values.

Two layouts feed the two training phases:

- ``demo`` (phase 1): ``<participant>_c<k>.mp4`` plus ``labels.csv``; ``first_impressions`` writes the same
  clips in First Impressions' layout (annotation pickles, ``neuroticism`` stored as FI stores it:
  emotional stability, ``1 - N``).
- ``collected`` (phase 2): what the website's admin export writes, ``<participant>/answer_<n>.webm``
  (n = 1..5), ``ipip50.json`` with the 50 answers, ``consent.json`` and ``metadata.json``. The answers
  are chosen so that IPIP-50 scoring gives back the participant's planted traits exactly (scores move in
  steps of 1/40); the clips are rendered from those scores.

Same ``seed``, same bytes: the noise comes from one seeded generator and the encoder runs single-threaded.
"""

from __future__ import annotations

import pickle
import string
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from sales_ability.data.applicant_folder import (
    CONSENT_FILE,
    CONSENT_VERSION,
    IPIP_FILE,
    METADATA_FILE,
    PROFILE_CHOICES,
    QUESTIONS,
    SELF_REPORT_CHOICES,
    answer_file_name,
)
from sales_ability.data.ipip50 import FACTOR_TO_TRAIT, load_key, score_answers
from sales_ability.data.video import write_video
from sales_ability.io_utils import atomic_path, write_csv_atomic, write_json_atomic
from sales_ability.traits import INTERVIEW, TRAITS

FACE_SIDE = 110  # pixels of the face patch in a 320x240 frame: large enough for the detector after 2x downscale
LAYOUTS: tuple[str, ...] = ("demo", "first_impressions", "collected")
_YOUTUBE_ALPHABET = string.ascii_letters + string.digits + "-_"
_SKIN = np.array([0.95, 0.8, 0.68], np.float32)  # one skin tone for everybody: colour carries only the traits
# Cue strengths, in 0..1 intensity per unit of trait (a trait spans about 0.1..0.9).
_CAST = 0.22  # openness (red - blue) and neuroticism (green - magenta)
_EXPOSURE = 0.28  # conscientiousness
# Depth of the shadow bands (0..1 intensity taken away) at trait 0 and 1: agreeableness draws horizontal
# bands, extraversion vertical ones (deeper: across the horizontal sway they are the harder cue to learn).
_BANDS = {"agreeableness": (0.0, 0.45), "extraversion": (0.0, 0.60)}
_BANDS_PERIOD = 20  # pixels between two bands in the frame (about 10 in a 64-pixel crop; off VP8's 16-pixel blocks)
_SHIRT = 0.2  # the bottom fifth of the face patch is the shirt, banded like the wall
_FACE_SD = 0.18  # every face's luminance sd (0..1 intensity)
_CLIP_JITTER = 0.03  # sd of a clip's traits around its participant's
# LFW faces that MTCNN missed in 4 or more of 6 frames at low face contrast (screened once, seed 0)
_HARD_TO_DETECT_LFW = frozenset({1, 4, 5, 9, 21, 30, 59, 81})


@dataclass(frozen=True)
class DemoClip:
    """One generated clip: where it went and its labels."""

    clip_id: str
    participant_id: str
    path: Path
    labels: dict[str, float]


def _faces(n: int, rng: np.random.Generator) -> list[np.ndarray]:
    """``n`` RGB face patches: the astronaut first, then LFW faces."""
    import cv2
    from skimage import data

    astronaut = data.astronaut()[20:200, 140:310]
    patches = [cv2.resize(astronaut, (FACE_SIDE, FACE_SIDE), interpolation=cv2.INTER_AREA)]
    lfw = data.lfw_subset()[:100]  # the first 100 are faces, the rest are not
    usable = [i for i in range(len(lfw)) if i not in _HARD_TO_DETECT_LFW]
    for idx in rng.choice(usable, size=max(0, n - 1), replace=n - 1 > len(usable)):
        grey = cv2.resize((lfw[idx] * 255).astype(np.float32), (FACE_SIDE, FACE_SIDE), interpolation=cv2.INTER_CUBIC)
        patches.append(np.clip(np.repeat(grey[..., None], 3, axis=2), 0, 255).astype(np.uint8))
    return patches[:n]


def _background(width: int, height: int) -> np.ndarray:
    """The soft grey wall behind everybody (a per-person wall would be one more cue to unlearn)."""
    ramp = np.linspace(0, 1, height, dtype=np.float32)[:, None, None]
    return np.broadcast_to(140.0 * (1 - ramp) + 95.0 * ramp, (height, width, 3)).astype(np.float32)


def _normalised_luminance(face: np.ndarray) -> np.ndarray:
    """A face patch's luminance with mean 0 and sd 1 (identity keeps its shape, loses its exposure)."""
    grey = face.astype(np.float32).mean(axis=2) if face.ndim == 3 else face.astype(np.float32)
    return (grey - grey.mean()) / (grey.std() + 1e-6)


def render_clip(
    face: np.ndarray,
    background: np.ndarray,
    labels: dict[str, float],
    n_frames: int,
    fps: int,
    rng: np.random.Generator,
) -> list[np.ndarray]:
    """Frames (RGB uint8) of one talking-head clip whose look encodes ``labels`` (see the module table).

    Args:
        face: the face patch (RGB or grey); only its normalised luminance is used.
        background: float RGB frame behind the face.
        labels: the five traits in [0, 1].
        n_frames, fps: clip length and rate.
        rng: motion phases come from it.

    Returns:
        The frames; the face centre of each follows ``face_track`` plus a small sway and bob.
    """
    import cv2

    height, width = background.shape[:2]
    phase = rng.uniform(0, 2 * np.pi, size=3)
    sway, bob = rng.uniform(4, 10), rng.uniform(2, 5)
    t = {k: float(labels[k]) - 0.5 for k in TRAITS}

    def bands(n: int, trait: str) -> np.ndarray:
        """Square-wave shadow bands along an axis of ``n`` pixels, as deep as ``trait`` says, random phase."""
        low, high = _BANDS[trait]
        depth = low + (high - low) * (t[trait] + 0.5)
        position = np.arange(n, dtype=np.float32) + rng.uniform(0, _BANDS_PERIOD)
        return depth * (np.sin(2 * np.pi * position / _BANDS_PERIOD) > 0)

    luminance = 0.5 + _FACE_SD * _normalised_luminance(face)
    shirt = int(round(face.shape[0] * (1 - _SHIRT)))
    luminance[shirt:] = 0.6 - bands(face.shape[0] - shirt, "agreeableness")[:, None] - bands(face.shape[1], "extraversion")[None, :]
    patch_rgb = (luminance[..., None] * _SKIN / _SKIN.mean() * 255.0).astype(np.float32)
    # Casts and exposure act on the whole picture, as a camera's white balance and exposure would.
    offset = 255.0 * np.array([
        _EXPOSURE * t["conscientiousness"] + _CAST * t["openness"] - _CAST / 2 * t["neuroticism"],
        _EXPOSURE * t["conscientiousness"] + _CAST * t["neuroticism"],
        _EXPOSURE * t["conscientiousness"] - _CAST * t["openness"] - _CAST / 2 * t["neuroticism"],
    ], np.float32)
    shadow = 255.0 * (bands(height, "agreeableness")[:, None] + bands(width, "extraversion")[None, :])
    wall = np.clip(background - shadow[..., None], 0, 255)
    # The wall is the same in every frame: lit and rounded to uint8 once, so that each frame only lights its face
    # (elementwise and in the wall's dtype, so the bytes are those of lighting the whole frame; a third of the
    # demo's rendering time went on that)
    lit_wall = np.clip(wall + offset, 0, 255).astype(np.uint8)
    frames = []
    for i in range(n_frames):
        s = i / fps
        cx, cy = face_track(width, height)
        cx += sway * np.sin(2 * np.pi * 0.4 * s + phase[0])
        cy += bob * np.sin(2 * np.pi * 1.3 * s + phase[1])
        scale = 1.0 + 0.03 * np.sin(2 * np.pi * 0.7 * s + phase[2])
        side = int(round(face.shape[0] * scale))
        patch = cv2.resize(patch_rgb, (side, side), interpolation=cv2.INTER_LINEAR)
        frame = lit_wall.copy()
        x0, y0 = int(round(cx - side / 2)), int(round(cy - side / 2))
        frame[y0 : y0 + side, x0 : x0 + side] = np.clip(patch.astype(wall.dtype) + offset, 0, 255).astype(np.uint8)
        frames.append(frame)
    return frames


def face_track(width: int, height: int) -> tuple[float, float]:
    """The resting face centre (x, y) of a demo frame; tests check crops land around it."""
    return width / 2, height / 2 - 10


def _participant_traits(n: int, rng: np.random.Generator) -> np.ndarray:
    """(n, 5) traits: a Latin hypercube (independent across traits), spread like FI labels (sd about 0.19)."""
    from scipy.stats import beta, qmc

    cube = qmc.LatinHypercube(d=len(TRAITS), seed=rng).random(n)
    return beta(3.0, 3.0).ppf(cube)


def _interview(traits: dict[str, float], rng: np.random.Generator) -> float:
    # On the project's scale neuroticism counts against (as FI's raters' interview votes do).
    weights = {"openness": 0.2, "conscientiousness": 0.25, "extraversion": 0.25, "agreeableness": 0.1, "neuroticism": -0.2}
    value = 0.2 + sum(w * traits[t] for t, w in weights.items()) + rng.normal(0, 0.03)
    return float(np.clip(value, 0, 1))


def _participant_ids(n: int, layout: str, rng: np.random.Generator) -> list[str]:
    if layout == "first_impressions":
        return ["".join(rng.choice(list(_YOUTUBE_ALPHABET), size=11)) for _ in range(n)]
    if layout == "collected":  # the website's ids: 16 URL-safe characters
        return ["".join(rng.choice(list(_YOUTUBE_ALPHABET), size=16)) for _ in range(n)]
    return [f"p{i:03d}" for i in range(n)]


def ipip50_answers_for(traits: dict[str, float], rng: np.random.Generator) -> dict[str, int]:
    """IPIP-50 answers (``q1``..``q50`` -> 1..5) whose scores are ``traits`` to the nearest 1/40.

    Each factor's ten keyed values (``6 - x`` for minus-keyed items) sum to ``10 + 40 * score``; emotional
    stability, the questionnaire's fifth factor, is ``1 - neuroticism``.
    """
    answers: dict[str, int] = {}
    for factor, trait in FACTOR_TO_TRAIT.items():
        score = 1.0 - traits[trait] if factor == "ES" else traits[trait]
        total = 10 + int(round(40 * float(np.clip(score, 0.0, 1.0))))
        items = [item for item in load_key() if item.factor == factor]
        keyed = np.full(len(items), total // len(items))
        keyed[rng.permutation(len(items))[: total % len(items)]] += 1
        for item, value in zip(items, keyed, strict=True):
            answers[item.column] = int(value) if item.key == "+" else int(6 - value)
    return dict(sorted(answers.items(), key=lambda kv: int(kv[0][1:])))


def write_demo_dataset(
    out: str | Path,
    clips: int = 36,
    clips_per_participant: int = 4,
    seed: int = 7,
    fps: int = 15,
    frames: int = 64,
    width: int = 320,
    height: int = 240,
    layout: str = "demo",
    progress: bool = False,
    broken_participants: int = 0,
    answer_seconds: tuple[float, float] | None = None,
) -> list[DemoClip]:
    """Write a demo dataset.

    Args:
        out: target folder (created).
        clips: number of clips (``collected``: participants, each answering the five questions).
        clips_per_participant: clips of each person (the last person may have fewer; not ``collected``).
        seed: everything random comes from this seed.
        fps, frames, width, height: clip format (``frames`` at least 60 for the paper's sampling).
        layout: ``demo`` (``<participant>_c<k>.mp4`` + ``labels.csv``), ``first_impressions``
            (``<11 chars>.<NNN>.mp4`` + the three annotation pickles, split 60/20/20 by participant) or
            ``collected`` (the website's export, see the module docstring).
        progress: show a progress bar.
        broken_participants: ``collected`` only: also write this many participants the adapter must
            leave out (in turn: an invalid ``ipip50.json``, none at all, no decodable answer).
        answer_seconds: ``collected`` only: each answer lasts a length drawn uniformly from this range (at
            ``fps``), so that answers are cut into several segments as real ones are; None: ``frames`` frames.

    Returns:
        The clips written (broken participants' files are not listed).
    """
    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {', '.join(LAYOUTS)}, not {layout!r}")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    per_person = len(QUESTIONS) if layout == "collected" else clips_per_participant
    n_people = clips if layout == "collected" else -(-clips // clips_per_participant)
    people = _participant_ids(n_people, layout, rng)
    faces = _faces(n_people, rng)
    wall = _background(width, height)
    base = _participant_traits(n_people, rng)
    sheets: dict[str, tuple[dict[str, int], dict[str, float]]] = {}  # participant -> answers, their scores
    if layout == "collected":
        for p, pid in enumerate(people):  # labels are what the questionnaire scores, to its 1/40 steps
            answers = ipip50_answers_for(dict(zip(TRAITS, base[p], strict=True)), rng)
            sheets[pid] = answers, score_answers(answers, pid)
            base[p] = [sheets[pid][1][t] for t in TRAITS]
    plan = [(p, k) for p in range(n_people) for k in range(per_person)]
    plan = plan if layout == "collected" else plan[:clips]
    iterator = plan
    if progress:
        from rich.progress import track

        iterator = track(plan, description=f"demo clips ({layout})")
    written: list[DemoClip] = []
    for p, k in iterator:
        pid = people[p]
        if layout == "collected":
            values = np.asarray(base[p])
        else:
            values = np.clip(base[p] + rng.normal(0, _CLIP_JITTER, size=len(TRAITS)), 0.02, 0.98)
        labels = {t: round(float(v), 4) for t, v in zip(TRAITS, values, strict=True)}
        labels[INTERVIEW] = round(_interview(labels, rng), 4)
        n_frames = frames
        if layout == "collected":
            path = out / pid / answer_file_name(k + 1, ".webm")
            clip_id = f"{pid}_answer_{k + 1}"
            codec = "libvpx"
            if answer_seconds is not None:
                n_frames = max(frames, int(round(rng.uniform(*answer_seconds) * fps)))
        else:
            clip_id = f"{pid}.{k:03d}" if layout == "first_impressions" else f"{pid}_c{k}"
            path = out / f"{clip_id}.mp4"
            codec = "libx264"
        write_video(path, render_clip(faces[p], wall, labels, n_frames, fps, rng), fps, codec=codec)
        written.append(DemoClip(clip_id, pid, path, labels))
    if layout == "first_impressions":
        _write_fi_annotations(out, written, rng)
    elif layout == "collected":
        for p, pid in enumerate(people):
            _write_participant_files(out / pid, pid, *sheets[pid], p, rng)
        _write_broken_participants(out, broken_participants, rng)
    else:
        table = pd.DataFrame(
            [{"clip_id": c.clip_id, "participant_id": c.participant_id, **{t: c.labels[t] for t in TRAITS}} for c in written]
        )
        write_csv_atomic(out / "labels.csv", table)
    return written


def _timestamp(p: int) -> str:
    """A fixed, per-participant time (same seed, same bytes)."""
    return f"2026-01-{1 + p % 28:02d}T{9 + p % 8:02d}:00:00+00:00"


def _write_participant_files(folder: Path, pid: str, answers: dict[str, int] | None, scores: dict[str, float],
                             p: int, rng: np.random.Generator) -> None:
    """consent.json, metadata.json and (when ``answers``) ipip50.json with ``scores``, as the website writes them."""
    folder.mkdir(parents=True, exist_ok=True)
    write_json_atomic(folder / CONSENT_FILE, {"agreed": True, "version": CONSENT_VERSION, "at": _timestamp(p)})
    profile = {key: str(rng.choice(list(choices))) for key, choices in PROFILE_CHOICES.items()}
    # synthetic self-reported categories for the bias audit (make demo writes reports/audit.*), kept apart from
    # the answers and the metadata the collected adapter reads
    write_json_atomic(folder / "self_report.json", {key: str(rng.choice(list(choices))) for key, choices in SELF_REPORT_CHOICES.items()})
    write_json_atomic(folder / METADATA_FILE, {"participant_id": pid, "created": _timestamp(p), "status": "complete",
                                                  "updated": _timestamp(p), "profile": profile})
    if answers is not None:
        write_json_atomic(folder / IPIP_FILE, {"answers": answers, "scores": scores, "submitted": _timestamp(p)})


def _write_broken_participants(out: Path, n: int, rng: np.random.Generator) -> None:
    """Participants the collected adapter must report and leave out."""
    for i, pid in enumerate(_participant_ids(n, "collected", rng)):
        folder = out / pid
        kind = i % 3
        answers = ipip50_answers_for(dict.fromkeys(TRAITS, 0.5), rng)
        if kind == 0:
            answers["q7"] = 7  # outside 1..5: the sheet is invalid
        scores = {} if kind == 0 else score_answers(answers, pid)  # an invalid sheet has no scores
        _write_participant_files(folder, pid, None if kind == 1 else answers, scores, 100 + i, rng)
        for n_answer in range(1, len(QUESTIONS) + 1):  # a webm signature and nothing decodable
            (folder / answer_file_name(n_answer, ".webm")).write_bytes(b"\x1aE\xdf\xa3 not a decodable recording")


def _write_fi_annotations(out: Path, clips: list[DemoClip], rng: np.random.Generator) -> None:
    """The three annotation pickles; ``neuroticism`` is stored as First Impressions stores it (stability, 1 - N)."""
    people = sorted({c.participant_id for c in clips})
    order = [people[i] for i in rng.permutation(len(people))]
    n_test = max(1, round(0.2 * len(people)))
    n_val = max(1, round(0.2 * len(people)))
    split_of = {p: "test" if i < n_test else "validation" if i < n_test + n_val else "train" for i, p in enumerate(order)}
    names = {"train": "annotation_training.pkl", "validation": "annotation_validation.pkl", "test": "annotation_test.pkl"}
    for split, name in names.items():
        chosen = [c for c in clips if split_of[c.participant_id] == split]
        payload = {key: {f"{c.clip_id}.mp4": c.labels[key] for c in chosen} for key in (*TRAITS, INTERVIEW)}
        payload["neuroticism"] = {f: round(1.0 - v, 4) for f, v in payload["neuroticism"].items()}
        with atomic_path(out / name) as tmp, tmp.open("wb") as fh:
            pickle.dump(payload, fh, protocol=2)
