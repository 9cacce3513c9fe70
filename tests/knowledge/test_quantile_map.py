"""Served traits mapped onto the label distribution: every score bin holds about a tenth of what is served,
the order of applicants is kept, and the intervals still hold."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import spearmanr

from sales_ability.knowledge.fit import fit_knowledge_base
from sales_ability.knowledge.intervals import fit_intervals, interval_coverage, with_intervals
from sales_ability.knowledge.quantile_map import map_traits
from sales_ability.knowledge.rate import PAPER_DIRECTIONS, bin_shares, rate
from sales_ability.model.calibration import calibration_set
from sales_ability.traits import TRAITS


def _shrunk(rng: np.random.Generator, n: int) -> pd.DataFrame:
    """Labels and the predictions of a model that shrinks towards the mean, as MSE training does."""
    true = rng.beta(5, 5, (n, 5))
    predicted = (0.5 + 0.35 * (true - 0.5) + rng.normal(0, 0.03, (n, 5))).clip(0, 1)
    frame = pd.DataFrame(predicted, columns=list(TRAITS))
    for j, t in enumerate(TRAITS):
        frame[f"true_{t}"] = true[:, j]
    frame["participant_id"] = [f"p{i}" for i in range(n)]
    frame["clip_id"] = frame["source"] = [f"c{i}" for i in range(n)]
    return frame


def test_mapped_traits_fill_every_bin_keep_the_order_and_stay_covered() -> None:
    rng = np.random.default_rng(0)
    labels = _shrunk(rng, 3000)
    kb = fit_knowledge_base(labels[[f"true_{t}" for t in TRAITS]].set_axis(list(TRAITS), axis=1), dict(PAPER_DIRECTIONS),
                            ["beta", "norm"], source="labels")
    calibration = calibration_set(_shrunk(rng, 2000), "calibration")  # the held-out predictions mapped by
    served = _shrunk(rng, 2000)
    raw_shares = bin_shares(served["extraversion"].to_numpy(), kb["traits"]["extraversion"]["thresholds"], "positive")
    assert raw_shares[3:7].sum() > 0.75 and raw_shares[[0, 9]].sum() < 0.01  # as predicted: the middle bins, not the ends

    assert map_traits(served, kb, calibration) is served  # the paper's way: served as predicted
    kb["map_predictions"] = True
    mapped = map_traits(served, kb, calibration)
    for t in TRAITS:
        shares = bin_shares(mapped[t].to_numpy(), kb["traits"][t]["thresholds"], "positive")
        assert shares == pytest.approx(np.full(10, 0.1), abs=0.035), t
        order = np.argsort(served[t].to_numpy(), kind="stable")
        assert (np.diff(mapped[t].to_numpy()[order]) >= 0).all()  # nobody changes place
        assert spearmanr(served[t], mapped[t]).statistic > 0.999
    assert map_traits(served, kb, None) is served  # no calibration set: nothing to map by

    intervals = fit_intervals(calibration, kb, 0.9)  # fitted on the mapped calibration predictions
    report = interval_coverage(with_intervals(rate(mapped, kb)[0], kb, intervals.segment_half_widths()), kb)
    for t in TRAITS:
        assert report[t]["coverage"] == pytest.approx(0.9, abs=0.03), t
