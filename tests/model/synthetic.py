"""Small face-tensor folders written straight through the Parquet writer (no video, no detector)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from sales_ability.data.face_tensors import ClipFeatures, FaceTensorWriter
from sales_ability.traits import TRAITS


def write_face_tensors(folder: Path, n_clips: int = 12, n_frames: int = 4, size: int = 16, seed: int = 0,
                       unlabelled: int = 0) -> Path:
    """``n_clips`` clips split 50/25/25 into train/validation/test, whose mean brightness is their openness;
    clip ``i`` has gender ``f``/``m`` by parity; the last ``unlabelled`` clips have no labels (an inbox)."""
    rng = np.random.default_rng(seed)
    writer = FaceTensorWriter(folder, shard_size=5, n_frames=n_frames, size=size)
    for i in range(n_clips):
        labels = dict(zip(TRAITS, rng.uniform(0.2, 0.8, size=len(TRAITS)).round(4), strict=True))
        frames = np.clip(rng.normal(255 * labels["openness"], 20, size=(n_frames, size, size, 3)), 0, 255).astype(np.uint8)
        split = "train" if i < n_clips // 2 else "validation" if i < 3 * n_clips // 4 else "test"
        clip = {"clip_id": f"c{i:03d}", "source": f"c{i:03d}.mp4", "participant_id": f"p{i:03d}", "split": split,
                "gender": "fm"[i % 2], **(labels if i < n_clips - unlabelled else {})}
        writer.add(ClipFeatures(clip, frames, np.arange(n_frames), np.ones(n_frames, bool),
                                np.zeros((n_frames, 4), np.float32), 15.0, 320, 240, n_frames, "synthetic"))
    writer.flush()
    return folder
