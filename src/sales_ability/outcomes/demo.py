"""The demo's hires' outcomes: planted, so the study has a known answer to find.

For each phase-2 participant (the website-layout demo people, whose true traits are their IPIP-50 scores):
``quota`` rises with extraversion and peaks at middling conscientiousness (an inverted U), openness does
not matter, plus noise; ``noise_outcome`` is pure noise, where the study must find nothing and offer no
profile. Every demo participant counts as hired: a real study has only its hires.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

QUOTA_NOISE_SD = 2.5  # points of quota attainment: small enough that the demo's 64 people can detect the relation


def plant_outcomes(people: pd.DataFrame, seed: int) -> pd.DataFrame:
    """``people`` (one row each with ``true_<trait>``) with ``quota`` and ``noise_outcome`` added."""
    rng = np.random.default_rng(seed)
    e, c = people["true_extraversion"].to_numpy(float), people["true_conscientiousness"].to_numpy(float)
    out = people.copy()
    out["quota"] = (100 + 20 * (e - 0.5) - 80 * (c - 0.5) ** 2 + rng.normal(0, QUOTA_NOISE_SD, len(out))).round(2)
    out["noise_outcome"] = rng.normal(0, 1, len(out)).round(4)
    return out
