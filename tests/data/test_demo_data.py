import hashlib
import pickle
from pathlib import Path

import pandas as pd

from sales_ability.datasets import first_impressions_manifest
from sales_ability.demo_data import write_demo_dataset
from sales_ability.traits import TRAITS
from sales_ability.video import count_frames, probe_video
from tests.conftest import run_cli


def _digest(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir()) if p.is_file()}


def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path: Path) -> None:
    write_demo_dataset(tmp_path / "a", clips=4, seed=3)
    write_demo_dataset(tmp_path / "b", clips=4, seed=3)
    write_demo_dataset(tmp_path / "c", clips=4, seed=4)
    assert _digest(tmp_path / "a") == _digest(tmp_path / "b")
    assert _digest(tmp_path / "a")["p000_c0.mp4"] != _digest(tmp_path / "c")["p000_c0.mp4"]


def test_clips_are_readable_and_labelled(demo_dir: Path) -> None:
    labels = pd.read_csv(demo_dir / "labels.csv")
    assert list(labels.columns) == ["clip_id", "participant_id", *TRAITS]
    assert labels[list(TRAITS)].apply(lambda c: c.between(0, 1)).all().all()
    assert labels.groupby("participant_id").size().min() >= 2
    for clip_id in labels["clip_id"]:
        info = probe_video(demo_dir / f"{clip_id}.mp4")
        assert (info.width, info.height) == (320, 240)
        assert count_frames(demo_dir / f"{clip_id}.mp4") >= 60


def test_first_impressions_layout_feeds_the_fi_adapter(tmp_path: Path) -> None:
    run = run_cli("demo-data", tmp_path, "--clips", "10", "--layout", "first_impressions", "--seed", "2")
    assert run.returncode == 0, run.stderr
    m = first_impressions_manifest(tmp_path)
    assert len(m) == 10
    assert m["clip_id"].str.fullmatch(r"[A-Za-z0-9_-]{11}\.\d{3}").all()
    assert set(m["split"]) == {"train", "validation", "test"}
    assert (m.groupby("participant_id")["split"].nunique() == 1).all()
    payload = pickle.load((tmp_path / "annotation_training.pkl").open("rb"), encoding="latin1")
    assert "interview" in payload
