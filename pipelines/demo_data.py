"""DVC stage demo_data: write the embedded demo dataset into the raw-data folder."""

from __future__ import annotations

import sys
from pathlib import Path

from sales_ability.config import load_params
from sales_ability.demo_data import write_demo_dataset


def main(out: str) -> None:
    p = load_params().demo
    clips = write_demo_dataset(
        Path(out), clips=p.clips, clips_per_participant=p.clips_per_participant, seed=p.seed,
        fps=p.fps, frames=p.frames, width=p.width, height=p.height, progress=True,
    )
    print(f"demo_data: {len(clips)} clips -> {out}")


if __name__ == "__main__":
    main(*sys.argv[1:])
