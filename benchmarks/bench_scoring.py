"""Batch scoring throughput (clips per minute) on demo clips: one shard task, against two shard tasks in
parallel processes (what the DAG's mapped `score_shard` tasks get from LocalExecutor with parallelism 2),
and against featurize's own rate on the same clips (a process that only featurizes them). Each task pays its
own start-up (Keras, model load), as a real task does."""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

CLIPS = 16

_FEATURIZE = """
import sys
from pathlib import Path
from sales_ability.config import FeaturizeParams
from sales_ability.data.datasets import manifest_from_inputs
from sales_ability.data.featurize import featurize_manifest
featurize_manifest(manifest_from_inputs([Path(sys.argv[1])]), sys.argv[2], FeaturizeParams(), progress=False)
"""

_TASK = """
import json, sys
from sales_ability.operations.batch import score_shard
score_shard(json.loads(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4])
"""


def _shard(paths: list[Path], shard_id: str) -> str:
    import json

    return json.dumps({"shard_id": shard_id, "applicants": [{"applicant_id": p.stem, "videos": [{"path": str(p), "sha256": p.stem}]}
                                                            for p in paths]})


def main() -> None:
    from rich.console import Console
    from rich.table import Table

    from sales_ability.data.demo_data import write_demo_dataset
    from sales_ability.knowledge.rate import paper_knowledge_base, save_knowledge_base
    from sales_ability.model.network import build_model
    from sales_ability.model.training import save_model

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        clips = [c.path for c in write_demo_dataset(tmp / "inbox", clips=CLIPS, seed=2)]
        save_model(build_model("small"), tmp / "model.keras")
        save_knowledge_base(paper_knowledge_base(), tmp / "kb.json")

        def run(shards: list[list[Path]], outbox: Path) -> float:
            start = time.perf_counter()
            procs = [subprocess.Popen([sys.executable, "-c", _TASK, _shard(s, f"s{i}"), str(outbox), str(tmp / "kb.json"), str(tmp / "model.keras")])
                     for i, s in enumerate(shards)]
            for p in procs:
                assert p.wait() == 0
            return time.perf_counter() - start

        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", _FEATURIZE, str(tmp / "inbox"), str(tmp / "faces")], check=True)
        featurize_only = time.perf_counter() - start
        one = run([clips], tmp / "out1")
        two = run([clips[: CLIPS // 2], clips[CLIPS // 2 :]], tmp / "out2")
    table = Table(title=f"batch scoring: {CLIPS} demo clips (320x240, 64 frames), small model")
    table.add_column("setup")
    table.add_column("seconds", justify="right")
    table.add_column("clips/min", justify="right")
    table.add_row("1 shard task", f"{one:.1f}", f"{CLIPS / one * 60:.0f}")
    table.add_row("2 shard tasks in parallel", f"{two:.1f}", f"{CLIPS / two * 60:.0f}  ({one / two:.2f} x)")
    table.add_row("featurize only, 1 process (its own rate)", f"{featurize_only:.1f}",
                  f"{CLIPS / featurize_only * 60:.0f}  (1 shard task = {featurize_only / one:.2f} x of it)")
    Console().print(table)
    Console().print("target: a shard task scores at >= 0.8 x the rate featurize alone reaches on the same clips")
