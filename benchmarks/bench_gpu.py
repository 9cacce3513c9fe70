"""`make bench-gpu`: the real trainer on the JAX backend at several batch sizes, against the bare model.

For each batch size, in one run: training clips/s of the project's trainer (``training.fit_model``: the
Parquet feed, prefetched by ``--feed-workers`` threads) and of the same model fed from memory (the
ratio is the feed's cost), prediction clips/s, the first training step (compilation), and peak memory
(the accelerator's when JAX has one, else the process's). Steady figures leave out the first epoch,
which holds the compilation. Runs on a CPU too (small defaults there) to prove the path end to end.

    python -m benchmarks.bench_gpu --help
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Annotated

import typer

os.environ.setdefault("KERAS_BACKEND", "jax")  # before Keras is imported: the GPU machine has no TensorFlow

app = typer.Typer(add_completion=False, help=__doc__.split("\n\n")[0])


def _accelerator() -> str:
    import jax

    return jax.devices()[0].platform  # "gpu", "tpu" or "cpu"


def _peak_memory_mib() -> float:
    """Peak bytes in use on the first JAX device (since start), or the process's peak RSS on a CPU."""
    import resource

    import jax

    stats = jax.devices()[0].memory_stats() or {}
    if "peak_bytes_in_use" in stats:
        return stats["peak_bytes_in_use"] / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def write_clips(folder: Path, clips: int, seed: int = 0) -> Path:
    """``clips`` random 60x64x64x3 uint8 clips with labels, split ``train``, in shards of 64 (as featurize writes)."""
    import numpy as np

    from sales_ability.data.face_tensors import ClipFeatures, FaceTensorWriter
    from sales_ability.traits import TRAITS

    rng = np.random.default_rng(seed)
    writer = FaceTensorWriter(folder, shard_size=64, n_frames=60, size=64)
    for i in range(clips):
        clip = {"clip_id": f"c{i:05d}", "source": f"c{i:05d}.mp4", "split": "train",
                **dict(zip(TRAITS, rng.uniform(0.2, 0.8, len(TRAITS)).round(4).tolist(), strict=True))}
        frames = rng.integers(0, 256, (60, 64, 64, 3), dtype=np.uint8)
        writer.add(ClipFeatures(clip, frames, np.arange(60), np.ones(60, bool), np.zeros((60, 4), np.float32),
                                25.0, 640, 480, 60, "synthetic"))
    writer.flush()
    return folder


def _steady(seconds: list[float]) -> float:
    return statistics.median(seconds[1:]) if len(seconds) > 1 else seconds[0]


def bench_batch_size(preset: str, faces: Path, batch: int, epochs: int, feed_workers: int) -> dict:
    """One batch size: bare model from memory, then the trainer on the Parquet feed, then prediction."""
    import numpy as np

    from sales_ability.model.feed import FaceTensorDataset
    from sales_ability.model.network import build_model, seed_everything
    from sales_ability.model.training import (
        EpochTimer,
        FitSettings,
        compile_model,
        fit_model,
    )

    feed = FaceTensorDataset(faces, "train", batch)
    x = np.concatenate([feed[i][0] for i in range(len(feed))])
    y = np.concatenate([feed[i][1] for i in range(len(feed))])
    clips = len(x)

    seed_everything(0)
    model = build_model(preset)
    compile_model(model, 1e-3)
    start = time.perf_counter()
    model.train_on_batch(x[:batch], y[:batch])
    first_step = time.perf_counter() - start
    timer = EpochTimer()
    model.fit(x, y, batch_size=batch, epochs=epochs, shuffle=True, verbose=0, callbacks=[timer])
    bare = clips / _steady(timer.seconds)

    seed_everything(0)
    model = build_model(preset)
    fit = fit_model(model, faces, FitSettings(epochs=epochs, batch_size=batch, learning_rate=1e-3, patience=epochs,
                                              augment_flip=True, seed=0, feed_workers=feed_workers))
    trainer = clips / _steady(fit["epoch_seconds"])

    model.predict(x[: batch * 2], batch_size=batch, verbose=0)  # compile the inference step
    start = time.perf_counter()
    model.predict(x, batch_size=batch, verbose=0)
    predict = clips / (time.perf_counter() - start)
    return {"batch_size": batch, "clips": clips, "trainer_clips_per_s": round(trainer, 2),
            "bare_clips_per_s": round(bare, 2), "trainer_over_bare": round(trainer / bare, 3),
            "predict_clips_per_s": round(predict, 1), "first_step_s": round(first_step, 1),
            "peak_memory_mib": round(_peak_memory_mib(), 1)}


@app.command()
def main(
    batch_sizes: Annotated[str, typer.Option(help="Comma-separated batch sizes (default: 8,32,64 on a GPU, 4,8 on a CPU).")] = "",
    clips: Annotated[int, typer.Option(help="Training clips (default: 512 on a GPU, 16 on a CPU).")] = 0,
    epochs: Annotated[int, typer.Option(help="Epochs per measurement; the first holds the compilation.")] = 3,
    preset: Annotated[str, typer.Option(help="Backbone preset (the paper's best is EfficientNetB2).")] = "efficientnetb2",
    feed_workers: Annotated[int, typer.Option(help="Threads that prepare the trainer's batches ahead of the model.")] = 2,
    out: Annotated[Path, typer.Option(help="JSON of the figures.")] = Path("reports/bench_gpu.json"),
) -> None:
    """Training and prediction clips/s of the real trainer against the bare model, per batch size."""
    import keras
    from rich.console import Console
    from rich.table import Table

    from sales_ability.io_utils import write_json_atomic

    console = Console()
    device = _accelerator()
    on_cpu = device == "cpu"
    sizes = [int(b) for b in (batch_sizes or ("4,8" if on_cpu else "8,32,64")).split(",")]
    clips = clips or (16 if on_cpu else 512)
    console.print(f"backend {keras.backend.backend()} on {device}; {preset}, {clips} clips of 60x64x64x3, "
                  f"{epochs} epochs per figure, feed workers {feed_workers}")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        faces = write_clips(Path(tmp) / "faces", clips)
        for batch in sizes:
            console.print(f"batch {batch} ...")
            rows.append(bench_batch_size(preset, faces, batch, epochs, feed_workers))
    table = Table(title=f"{preset} training on {device} ({keras.backend.backend()})")
    columns = {"batch_size": "batch", "trainer_clips_per_s": "trainer clips/s", "bare_clips_per_s": "bare clips/s",
               "trainer_over_bare": "trainer / bare", "predict_clips_per_s": "predict clips/s",
               "first_step_s": "first step s", "peak_memory_mib": "peak MiB"}
    for title in columns.values():
        table.add_column(title, justify="right")
    for row in rows:
        table.add_row(*(str(row[k]) for k in columns))
    console.print(table)
    console.print("targets on one H200: trainer >= 500 clips/s for EfficientNetB2, trainer / bare >= 0.9"
                  + (" (this run is on a CPU: it proves the path, not the speed)" if on_cpu else ""))
    write_json_atomic(out, {"device": device, "backend": keras.backend.backend(), "preset": preset,
                            "epochs": epochs, "feed_workers": feed_workers, "rows": rows})
    console.print(f"figures -> {out}")


if __name__ == "__main__":
    app()
