import hashlib
import json
import pickle
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sales_ability.data.datasets import collected_manifest, first_impressions_manifest
from sales_ability.data.demo_data import ipip50_answers_for, write_demo_dataset
from sales_ability.data.ipip50 import score_answers
from sales_ability.data.video import count_frames, probe_video
from sales_ability.traits import TRAITS
from tests.conftest import run_cli


def _digest(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir()) if p.is_file()}


def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path: Path) -> None:
    write_demo_dataset(tmp_path / "a", clips=4, seed=3)
    write_demo_dataset(tmp_path / "b", clips=4, seed=3)
    write_demo_dataset(tmp_path / "c", clips=4, seed=4)
    assert _digest(tmp_path / "a") == _digest(tmp_path / "b")
    assert _digest(tmp_path / "a")["p000_c0.mp4"] != _digest(tmp_path / "c")["p000_c0.mp4"]
    for name in ("d", "e"):  # the website's layout too: webm containers carry no random id
        write_demo_dataset(tmp_path / name, clips=2, seed=3, layout="collected", frames=60)
    pid = next(p.name for p in (tmp_path / "d").iterdir())
    assert _digest(tmp_path / "d" / pid) == _digest(tmp_path / "e" / pid)


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


def test_fi_layout_stores_neuroticism_as_fi_does(tmp_path: Path) -> None:
    clips = write_demo_dataset(tmp_path, clips=5, clips_per_participant=1, seed=4, layout="first_impressions")
    payload = pickle.load((tmp_path / "annotation_training.pkl").open("rb"), encoding="latin1")
    planted = {f"{c.clip_id}.mp4": c.labels["neuroticism"] for c in clips}
    for name, stability in payload["neuroticism"].items():
        assert stability == pytest.approx(1 - planted[name], abs=1e-4)  # FI's label is emotional stability
    m = first_impressions_manifest(tmp_path)  # ... and the adapter turns it back into the planted traits
    for row in m.itertuples():
        assert row.neuroticism == pytest.approx(planted[f"{row.clip_id}.mp4"], abs=1e-4)


def test_collected_layout_is_the_websites_export_and_scores_back(tmp_path: Path) -> None:
    from sales_ability.data.applicant_folder import PARTICIPANT_ID

    clips = write_demo_dataset(tmp_path, clips=4, seed=9, layout="collected", broken_participants=3, frames=60)
    assert len(clips) == 4 * 5
    people = sorted({c.participant_id for c in clips})
    for pid in people:
        folder = tmp_path / pid
        assert PARTICIPANT_ID.fullmatch(pid)
        assert sorted(p.name for p in folder.iterdir()) == [
            *(f"answer_{n}.webm" for n in range(1, 6)), "consent.json", "ipip50.json", "metadata.json", "self_report.json"]  # the audit's synthetic categories
        sheet = json.loads((folder / "ipip50.json").read_text())
        assert set(sheet["answers"]) == {f"q{i}" for i in range(1, 51)}
        assert all(isinstance(v, int) and 1 <= v <= 5 for v in sheet["answers"].values())
        assert json.loads((folder / "consent.json").read_text())["agreed"] is True
        assert json.loads((folder / "metadata.json").read_text())["status"] == "complete"
        planted = next(c.labels for c in clips if c.participant_id == pid)
        assert score_answers(sheet["answers"], pid) == pytest.approx({t: planted[t] for t in TRAITS}, abs=1e-4)
    skipped: dict[str, str] = {}
    m = collected_manifest(tmp_path, skipped=skipped)
    assert sorted(m["participant_id"].unique()) == people and len(m) == 20
    assert len(skipped) == 3
    reasons = sorted(skipped.values())
    assert any("q7 must be an integer 1..5" in r for r in reasons)
    assert any("ipip50.json: missing" in r for r in reasons)
    assert any("no usable answer" in r for r in reasons)
    for row in m.itertuples():  # labels are the planted traits of the clip's participant
        planted = next(c.labels for c in clips if c.participant_id == row.participant_id)
        assert [getattr(row, t) for t in TRAITS] == pytest.approx([planted[t] for t in TRAITS], abs=1e-4)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_ipip_answers_score_back_within_the_questionnaires_step(seed: int) -> None:
    rng = np.random.default_rng(seed)
    for _ in range(50):
        traits = dict(zip(TRAITS, rng.uniform(0, 1, size=5), strict=True))
        scores = score_answers(ipip50_answers_for(traits, rng))
        for trait in TRAITS:
            assert abs(scores[trait] - traits[trait]) <= 1 / 80 + 1e-9  # scores move in steps of 1/40


def test_planted_traits_are_close_to_independent(tmp_path: Path) -> None:
    from sales_ability.data.demo_data import _participant_traits

    traits = _participant_traits(60, np.random.default_rng(7))
    corr = np.corrcoef(traits.T)
    assert np.abs(corr[np.triu_indices(5, 1)]).max() < 0.35
    assert (traits.std(axis=0) > 0.15).all()
