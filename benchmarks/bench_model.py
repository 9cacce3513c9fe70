"""Model speed, measured in one run: training clips/s of the real trainer (Parquet feed) against the same
model fed from in-memory arrays, the first training step (graph build), and prediction clips/s; and the
feed's shard cache: an epoch over more shards than the old two-shard cache held, against the 1 GiB budget."""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

import numpy as np

PRESETS = os.environ.get("BENCH_PRESETS", "small,efficientnetb2").split(",")
CLIPS = 16
BATCH = 4


def _faces(tmp: Path) -> Path:
    import pandas as pd

    from sales_ability.config import FeaturizeParams
    from sales_ability.data.datasets import demo_manifest
    from sales_ability.data.demo_data import write_demo_dataset
    from sales_ability.data.featurize import featurize_manifest

    write_demo_dataset(tmp / "clips", clips=CLIPS, seed=1)
    manifest = demo_manifest(tmp / "clips")
    manifest["split"] = pd.Series(["train"] * len(manifest), dtype=object)
    featurize_manifest(manifest, tmp / "faces", FeaturizeParams(shard_size=8), progress=False)
    return tmp / "faces"


def _reshard(faces: Path, out: Path, rows: int) -> Path:
    """The same face tensors in shards of ``rows`` clips."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.concat_tables(pq.read_table(p) for p in sorted(faces.glob("part-*.parquet")))
    out.mkdir()
    for i in range(0, table.num_rows, rows):
        pq.write_table(table.slice(i, rows), out / f"part-{i // rows:05d}.parquet", compression="zstd")
    return out


def _feed_epochs_seconds(faces: Path, cache_bytes: int, epochs: int = 3) -> float:
    """Wall time of ``epochs`` shuffled passes over the training feed (no model: the feed alone)."""
    from sales_ability.model.feed import FaceTensorDataset

    feed = FaceTensorDataset(faces, "train", BATCH, shuffle=True, augment_flip=True, cache_bytes=cache_bytes)
    start = time.perf_counter()
    for _ in range(epochs):
        for i in range(len(feed)):
            feed[i]
        feed.on_epoch_end()
    return time.perf_counter() - start


def shard_cache_table(faces: Path, tmp: Path):
    """Old cache (the last two decoded shards) against the budget (every shard that fits in 1 GiB)."""
    from rich.table import Table

    small = _reshard(faces, tmp / "faces_4", rows=4)
    shard_bytes = 4 * 60 * 64 * 64 * 3
    _feed_epochs_seconds(small, 1 << 30, epochs=1)  # warm the file cache for both
    two_shards = _feed_epochs_seconds(small, 2 * shard_bytes)
    budget = _feed_epochs_seconds(small, 1 << 30)
    table = Table(title=f"Parquet feed alone: {CLIPS} clips in 4 shards, 3 shuffled epochs")
    for column in ("cache", "seconds", "speed-up"):
        table.add_column(column, justify="right")
    table.add_row("last 2 shards (before)", f"{two_shards:.3f}", "1.00")
    table.add_row("1 GiB budget (now)", f"{budget:.3f}", f"{two_shards / budget:.2f}")
    return table


def _epoch_seconds(model, data, **fit_kwargs) -> float:
    start = time.perf_counter()
    model.fit(data, epochs=1, verbose=0, **fit_kwargs)
    return time.perf_counter() - start


def main() -> None:
    from rich.console import Console
    from rich.table import Table

    from sales_ability.model.feed import FaceTensorDataset
    from sales_ability.model.network import build_model
    from sales_ability.model.training import compile_model

    console = Console()
    table = Table(title=f"model: {CLIPS} clips of 60x64x64x3, batch {BATCH}, this CPU")
    for column in ("preset", "first step s", "bare arrays clips/s", "Parquet feed clips/s", "feed / bare", "predict clips/s"):
        table.add_column(column, justify="right")
    with tempfile.TemporaryDirectory() as tmp:
        faces = _faces(Path(tmp))
        feed = FaceTensorDataset(faces, "train", BATCH, shuffle=True, augment_flip=True)
        x = np.concatenate([feed[i][0] for i in range(len(feed))])
        y = np.concatenate([feed[i][1] for i in range(len(feed))])
        for preset in PRESETS:
            model = build_model(preset, output_bias=list(y.mean(axis=0)))
            compile_model(model, 1e-3)
            start = time.perf_counter()
            model.train_on_batch(x[:BATCH], y[:BATCH])
            first_step = time.perf_counter() - start
            _epoch_seconds(model, x, y=y, batch_size=BATCH)  # warm both paths once
            _epoch_seconds(model, feed)
            bare = min(_epoch_seconds(model, x, y=y, batch_size=BATCH) for _ in range(2))
            fed = min(_epoch_seconds(model, feed) for _ in range(2))
            start = time.perf_counter()
            model.predict(x, batch_size=8, verbose=0)
            model.predict(x, batch_size=8, verbose=0)
            pred = (time.perf_counter() - start) / 2
            table.add_row(preset, f"{first_step:.1f}", f"{CLIPS / bare:.2f}", f"{CLIPS / fed:.2f}",
                          f"{bare / fed:.2f}", f"{CLIPS / pred:.1f}")
        cache = shard_cache_table(faces, Path(tmp))
    console.print(table)
    console.print("target: the Parquet feed reaches at least 0.9 of the bare-array throughput")
    console.print(cache)
