"""Role profiles: fitted only where held-out people show they beat the paper's rule, shapes recovered, and the
nested cross-validation never sees a held-out person's outcome."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.model_selection import KFold

from sales_ability.knowledge.rate import paper_knowledge_base, sales_scores
from sales_ability.outcomes.profiles import OUTER_FOLDS, held_out_predictions, study_profile
from sales_ability.traits import TRAITS
from pathlib import Path


def _hires(rng: np.random.Generator, n: int, planted: bool) -> pd.DataFrame:
    """Hired people's (predicted) traits, the paper's sales score, and an outcome: extraversion up,
    conscientiousness best at 0.5 (an inverted U), openness irrelevant; or pure noise."""
    frame = pd.DataFrame(rng.uniform(0, 1, (n, 5)), columns=list(TRAITS))
    frame["sales_score"] = sales_scores(frame[list(TRAITS)].to_numpy(), paper_knowledge_base())
    signal = 20 * frame["extraversion"] - 80 * (frame["conscientiousness"] - 0.5) ** 2 if planted else 0.0
    frame["quota"] = 100 + signal + rng.normal(0, 5, n)
    frame["sex"] = rng.choice(["female", "male"], n)
    return frame


def test_a_planted_profile_is_offered_with_its_shapes() -> None:
    study = study_profile(_hires(np.random.default_rng(0), 300, planted=True), "quota")
    assert study.offered and study.held_out_r > study.default_r and study.p_better < 0.05, study.reason
    assert study.shapes["extraversion"]["shape"] == "up"
    peak = study.shapes["conscientiousness"]["shape"]
    assert peak.startswith("peak at") and 0.35 <= float(peak.split()[-1]) <= 0.65
    assert study.shapes["openness"]["shape"] == "flat"


def test_noise_gets_no_profile_and_too_few_people_get_none_fitted() -> None:
    noise = study_profile(_hires(np.random.default_rng(1), 200, planted=False), "quota")
    assert not noise.offered and noise.reason.startswith("not offered")
    few = study_profile(_hires(np.random.default_rng(2), 30, planted=True), "quota")
    assert not few.offered and few.reason.startswith("not fitted: 30 people")


def test_the_nested_cross_validation_never_sees_a_held_out_outcome() -> None:
    """Replace the outcomes of one outer fold's people by garbage: their held-out predictions do not move (a
    leak, such as fitting the scaler or the penalty on everyone, would move them)."""
    frame = _hires(np.random.default_rng(3), 100, planted=True)
    traits, y = frame[list(TRAITS)].to_numpy(), frame["quota"].to_numpy()
    before = held_out_predictions(traits, y, seed=0)
    _, held = next(iter(KFold(n_splits=OUTER_FOLDS, shuffle=True, random_state=0).split(traits)))
    changed = y.copy()
    changed[held] = np.random.default_rng(9).normal(0, 1000, len(held))
    after = held_out_predictions(traits, changed, seed=0)
    assert np.allclose(before[held], after[held])
    others = np.setdiff1d(np.arange(len(y)), held)
    assert not np.allclose(before[others], after[others])  # the test can fail: everyone else's did move


def test_an_offered_profile_is_a_knowledge_base_a_scorer_rates_with_and_names(tmp_path) -> None:
    from sales_ability.knowledge.rate import load_knowledge_base, rate
    from sales_ability.outcomes.profiles import profile_report
    from sales_ability.serving.run_report import render_report

    rng = np.random.default_rng(4)
    hires = _hires(rng, 300, planted=True)
    noise = hires.assign(noise=rng.normal(0, 1, len(hires)))
    report = profile_report(noise, ["quota", "noise"], base=paper_knowledge_base(), out_dir=tmp_path, label="AE-2027")
    assert report["quota"]["offered"] and not report["noise"]["offered"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["profile_quota.json"]  # only what was offered is served
    kb = load_knowledge_base(tmp_path / "profile_quota.json")
    fresh = _hires(np.random.default_rng(5), 400, planted=True).assign(clip_id=lambda f: [f"c{i}" for i in range(len(f))])
    rated, bad = rate(fresh, kb)
    assert bad.empty and set(rated["sales_score"]) <= set(range(1, 11)) and rated["sales_score"].nunique() == 10
    by_profile = np.corrcoef(rated["sales_score"], fresh["quota"])[0, 1]
    by_paper = np.corrcoef(rate(fresh, paper_knowledge_base())[0]["sales_score"], fresh["quota"])[0, 1]
    assert by_profile > by_paper + 0.2  # on new hires, the profile ranks by what it was fitted to
    people = rated.rename(columns={"clip_id": "applicant_id"}).head(3).assign(answers=1, segments=1)
    html = render_report(people, pd.DataFrame(columns=["clip_id", "applicant_id", "source", "sales_score"]),
                         pd.DataFrame(columns=["source", "clip_id", "reason"]), kb, "m")
    assert "role profile quota (AE-2027)" in html and "Williams" in html


def test_an_adopted_profile_becomes_the_knowledge_base_the_next_candidate_carries(tmp_path, monkeypatch,
                                                                                  isolated_mlflow: str) -> None:
    """params knowledge_base.profile: the fit_thresholds stage writes a knowledge base that scores with the
    profile (and so travels in the candidate's bundle to promotion); anything but a profile is refused."""
    import pytest

    from sales_ability.config import KnowledgeBaseParams
    from sales_ability.knowledge.rate import KnowledgeBaseError, load_knowledge_base, save_knowledge_base
    from sales_ability.outcomes.profiles import profile_report
    from sales_ability.stages.fit_thresholds import run_fit_thresholds

    monkeypatch.chdir(tmp_path)
    rng = np.random.default_rng(6)
    offered = profile_report(_hires(np.random.default_rng(0), 300, planted=True), ["quota"], base=paper_knowledge_base(),
                             out_dir=tmp_path / "profiles")
    assert offered["quota"]["file"] == str(tmp_path / "profiles" / "profile_quota.json")
    labels = pd.DataFrame(rng.beta(4, 4, (200, 5)), columns=list(TRAITS)).assign(split="train", clip_id=[f"c{i}" for i in range(200)])
    labels.to_csv("train.csv", index=False)
    params = KnowledgeBaseParams(distributions=["beta"], profile="profiles/profile_quota.json")
    run_fit_thresholds(Path("train.csv"), Path("kb.json"), Path("kb.png"), params)
    kb = load_knowledge_base("kb.json")
    assert kb["knowledge_base"] == "profile" and kb["profile"]["outcome"] == "quota"
    assert kb["traits"]["openness"]["distribution"]["name"] == "beta"  # fitted on these labels, for reading
    save_knowledge_base(paper_knowledge_base(), "profiles/rule.json")
    with pytest.raises(KnowledgeBaseError, match="not a role profile"):
        run_fit_thresholds(Path("train.csv"), Path("kb2.json"), Path("kb2.png"),
                           KnowledgeBaseParams(distributions=["beta"], profile="profiles/rule.json"))
