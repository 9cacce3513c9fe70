"""Stream face tensors from Parquet shards into Keras, a few batches in memory at a time.

Each epoch visits the shards in a shuffled order and the clips of each shard in a shuffled order, so a
batch touches at most two shards. Decoded shards are kept while they fit in ``cache_bytes`` (1 GiB by
default: a demo or a small dataset is decoded once, not once per epoch); past that only the last two.
Frames stay uint8 until the model's input layer.
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from pathlib import Path

import keras
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from sales_ability.data.face_tensors import CLIP_COLUMNS, shard_paths
from sales_ability.traits import INTERVIEW, TRAITS


def _label_matrix(table: pa.Table) -> np.ndarray:
    """(N, 5) float32 trait labels of a shard table; NaN for unlabelled clips (prediction only)."""
    return np.stack([table.column(t).to_numpy(zero_copy_only=False) for t in TRAITS], axis=1).astype(np.float32)


class FaceTensorDataset(keras.utils.PyDataset):
    """Batches ``(frames uint8 (B, T, S, S, 3), traits float32 (B, 5))`` of one split.

    Args:
        folder: featurized folder (``part-*.parquet``).
        split: ``train``, ``validation``, ``test``, or None for every labelled clip.
        batch_size: clips per batch.
        shuffle: reshuffle shards and clips every epoch.
        augment_flip: mirror each clip left-right with probability 1/2 (training only).
        seed: for the shuffles and augmentation.
        cache_bytes: decoded shards kept in memory (at least the last two).
        labelled_only: skip clips without labels (False to predict every clip).
        workers: threads that prepare batches ahead of the model (Keras' enqueuer); with more than one
            the flips are drawn in thread order, so a fit is no longer bit-reproducible.
    """

    def __init__(
        self,
        folder: str | Path,
        split: str | None,
        batch_size: int = 4,
        shuffle: bool = False,
        augment_flip: bool = False,
        seed: int = 0,
        cache_bytes: int = 1 << 30,
        labelled_only: bool = True,
        workers: int = 1,
    ) -> None:
        super().__init__(workers=workers, use_multiprocessing=False)
        self._lock = threading.Lock()  # the shard cache is shared by the prefetching threads
        self.folder = Path(folder)
        self.split = split
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.augment_flip = augment_flip
        self._rng = np.random.default_rng(seed)
        self._cache: OrderedDict[Path, tuple[np.ndarray, np.ndarray]] = OrderedDict()
        self.shards: list[tuple[Path, np.ndarray, list[str]]] = []  # path, rows of this split, clip ids
        self._metadata: list[pa.Table] = []  # per shard, the split's rows: clip columns and interview
        self._labels: list[np.ndarray] = []  # per shard, the split's rows: labels without reading frames
        largest_shard_bytes = 0
        for shard in shard_paths(self.folder):
            parquet = pq.ParquetFile(shard)
            present = set(parquet.schema_arrow.names)
            meta = parquet.read(columns=[c for c in (*CLIP_COLUMNS, INTERVIEW, *TRAITS, "face_found") if c in present])
            if labelled_only:
                mask = pc.invert(pc.is_null(meta.column(TRAITS[0])))
            else:
                mask = pa.array(np.ones(meta.num_rows, bool))
            if split is not None:
                mask = pc.and_(mask, pc.equal(meta.column("split"), split))
            rows = np.flatnonzero(mask.to_numpy(zero_copy_only=False))
            if len(rows):
                ids = meta.column("clip_id").to_pylist()
                self.shards.append((shard, rows, [ids[r] for r in rows]))
                kept = meta.select([c for c in (*CLIP_COLUMNS, INTERVIEW) if c in present]).take(rows)
                if "face_found" in present:  # the share of sampled frames with a face travels with the clip
                    found = meta.column("face_found").take(rows).to_pylist()
                    kept = kept.append_column("face_share", pa.array([round(float(np.mean(f)), 4) for f in found]))
                self._metadata.append(kept)
                self._labels.append(_label_matrix(meta)[rows])
                frame_bytes = int(np.prod(parquet.schema_arrow.field("frames").type.shape))
                largest_shard_bytes = max(largest_shard_bytes, parquet.metadata.num_rows * frame_bytes)
        self.n_clips = sum(len(r) for _, r, _ in self.shards)
        if self.n_clips == 0:
            raise ValueError(f"{self.folder}: no {'labelled ' if labelled_only else ''}clips in split {split!r}")
        self.cache_shards = max(2, cache_bytes // max(1, largest_shard_bytes))  # a shard is cached whole
        self._plan = self._make_plan()

    @property
    def clip_ids(self) -> list[str]:
        """Clip ids in the (unshuffled) order of ``predict``."""
        return [c for _, _, ids in self.shards for c in ids]

    def metadata(self) -> pd.DataFrame:
        """Per clip, in ``clip_ids`` order: the columns that travel with it (``CLIP_COLUMNS``, ``interview``,
        ``face_share``: the share of its sampled frames where a face was found)."""
        frame = pa.concat_tables(self._metadata, promote_options="default").to_pandas()
        return frame.reindex(columns=[*CLIP_COLUMNS, INTERVIEW, "face_share"])

    def _make_plan(self) -> list[tuple[int, int]]:
        order = self._rng.permutation(len(self.shards)) if self.shuffle else range(len(self.shards))
        plan = []
        for s in order:
            rows = self.shards[s][1]
            rows = self._rng.permutation(rows) if self.shuffle else rows
            plan.extend((int(s), int(r)) for r in rows)
        return plan

    def _shard(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        with self._lock:  # one decode per shard even when threads ask for it together
            return self._shard_locked(index)

    def _shard_locked(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        path = self.shards[index][0]
        if path in self._cache:
            self._cache.move_to_end(path)
            return self._cache[path]
        table = pq.read_table(path, columns=["frames", *TRAITS])
        frames = table.column("frames").combine_chunks().to_numpy_ndarray()
        entry = self._cache[path] = (frames, _label_matrix(table))
        while len(self._cache) > self.cache_shards:
            self._cache.popitem(last=False)
        return entry

    def __len__(self) -> int:
        return math.ceil(self.n_clips / self.batch_size)

    def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        picks = self._plan[index * self.batch_size : (index + 1) * self.batch_size]
        xs, ys = [], []
        for shard, row in picks:
            frames, labels = self._shard(shard)
            clip = frames[row]
            if self.augment_flip and self._rng.random() < 0.5:
                clip = clip[:, :, ::-1]
            xs.append(clip)
            ys.append(labels[row])
        return np.ascontiguousarray(np.stack(xs)), np.stack(ys)

    def on_epoch_end(self) -> None:
        if self.shuffle:
            self._plan = self._make_plan()

    def labels(self) -> np.ndarray:
        """All labels of the split, in ``clip_ids`` order (no frames are read)."""
        return np.concatenate(self._labels)

    def label_means(self) -> list[float]:
        """Mean of each trait over the split (the constant predictor)."""
        return [float(v) for v in self.labels().mean(axis=0)]
