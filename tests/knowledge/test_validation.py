import numpy as np
import pandas as pd
import pytest

from sales_ability.knowledge.rate import paper_knowledge_base, rate
from sales_ability.knowledge.validation import (
    cluster_validation,
    eta_squared,
    interview_agreement,
)
from sales_ability.traits import TRAITS


def test_eta_squared_by_hand() -> None:
    # groups [1, 3] and [5, 7]: grand mean 4, total SS 20, between SS 2*(2-4)^2 + 2*(6-4)^2 = 16
    assert eta_squared(np.array([1, 3, 5, 7]), np.array([0, 0, 1, 1])) == pytest.approx(0.8)


def _rated(n: int = 200, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({t: rng.beta(5, 5, n) for t in TRAITS})
    frame["clip_id"] = [f"c{i}" for i in range(n)]
    frame["interview"] = np.clip(0.5 * frame["extraversion"] + 0.5 * frame["conscientiousness"], 0, 1)
    frame["gender"] = np.where(np.arange(n) % 2 == 0, "f", "m")
    return rate(frame, paper_knowledge_base())[0]


def test_cluster_validation_reports_the_papers_missing_numbers() -> None:
    metrics, plots = cluster_validation(_rated())
    for k in (4, 5):
        assert 0 <= metrics[f"k{k}"]["eta_squared"] <= 1
        assert -1 <= metrics[f"k{k}"]["silhouette"] <= 1
        assert -1 <= metrics[f"k{k}"]["adjusted_rand_index"] <= 1
        assert len(set(plots["labels"][k])) == k
    assert plots["xy"].shape == (200, 2)


def test_interview_agreement_flips_each_trait() -> None:
    out = interview_agreement(_rated(), paper_knowledge_base())
    assert set(out) == {"configured", *(f"flip_{t}" for t in TRAITS)}
    # interview is built from E and C: flipping E must lower the agreement
    assert out["flip_extraversion"] < out["configured"]
    assert interview_agreement(_rated().drop(columns="interview"), paper_knowledge_base()) is None


def test_clusters_do_not_depend_on_row_order() -> None:
    from sales_ability.knowledge.validation import score_bands

    rated = _rated(n=12, seed=3)
    rated["sales_score"] = rated["sales_score"].round(0)  # few distinct scores: many ties, as on the demo
    reference, _ = cluster_validation(rated)
    for seed in range(8):
        shuffled = rated.sample(frac=1.0, random_state=seed).reset_index(drop=True)
        assert cluster_validation(shuffled)[0] == reference
    bands = score_bands(np.array([5.0, 5.0, 5.0, 5.0, 7.0, 7.0, 2.0, 9.0]), 4)
    assert bands[0] == bands[1] == bands[2] == bands[3]  # tied scores share a band
    assert bands[6] == 0 and bands[7] == 3


def test_cluster_eta_squared_is_set_against_every_other_choice_of_directions() -> None:
    """The clusters are of the traits, so other directions' scores are explained too: the null says how often."""
    metrics, _ = cluster_validation(_rated(), kb=paper_knowledge_base())
    for k in (4, 5):
        entry = metrics[f"k{k}"]
        assert entry["null_directions"] == 31
        # the mirror image (all five flipped) is the same score turned upside down: it explains exactly as much
        assert 1 / 31 - 1e-9 <= entry["null_share_at_least_as_high"] <= 1
        assert 0 <= entry["null_eta_squared_median"] <= 1
    assert "null_directions" not in cluster_validation(_rated())[0]["k4"]  # no knowledge base, no null


def test_bin_shares_show_predictions_piling_into_the_middle_bins() -> None:
    from sales_ability.knowledge.validation import bin_shares

    rng = np.random.default_rng(4)
    kb = paper_knowledge_base()
    labels = pd.DataFrame({t: rng.uniform(0.2, 0.8, 500) for t in TRAITS}).assign(clip_id=[f"c{i}" for i in range(500)])
    shrunk = labels.assign(**{t: 0.5 + 0.2 * (labels[t] - 0.5) for t in TRAITS})  # what an MSE regression serves
    wide, narrow = bin_shares(rate(labels, kb)[0]), bin_shares(rate(shrunk, kb)[0])
    assert wide["n"] == narrow["n"] == 500
    for t in TRAITS:
        assert sum(narrow[t]["shares"]) == pytest.approx(1.0, abs=1e-3)
        assert narrow[t]["bins_used"] < wide[t]["bins_used"]
        assert narrow[t]["max_gap_from_10_percent"] > wide[t]["max_gap_from_10_percent"]
