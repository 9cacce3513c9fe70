"""Face tensors: the Parquet contract between featurize and everything after it.

One row per clip (README "Face tensor schema"): 60 RGB face crops as a uint8 fixed-shape tensor, where
they came from, and labels. Shards are ``part-NNNNN.parquet``, each written atomically; a folder's
rejected inputs are ``rejects.csv`` with ``REJECT_COLUMNS``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from sales_ability.io_utils import atomic_path
from sales_ability.traits import INTERVIEW, TRAITS

SHARD_PATTERN = "part-{:05d}.parquet"
SHARD_GLOB = "part-*.parquet"
REJECTS_FILE = "rejects.csv"
REJECT_COLUMNS: tuple[str, ...] = ("source", "reason", "clip_id")
LABEL_COLUMNS: tuple[str, ...] = (*TRAITS, INTERVIEW)
GROUP_COLUMNS: tuple[str, ...] = ("gender", "age_band")  # optional self-reported groups (collected data)
# What travels with every clip from the manifest to predictions and ratings, so no stage re-joins a manifest.
CLIP_COLUMNS: tuple[str, ...] = ("clip_id", "source", "participant_id", "split", *GROUP_COLUMNS)


def shard_paths(folder: str | Path) -> list[Path]:
    """The shards of a face-tensor folder, in write order."""
    return sorted(Path(folder).glob(SHARD_GLOB))


def face_tensor_schema(n_frames: int = 60, size: int = 64) -> pa.Schema:
    """The Parquet contract: one row per clip."""
    return pa.schema([
        pa.field("clip_id", pa.string(), nullable=False),
        pa.field("source", pa.string(), nullable=False),
        pa.field("participant_id", pa.string()),
        pa.field("split", pa.string()),
        *[pa.field(c, pa.string()) for c in GROUP_COLUMNS],
        pa.field("frames", pa.fixed_shape_tensor(pa.uint8(), [n_frames, size, size, 3]), nullable=False),
        pa.field("frame_index", pa.list_(pa.int64(), n_frames)),
        pa.field("face_found", pa.list_(pa.bool_(), n_frames)),
        pa.field("boxes", pa.list_(pa.list_(pa.float32(), 4), n_frames)),
        pa.field("fps", pa.float32()),
        pa.field("width", pa.int32()),
        pa.field("height", pa.int32()),
        pa.field("n_frames", pa.int32()),
        pa.field("start_s", pa.float32()),
        pa.field("end_s", pa.float32()),
        pa.field("detector", pa.string()),
        *[pa.field(c, pa.float32()) for c in LABEL_COLUMNS],
    ])


@dataclass
class ClipFeatures:
    """The face tensor of one clip and what it came from."""

    clip: dict
    frames: np.ndarray  # (T, S, S, 3) uint8 RGB
    frame_index: np.ndarray
    face_found: np.ndarray
    boxes: np.ndarray
    fps: float
    width: int
    height: int
    n_frames: int
    detector: str


def _isnan(v: object) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v))


class FaceTensorWriter:
    """Collects clips and writes them as Parquet shards of ``shard_size`` rows, each atomically."""

    def __init__(self, out_dir: str | Path, shard_size: int, n_frames: int, size: int) -> None:
        self.out_dir = Path(out_dir)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self.shard_size = shard_size
        self.schema = face_tensor_schema(n_frames, size)
        self._pending: list[ClipFeatures] = []
        existing = shard_paths(self.out_dir)
        self._next = 1 + max((int(p.stem.split("-")[1]) for p in existing), default=-1)
        self.written = 0

    def add(self, features: ClipFeatures) -> None:
        self._pending.append(features)
        if len(self._pending) >= self.shard_size:
            self.flush()

    def flush(self) -> Path | None:
        """Write the pending clips as one shard (atomic rename); returns its path."""
        if not self._pending:
            return None
        table = self._table(self._pending)
        path = self.out_dir / SHARD_PATTERN.format(self._next)
        with atomic_path(path) as tmp:
            pq.write_table(table, tmp, compression="zstd")
        self._next += 1
        self.written += len(self._pending)
        self._pending = []
        return path

    def _table(self, rows: list[ClipFeatures]) -> pa.Table:
        def col(key: str) -> list:
            return [None if _isnan(r.clip.get(key)) else r.clip.get(key) for r in rows]

        tensor_type = self.schema.field("frames").type
        frames = pa.ExtensionArray.from_storage(
            tensor_type,
            pa.FixedSizeListArray.from_arrays(
                pa.array(np.stack([r.frames for r in rows]).reshape(-1), pa.uint8()),
                int(np.prod(rows[0].frames.shape)),
            ),
        )
        data = {
            "clip_id": [str(r.clip["clip_id"]) for r in rows],
            "source": [str(r.clip["source"]) for r in rows],
            "participant_id": [None if v is None else str(v) for v in col("participant_id")],
            **{c: [None if v is None else str(v) for v in col(c)] for c in ("split", *GROUP_COLUMNS)},
            "frames": frames,
            "frame_index": [r.frame_index.astype(np.int64).tolist() for r in rows],
            "face_found": [r.face_found.tolist() for r in rows],
            "boxes": [[[float(v) for v in b] for b in r.boxes] for r in rows],
            "fps": [r.fps for r in rows],
            "width": [r.width for r in rows],
            "height": [r.height for r in rows],
            "n_frames": [r.n_frames for r in rows],
            "start_s": col("start_s"),
            "end_s": col("end_s"),
            "detector": [r.detector for r in rows],
            **{c: col(c) for c in LABEL_COLUMNS},
        }
        return pa.table(data, schema=self.schema)


def read_face_tensors(folder: str | Path, columns: list[str] | None = None) -> pa.Table:
    """All shards of a featurized folder as one table."""
    paths = shard_paths(folder)
    if not paths:
        return face_tensor_schema().empty_table() if columns is None else face_tensor_schema().empty_table().select(columns)
    return pa.concat_tables(pq.read_table(p, columns=columns) for p in paths)


def frames_array(table: pa.Table) -> np.ndarray:
    """The ``frames`` column as a (N, T, S, S, 3) uint8 array (zero-copy where Arrow allows)."""
    column = table.column("frames").combine_chunks()
    return column.to_numpy_ndarray()
