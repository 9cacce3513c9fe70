"""DVC stage demo_data: the two embedded demo datasets, one per training phase.

``<demo_dir>`` (demo layout, phase 1) and ``<collected_dir>`` (the website's export layout with IPIP-50
answer sheets and a few broken participants, phase 2); disjoint people, other seeds.
"""

from __future__ import annotations

from pathlib import Path

from sales_ability.config import load_params
from sales_ability.data.demo_data import write_demo_dataset
from sales_ability.stage_runner import run_stage

STAGE = "demo_data"


def main(demo_dir: str, collected_dir: str) -> None:
    p = load_params().demo
    fmt = {"fps": p.fps, "frames": p.frames, "width": p.width, "height": p.height, "progress": True}
    clips = write_demo_dataset(Path(demo_dir), clips=p.clips, clips_per_participant=p.clips_per_participant, seed=p.seed, **fmt)
    answers = write_demo_dataset(Path(collected_dir), clips=p.collected_participants, seed=p.collected_seed,
                                 layout="collected", broken_participants=p.collected_broken,
                                 answer_seconds=tuple(p.answer_seconds), **(fmt | {"fps": p.collected_fps}))
    print(f"demo_data: {len(clips)} clips -> {demo_dir}; {p.collected_participants} participants "
          f"({len(answers)} answers) + {p.collected_broken} broken -> {collected_dir}")


if __name__ == "__main__":
    run_stage(STAGE, main)
