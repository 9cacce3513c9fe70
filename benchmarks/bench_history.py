"""Batch cost against history: a run with 10 new clips, once against an empty history and once against 5,000
applicants already scored (in the results database, the hash cache and the inbox), measured in one run.

Each measured run is a whole batch run: list the inbox (find, stat, hash what is new), score the shard,
merge it into the database and write the run's report. The bookkeeping alone (all but scoring) is reported
beside it: it is the part that could grow with history.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path

HISTORY = 5000
NEW = 10


def _history(url: str, inbox: Path, template: Path, strip: bytes) -> None:
    """HISTORY applicants scored earlier: database rows (with strips), ledger, hash cache, files in the inbox."""
    from sales_ability.results import store as db
    from sales_ability.traits import TRAITS

    old = inbox / "old"
    old.mkdir(parents=True)
    people, segs, videos, hashes = [], [], [], []
    for i in range(HISTORY):
        name = f"old{i:05d}"
        path = old / f"{name}.mp4"
        os.link(template, path)  # same bytes: a renamed copy is known by content, as in a real inbox
        st = path.stat()
        traits = {t: 0.5 for t in TRAITS}
        scores = {"sales_score": 5.0, "sales_score_low": 4.2, "sales_score_high": 5.8, "model_version": "1",
                  "knowledge_base": "paper", "scored_at": "2026-01-01T00:00:00+00:00", "batch_run_id": f"old-{i // 100}"}
        people.append({"applicant_id": name, "answers": 1, "segments": 1, "face_share": 1.0, **traits, **scores})
        segs.append({"clip_id": f"{name}_c0", "applicant_id": name, "source": str(path), "content_sha256": f"{i:064d}",
                     "start_s": 0.0, "end_s": 4.3, **traits, "face_share": 1.0, "strip_png": strip, **scores})
        videos.append({"content_sha256": f"{i:064d}", "source": str(path), "outcome": "scored", "reason": "",
                       "applicant_id": name, "batch_run_id": scores["batch_run_id"], "recorded_at": scores["scored_at"]})
        hashes.append({"path": str(path), "size": st.st_size, "mtime_ns": st.st_mtime_ns, "inode": st.st_ino,
                       "sha256": f"{i:064d}"})
    with db.engine(url).begin() as conn:
        for table, rows in ((db.applicants, people), (db.segments, segs), (db.videos, videos), (db.file_hashes, hashes)):
            conn.execute(table.insert(), rows)


def main() -> None:
    from rich.console import Console
    from rich.table import Table

    from sales_ability.data.demo_data import write_demo_dataset
    from sales_ability.knowledge.rate import paper_knowledge_base, save_knowledge_base
    from sales_ability.model.network import build_model
    from sales_ability.model.training import save_model
    from sales_ability.operations.batch import list_new_applicants, merge_shards, score_shard
    from sales_ability.results.selection import run_report_path
    from sales_ability.serving.scoring import read_strips

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        clips = [c.path for c in write_demo_dataset(tmp / "new", clips=NEW, clips_per_participant=1, seed=4)]
        save_model(build_model("tiny"), tmp / "model.keras")
        kb = tmp / "kb.json"
        save_knowledge_base(paper_knowledge_base(), kb)
        scored_inbox = tmp / "scored_inbox"
        scored_inbox.mkdir()
        for clip in clips:
            shutil.copy(clip, scored_inbox / clip.name)
        plan = list_new_applicants(scored_inbox, tmp / "scored_out", NEW, database_url=f"sqlite:///{tmp / 'plan.db'}")
        shard = Path(score_shard(plan["shards"][0], tmp / "scored_out", kb, str(tmp / "model.keras")))  # warms up
        strip = read_strips(shard)["strip_png"].iloc[0]

        figures: dict[str, dict] = {}
        runs = [(label, history, rep) for rep in (0, 1)  # best of two, alternating (scoring time varies by a second)
                for label, history in (("empty history", False), (f"{HISTORY:,} applicants scored", True))]
        for label, history, rep in runs:
            root = tmp / f"{label.split()[0]}-{rep}"
            inbox, outbox, url = root / "inbox", root / "outbox", f"sqlite:///{root / 'results.db'}"
            inbox.mkdir(parents=True)
            if history:
                template = root / "old.mp4"  # other bytes than the new clips
                template.write_bytes(clips[0].read_bytes() + b"\0")
                _history(url, inbox, template, strip)
            for clip in clips:
                shutil.copy(clip, inbox / clip.name)
            start = time.perf_counter()
            listing = list_new_applicants(inbox, outbox, NEW, database_url=url)
            listed = time.perf_counter() - start
            assert len(listing["shards"][0]["applicants"]) == NEW
            scoring_started = time.perf_counter()
            folder = score_shard(listing["shards"][0], outbox, kb, str(tmp / "model.keras"))
            scoring = time.perf_counter() - scoring_started
            counts = merge_shards([folder], outbox, kb, str(tmp / "model.keras"), url, "bench")
            total = time.perf_counter() - start
            if label in figures and figures[label]["total"] <= total:
                continue
            figures[label] = {"list": listed, "total": total, "bookkeeping": total - scoring, "new": counts["applicants_new"],
                              "db_mb": Path(url.removeprefix("sqlite:///")).stat().st_size / 2**20,
                              "report_kb": run_report_path(outbox, "bench").stat().st_size / 1024}
    empty, full = figures["empty history"], figures[f"{HISTORY:,} applicants scored"]
    table = Table(title=f"batch run of {NEW} new clips (tiny model): list, score, merge, run report (best of 2)")
    for column in ("history", "whole run s", "list s", "all but scoring s", "new", "database MB", "run report KB"):
        table.add_column(column, justify="right")
    for label, f in figures.items():
        table.add_row(label, f"{f['total']:.2f}", f"{f['list']:.3f}", f"{f['bookkeeping']:.3f}", str(f["new"]),
                      f"{f['db_mb']:.1f}", f"{f['report_kb']:.0f}")
    Console().print(table)
    Console().print(f"whole run against {HISTORY:,} scored applicants / against none: {full['total'] / empty['total']:.2f} x "
                    f"(target <= 1.2 x); all but scoring: {full['bookkeeping'] / empty['bookkeeping']:.1f} x "
                    f"(+{full['bookkeeping'] - empty['bookkeeping']:.2f} s, mostly finding and stat-ing the {HISTORY:,} "
                    f"files still in the inbox); the run report holds only this run's {NEW} applicants")
