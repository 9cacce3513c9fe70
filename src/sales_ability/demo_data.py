"""The embedded demo dataset: short interview-like clips of real faces with a learnable planted signal.

Faces are the photographs that ship inside scikit-image (``astronaut`` and the LFW subset). Each clip is
a talking head that bobs, sways and breathes, and each trait drives one visual property of the whole clip,
so a CNN-LSTM can learn the labels and beat the constant predictor:

========================  =================================================
trait                     planted signal
========================  =================================================
openness                  colour temperature (red vs blue gain)
conscientiousness         brightness
extraversion              contrast around the mean
agreeableness             colour saturation (greyer when low)
neuroticism               green cast (green gain)
========================  =================================================

Same ``seed``, same bytes: the noise comes from one seeded generator and the encoder runs single-threaded.
"""

from __future__ import annotations

import pickle
import string
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from sales_ability.io_utils import atomic_path, write_csv_atomic
from sales_ability.traits import INTERVIEW, TRAITS
from sales_ability.video import write_video

FACE_SIDE = 110  # pixels of the face patch in a 320x240 frame: large enough for the detector after 2x downscale
_YOUTUBE_ALPHABET = string.ascii_letters + string.digits + "-_"


@dataclass(frozen=True)
class DemoClip:
    """One generated clip: where it went and its labels."""

    clip_id: str
    participant_id: str
    path: Path
    labels: dict[str, float]


def _faces(n: int, rng: np.random.Generator) -> list[np.ndarray]:
    """``n`` RGB face patches: the astronaut first, then tinted LFW faces."""
    import cv2
    from skimage import data

    astronaut = data.astronaut()[20:200, 140:310]
    patches = [cv2.resize(astronaut, (FACE_SIDE, FACE_SIDE), interpolation=cv2.INTER_AREA)]
    lfw = data.lfw_subset()[:100]  # the first 100 are faces, the rest are not
    for idx in rng.choice(len(lfw), size=max(0, n - 1), replace=n - 1 > len(lfw)):
        grey = cv2.resize((lfw[idx] * 255).astype(np.float32), (FACE_SIDE, FACE_SIDE), interpolation=cv2.INTER_CUBIC)
        # one skin tone and one background for everybody: colour then carries only the planted traits
        skin = np.array([0.95, 0.8, 0.68], np.float32)
        patches.append(np.clip(grey[..., None] * skin, 0, 255).astype(np.uint8))
    return patches[:n]


def _background(width: int, height: int, rng: np.random.Generator) -> np.ndarray:
    top, bottom = np.full(3, rng.uniform(130, 150)), np.full(3, rng.uniform(80, 100))
    ramp = np.linspace(0, 1, height, dtype=np.float32)[:, None, None]
    return np.broadcast_to(top * (1 - ramp) + bottom * ramp, (height, width, 3)).astype(np.float32)


def render_clip(
    face: np.ndarray,
    background: np.ndarray,
    labels: dict[str, float],
    n_frames: int,
    fps: int,
    rng: np.random.Generator,
) -> list[np.ndarray]:
    """Frames (RGB uint8) of one talking-head clip whose look encodes ``labels``.

    Returns:
        The frames; the face centre of each is known to follow ``face_track`` below.
    """
    import cv2

    height, width = background.shape[:2]
    phase = rng.uniform(0, 2 * np.pi, size=3)
    sway, bob = rng.uniform(4, 10), rng.uniform(2, 5)
    saturation = 0.2 + 1.6 * labels["agreeableness"]
    gains = np.array(
        [0.75 + 0.5 * labels["openness"], 0.75 + 0.5 * labels["neuroticism"], 1.25 - 0.5 * labels["openness"]], np.float32
    )
    brightness = 0.6 + 0.7 * labels["conscientiousness"]
    contrast = 0.5 + 1.0 * labels["extraversion"]
    frames = []
    for t in range(n_frames):
        s = t / fps
        cx = width / 2 + sway * np.sin(2 * np.pi * 0.4 * s + phase[0])
        cy = height / 2 - 10 + bob * np.sin(2 * np.pi * 1.3 * s + phase[1])
        scale = 1.0 + 0.03 * np.sin(2 * np.pi * 0.7 * s + phase[2])
        side = int(round(face.shape[0] * scale))
        patch = cv2.resize(face, (side, side), interpolation=cv2.INTER_LINEAR).astype(np.float32)
        frame = background.copy()
        x0, y0 = int(round(cx - side / 2)), int(round(cy - side / 2))
        frame[y0 : y0 + side, x0 : x0 + side] = patch
        grey = frame.mean(axis=2, keepdims=True)
        frame = grey + (frame - grey) * saturation
        mean = frame.mean()
        frame = mean + (frame - mean) * contrast
        frame = frame * gains * brightness
        frames.append(np.clip(frame, 0, 255).astype(np.uint8))
    return frames


def face_track(width: int, height: int) -> tuple[float, float]:
    """The resting face centre (x, y) of a demo frame; tests check crops land around it."""
    return width / 2, height / 2 - 10


def _participant_traits(rng: np.random.Generator) -> np.ndarray:
    # Spread like First Impressions labels (mean about 0.5, sd about 0.15).
    return rng.beta(5.0, 5.0, size=len(TRAITS))


def _interview(traits: dict[str, float], rng: np.random.Generator) -> float:
    weights = {"openness": 0.2, "conscientiousness": 0.25, "extraversion": 0.25, "agreeableness": 0.1, "neuroticism": 0.2}
    value = sum(w * traits[t] for t, w in weights.items()) + rng.normal(0, 0.03)
    return float(np.clip(value, 0, 1))


def _participant_ids(n: int, layout: str, rng: np.random.Generator) -> list[str]:
    if layout == "first_impressions":
        return ["".join(rng.choice(list(_YOUTUBE_ALPHABET), size=11)) for _ in range(n)]
    return [f"p{i:03d}" for i in range(n)]


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
) -> list[DemoClip]:
    """Write a demo dataset.

    Args:
        out: target folder (created).
        clips: number of clips.
        clips_per_participant: clips of each person (the last person may have fewer).
        seed: everything random comes from this seed.
        fps, frames, width, height: clip format (``frames`` at least 60 for the paper's sampling).
        layout: ``demo`` (``<participant>_c<k>.mp4`` + ``labels.csv``) or ``first_impressions``
            (``<11 chars>.<NNN>.mp4`` + the three annotation pickles, split 60/20/20 by participant).
        progress: show a progress bar.

    Returns:
        The clips written.
    """
    if layout not in ("demo", "first_impressions"):
        raise ValueError(f"layout must be 'demo' or 'first_impressions', not {layout!r}")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    n_people = -(-clips // clips_per_participant)
    people = _participant_ids(n_people, layout, rng)
    faces = _faces(n_people, rng)
    written: list[DemoClip] = []
    plan = [(p, k) for p in range(n_people) for k in range(clips_per_participant)][:clips]
    iterator = plan
    if progress:
        from rich.progress import track

        iterator = track(plan, description="demo clips")
    backgrounds = [_background(width, height, rng) for _ in range(n_people)]
    base = [_participant_traits(rng) for _ in range(n_people)]
    for p, k in iterator:
        values = np.clip(base[p] + rng.normal(0, 0.08, size=len(TRAITS)), 0.02, 0.98)
        labels = {t: round(float(v), 4) for t, v in zip(TRAITS, values, strict=True)}
        labels[INTERVIEW] = round(_interview(labels, rng), 4)
        pid = people[p]
        clip_id = f"{pid}.{k:03d}" if layout == "first_impressions" else f"{pid}_c{k}"
        path = out / f"{clip_id}.mp4"
        write_video(path, render_clip(faces[p], backgrounds[p], labels, frames, fps, rng), fps)
        written.append(DemoClip(clip_id, pid, path, labels))
    if layout == "first_impressions":
        _write_fi_annotations(out, written, rng)
    else:
        table = pd.DataFrame(
            [{"clip_id": c.clip_id, "participant_id": c.participant_id, **{t: c.labels[t] for t in TRAITS}} for c in written]
        )
        write_csv_atomic(out / "labels.csv", table)
    return written


def _write_fi_annotations(out: Path, clips: list[DemoClip], rng: np.random.Generator) -> None:
    people = sorted({c.participant_id for c in clips})
    order = [people[i] for i in rng.permutation(len(people))]
    n_test = max(1, round(0.2 * len(people)))
    n_val = max(1, round(0.2 * len(people)))
    split_of = {p: "test" if i < n_test else "validation" if i < n_test + n_val else "train" for i, p in enumerate(order)}
    names = {"train": "annotation_training.pkl", "validation": "annotation_validation.pkl", "test": "annotation_test.pkl"}
    for split, name in names.items():
        chosen = [c for c in clips if split_of[c.participant_id] == split]
        payload = {key: {f"{c.clip_id}.mp4": c.labels[key] for c in chosen} for key in (*TRAITS, INTERVIEW)}
        with atomic_path(out / name) as tmp, tmp.open("wb") as fh:
            pickle.dump(payload, fh, protocol=2)
