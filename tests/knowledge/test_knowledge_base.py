import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from sales_ability.knowledge.fit import (
    compare_with_paper,
    fit_knowledge_base,
    threshold_match,
)
from sales_ability.knowledge.rate import (
    PAPER_TABLE_IV,
    KnowledgeBaseError,
    bin_shares,
    load_knowledge_base,
    paper_knowledge_base,
    rate,
    trait_score,
)
from sales_ability.traits import TRAITS
from tests.conftest import run_cli


def test_paper_table_matches_table_iv_exactly() -> None:
    kb = paper_knowledge_base()
    assert kb["traits"]["extraversion"]["thresholds"] == [0.28, 0.35, 0.40, 0.44, 0.48, 0.51, 0.56, 0.60, 0.67]
    assert kb["traits"]["openness"]["thresholds"] == [0.38, 0.44, 0.49, 0.53, 0.57, 0.60, 0.64, 0.69, 0.75]
    assert kb["traits"]["conscientiousness"]["thresholds"] == [0.32, 0.39, 0.44, 0.48, 0.52, 0.56, 0.60, 0.65, 0.72]
    # Table IV lists A and N from score 1 ([0.63, 1]) down to score 10 ([0, 0.28])
    assert kb["traits"]["agreeableness"]["thresholds"] == [0.28, 0.34, 0.38, 0.42, 0.45, 0.49, 0.52, 0.57, 0.63]
    assert kb["traits"]["neuroticism"]["thresholds"] == [0.28, 0.35, 0.40, 0.44, 0.48, 0.52, 0.56, 0.61, 0.68]
    assert {t: e["direction"] for t, e in kb["traits"].items()} == {
        "openness": "positive", "conscientiousness": "positive", "extraversion": "positive",
        "agreeableness": "negative", "neuroticism": "negative",
    }


@pytest.mark.parametrize(
    ("trait", "value", "expected"),
    [
        ("extraversion", 0.10, 1),   # [0, 0.28)
        ("extraversion", 0.28, 2),   # a threshold belongs to the bin above it
        ("extraversion", 0.50, 6),   # [0.48, 0.51)
        ("extraversion", 0.67, 10),
        ("extraversion", 1.00, 10),
        ("openness", 0.0, 1),
        ("agreeableness", 0.70, 1),  # Table IV: [0.63, 1] -> 1
        ("agreeableness", 0.63, 1),
        ("agreeableness", 0.62, 2),  # [0.57, 0.63) -> 2
        ("agreeableness", 0.10, 10),  # [0, 0.28) -> 10
        ("neuroticism", 0.46, 6),    # [0.44, 0.48) -> 6
        ("neuroticism", 0.28, 9),
    ],
)
def test_rating_worked_by_hand(trait: str, value: float, expected: int) -> None:
    entry = paper_knowledge_base()["traits"][trait]
    assert trait_score(np.array([value]), entry["thresholds"], entry["direction"])[0] == expected


def test_sales_score_is_the_mean_and_bad_rows_are_reported() -> None:
    traits = pd.DataFrame([
        {"clip_id": "good", "openness": 0.80, "conscientiousness": 0.10, "extraversion": 0.50, "agreeableness": 0.10, "neuroticism": 0.70},
        {"clip_id": "over", "openness": 1.20, "conscientiousness": 0.1, "extraversion": 0.5, "agreeableness": 0.1, "neuroticism": 0.7},
        {"clip_id": "gap", "openness": None, "conscientiousness": 0.1, "extraversion": 0.5, "agreeableness": 0.1, "neuroticism": 0.7},
        {"clip_id": "word", "openness": "high", "conscientiousness": 0.1, "extraversion": 0.5, "agreeableness": 0.1, "neuroticism": 0.7},
    ])
    rated, bad = rate(traits, paper_knowledge_base())
    # O 0.80 -> 10, C 0.10 -> 1, E 0.50 -> 6, A 0.10 -> 10, N 0.70 -> 1: mean 28 / 5 = 5.6
    assert rated["clip_id"].tolist() == ["good"]
    assert rated.loc[0, [f"score_{t}" for t in TRAITS]].tolist() == [10, 1, 6, 10, 1]
    assert rated.loc[0, "sales_score"] == pytest.approx(5.6)
    reasons = dict(zip(bad["clip_id"], bad["reason"], strict=True))
    assert set(reasons) == {"over", "gap", "word"}
    assert "openness" in reasons["over"] and "outside [0, 1]" in reasons["over"]
    assert "missing" in reasons["gap"]
    assert "not a number" in reasons["word"]


def _beta_labels(n: int = 6000, seed: int = 0) -> tuple[pd.DataFrame, dict]:
    rng = np.random.default_rng(seed)
    shapes = {"openness": (6, 5), "conscientiousness": (5, 5), "extraversion": (4, 5), "agreeableness": (7, 5), "neuroticism": (5, 6)}
    return pd.DataFrame({t: rng.beta(*shapes[t], size=n) for t in TRAITS}), shapes


def test_fitted_thresholds_land_near_true_deciles_and_bins_hold_ten_percent() -> None:
    labels, shapes = _beta_labels()
    kb = fit_knowledge_base(labels, source="beta sample")
    for trait in TRAITS:
        entry = kb["traits"][trait]
        true = stats.beta(*shapes[trait]).ppf(np.arange(0.1, 1.0, 0.1))
        assert np.abs(np.array(entry["thresholds"]) - true).max() < 0.015, trait
        shares = bin_shares(labels[trait].to_numpy(), entry["thresholds"], entry["direction"])
        assert np.abs(shares - 0.1).max() < 0.02, (trait, shares)
        d = entry["distribution"]
        assert d["name"] in ("beta", "norm", "skewnorm", "truncnorm", "gamma")
        assert d["ks_pvalue"] > 0.01 and np.isfinite(d["aic"])


def test_paper_rows_for_reversed_traits_give_uneven_bins() -> None:
    # Labels centred like First Impressions agreeableness (mean ~0.55): Table IV's A row, built from
    # deciles of 1 - x, crowds score 1.
    labels, _ = _beta_labels()
    table = compare_with_paper(labels, fit_knowledge_base(labels))
    a = table[table["trait"] == "agreeableness"].set_index("score")
    assert a.loc[1, "paper_share"] > 0.2
    assert abs(a.loc[1, "fitted_share"] - 0.1) < 0.02


def test_cli_fit_paper_rate(tmp_path: Path) -> None:
    labels, _ = _beta_labels(n=800)
    labels.to_csv(tmp_path / "labels.csv", index=False)
    fit = run_cli("thresholds", "fit", "--labels", str(tmp_path / "labels.csv"), "--out", str(tmp_path / "kb.json"))
    assert fit.returncode == 0, fit.stderr
    kb = load_knowledge_base(tmp_path / "kb.json")
    assert kb["knowledge_base"] == "fitted" and len(kb["traits"]["openness"]["thresholds"]) == 9
    paper = run_cli("thresholds", "paper", "--out", str(tmp_path / "paper.json"))
    assert paper.returncode == 0
    assert json.loads((tmp_path / "paper.json").read_text())["traits"]["agreeableness"]["thresholds"] == PAPER_TABLE_IV["agreeableness"]

    traits = labels.head(5).assign(clip_id=[f"c{i}" for i in range(5)])
    traits.loc[2, "neuroticism"] = -0.1
    traits.to_csv(tmp_path / "traits.csv", index=False)
    run = run_cli("rate", str(tmp_path / "traits.csv"), "--thresholds", str(tmp_path / "paper.json"),
                          "--out", str(tmp_path / "rated.csv"))
    assert run.returncode == 0, run.stderr
    rated = pd.read_csv(tmp_path / "rated.csv")
    assert len(rated) == 4 and "c2" not in set(rated["clip_id"])
    assert rated["sales_score"].between(1, 10).all()
    assert "c2" in run.stderr and "neuroticism" in run.stderr


def test_malformed_knowledge_base_is_refused(tmp_path: Path) -> None:
    kb = paper_knowledge_base()
    kb["traits"]["openness"]["thresholds"] = [0.5, 0.4]
    (tmp_path / "kb.json").write_text(json.dumps(kb))
    with pytest.raises(KnowledgeBaseError, match="openness: thresholds must be 9 ascending"):
        load_knowledge_base(tmp_path / "kb.json")


def test_rate_reads_a_first_impressions_pickle_on_the_projects_scale(tmp_path: Path) -> None:
    import pickle

    rng = np.random.default_rng(2)
    names = [f"AAAAAAAAAA{i}.000.mp4" for i in range(30)]
    payload = {t: {n: float(v) for n, v in zip(names, rng.uniform(0.2, 0.8, 30), strict=True)} for t in (*TRAITS, "interview")}
    (tmp_path / "annotation_validation.pkl").write_bytes(pickle.dumps(payload, protocol=2))
    run_cli("thresholds", "paper", "--out", str(tmp_path / "kb.json"))
    run = run_cli("rate", str(tmp_path / "annotation_validation.pkl"), "--thresholds", str(tmp_path / "kb.json"),
                  "--out", str(tmp_path / "rated.csv"), "--params", str(tmp_path / "none.yaml"))
    assert run.returncode == 0, run.stderr
    rated = pd.read_csv(tmp_path / "rated.csv").set_index("clip_id")
    first = "AAAAAAAAAA0.000"
    assert rated.loc[first, "neuroticism"] == pytest.approx(1 - payload["neuroticism"][f"{first}.mp4"])
    assert rated.loc[first, "openness"] == pytest.approx(payload["openness"][f"{first}.mp4"])
    assert "Spearman" in run.stderr and "flip neuroticism" in run.stderr and "rated 30 rows, 0 bad" in run.stderr


def test_threshold_match_names_the_largest_difference() -> None:
    kb = paper_knowledge_base()
    assert all(row["max_abs_diff"] == 0 for row in threshold_match(kb).values())
    kb["traits"]["neuroticism"]["thresholds"] = [t + 0.004 for t in PAPER_TABLE_IV["neuroticism"]]
    kb["traits"]["neuroticism"]["thresholds"][4] += 0.02
    assert threshold_match(kb)["neuroticism"]["max_abs_diff"] == pytest.approx(0.024)
