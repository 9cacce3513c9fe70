"""Batch scoring throughput (clips per minute): one shard task against featurize's own rate on the same videos (a
process that only featurizes them), on two workloads: 16 small demo clips (also as two shard tasks in parallel
processes, what the DAG's mapped `score_shard` tasks get from LocalExecutor with parallelism 2), and a shard of
the deployment's default size (`SALES_ABILITY_SHARD_SIZE`, 8 videos) of 60 s 640x480 VP8 answers, as the
website uploads them. Each task pays its own start-up (Keras, the model's load), as a task on a worker without the
preload does. Both workloads are also run as Airflow's Celery worker runs them with the deployment's preload
(sales_ability.operations.celery_config): one worker process imports the scoring stack once, then each task is a
process forked from it, featurize alone and the shard task alike, in turns, best of two."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CLIPS = 16

def run_job(job: dict) -> None:
    """One job as a task runs it: featurize the videos alone, or score a shard (heavy imports inside)."""
    if job["kind"] == "featurize":
        from sales_ability.config import FeaturizeParams
        from sales_ability.data.datasets import manifest_from_inputs
        from sales_ability.data.featurize import featurize_manifest

        featurize_manifest(manifest_from_inputs(job["videos"]), job["out"], FeaturizeParams(), progress=False)
    else:
        from sales_ability.operations.batch import score_shard

        score_shard(job["shard"], job["out"], job["kb"], job["model"])


# a task on a worker without the preload: a fresh process per job
_COLD = "import json, sys; from benchmarks.bench_scoring import run_job; run_job(json.loads(sys.argv[1]))"

# a Celery worker with the deployment's preload: it imports the scoring stack once, then runs each job in a process
# forked from itself (as Airflow 3's supervisor forks each task) and prints the jobs' seconds as one JSON line
_WARM_WORKER = """
import json, os, sys, time
import sales_ability.operations.worker_preload
from benchmarks.bench_scoring import run_job

def forked(job):
    start = time.perf_counter()
    pid = os.fork()
    if pid == 0:
        try:
            run_job(job)
            os._exit(0)
        except BaseException:
            import traceback
            traceback.print_exc()
            os._exit(1)
    assert os.waitpid(pid, 0)[1] == 0, job["kind"]
    return time.perf_counter() - start

print("SECONDS " + json.dumps([forked(job) for job in json.loads(sys.argv[1])]))
"""


def _shard(paths: list[Path], shard_id: str) -> dict:
    """A shard as the listing writes it: one applicant per folder of answers, else per loose clip."""
    applicants: dict[str, list[dict]] = {}
    for p in paths:
        owner = p.parent.name if p.stem.startswith("answer_") else p.stem
        applicants.setdefault(owner, []).append({"path": str(p), "sha256": f"{owner}-{p.stem}"})
    return {"shard_id": shard_id, "applicants": [{"applicant_id": a, "videos": v} for a, v in applicants.items()]}


def _answers(folder: Path, videos: int) -> list[Path]:
    """``videos`` answers of 60 s, 640x480 (one encoded, the others copies), four per applicant folder."""
    from benchmarks.bench_featurize import make_answer

    first = make_answer(folder / "applicant_0" / "answer_1.webm")
    paths = [first]
    for i in range(1, videos):
        path = folder / f"applicant_{i // 4}" / f"answer_{i % 4 + 1}.webm"
        path.parent.mkdir(parents=True, exist_ok=True)
        paths.append(Path(shutil.copyfile(first, path)))
    return paths


def main() -> None:
    from rich.console import Console
    from rich.table import Table

    from sales_ability.data.demo_data import write_demo_dataset
    from sales_ability.knowledge.rate import paper_knowledge_base, save_knowledge_base
    from sales_ability.model.network import build_model
    from sales_ability.model.training import save_model
    from sales_ability.settings import Settings

    shard_size = Settings.model_fields["shard_size"].default
    table = Table(title="batch scoring: one shard task (its start-up included) against featurize alone, small model")
    for column, justify in (("videos", "left"), ("setup", "left"), ("seconds", "right"), ("videos/min", "right")):
        table.add_column(column, justify=justify)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        save_model(build_model("small"), tmp / "model.keras")
        save_knowledge_base(paper_knowledge_base(), tmp / "kb.json")

        def shard_job(videos: list[Path], shard_id: str, outbox: Path) -> dict:
            return {"kind": "shard", "shard": _shard(videos, shard_id), "out": str(outbox), "kb": str(tmp / "kb.json"),
                    "model": str(tmp / "model.keras")}

        def featurize_job(videos: list[Path], out: Path) -> dict:
            return {"kind": "featurize", "videos": [str(p) for p in videos], "out": str(out)}

        def cold(jobs: list[dict]) -> float:
            """Seconds for ``jobs``, each in a fresh process of its own, all at once."""
            start = time.perf_counter()
            procs = [subprocess.Popen([sys.executable, "-c", _COLD, json.dumps(job)]) for job in jobs]
            for p in procs:
                assert p.wait() == 0
            return time.perf_counter() - start

        workloads = {f"{CLIPS} demo clips (320x240, 64 frames)": [c.path for c in write_demo_dataset(tmp / "inbox", clips=CLIPS, seed=2)],
                     f"{shard_size} answers of 60 s, 640x480 VP8 (4 segments each)": _answers(tmp / "answers", shard_size)}
        for n, (label, videos) in enumerate(workloads.items()):
            alone = cold([featurize_job(videos, tmp / f"faces{n}")])
            one = cold([shard_job(videos, "s0", tmp / f"out{n}")])
            rows = [("featurize only, 1 process (its own rate)", alone, ""),
                    ("1 shard task", one, f"  ({alone / one:.2f} x featurize's rate)")]
            if n == 0:
                half = len(videos) // 2
                two = cold([shard_job(videos[:half], "s0", tmp / f"out{n}b"), shard_job(videos[half:], "s1", tmp / f"out{n}b")])
                rows.append(("2 shard tasks in parallel", two, f"  ({one / two:.2f} x one task)"))
            # the deployment's worker: it preloads once, and each task is a process forked from it
            jobs = [job for r in range(2) for job in (featurize_job(videos, tmp / f"warm_faces{n}_{r}"),
                                                      shard_job(videos, f"warm{n}_{r}", tmp / "warm_out"))]
            printed = subprocess.run([sys.executable, "-c", _WARM_WORKER, json.dumps(jobs)], check=True,
                                     capture_output=True, text=True).stdout
            seconds = json.loads(printed.split("SECONDS ")[-1])
            warm_alone, warm_task = min(seconds[0::2]), min(seconds[1::2])
            rows += [("featurize only, forked from a preloaded worker", warm_alone, ""),
                     ("1 shard task, forked from a preloaded worker", warm_task,
                      f"  ({warm_alone / warm_task:.2f} x featurize's rate there)")]
            for setup, seconds, note in rows:
                table.add_row(label, setup, f"{seconds:.1f}", f"{len(videos) / seconds * 60:.1f}{note}")
    Console().print(table)
    Console().print("target: a shard task scores at >= 0.8 x the rate featurize alone reaches on the same videos")
