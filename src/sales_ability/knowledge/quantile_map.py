"""Served traits mapped onto the label distribution (params ``knowledge_base.map_predictions``).

A regression trained on squared error shrinks towards the mean: the model's traits pile into the middle of
the labels' range, so a knowledge base whose deciles were fitted on labels puts most applicants in its middle
bins, and its "about 10% per bin" does not hold for what is served (``knowledge.validation.bin_shares``
measures it). With ``map_predictions`` the knowledge base stores that choice, and each served trait is first
replaced by the label value of the same rank: its rank among the calibration people's predictions (the
model's held-out outputs, stored with the model), read through the knowledge base's own deciles (linear
between them; 0 and 1 at the ends). The map is monotone, so no two applicants change order on any trait; the
calibration set is mapped the same way before the intervals are fitted, so they hold for the mapped traits.
Without a calibration set, or with the option off (the paper's way), traits are served as predicted.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from sales_ability.traits import TRAITS

LEVELS = np.linspace(0.0, 1.0, 11)  # 0, the nine deciles' levels, 1


def maps_predictions(kb: dict, calibration: dict | None) -> bool:
    """Whether ``kb`` asks for the map and ``calibration`` (a model's calibration set) makes one."""
    return bool(kb.get("map_predictions")) and bool(calibration) and bool(calibration.get("n"))


def map_traits(frame: pd.DataFrame, kb: dict, calibration: dict | None) -> pd.DataFrame:
    """``frame`` with each trait column mapped onto the label distribution (unchanged when
    ``maps_predictions`` is false)."""
    if not maps_predictions(kb, calibration):
        return frame
    out = frame.copy()
    for t in TRAITS:
        reference = np.sort(np.asarray(calibration["predicted"][t], float))
        values = out[t].to_numpy(float)
        # the share of reference predictions below, linear between them: strictly inside (0, 1), increasing
        share = np.interp(values, reference, np.arange(1, len(reference) + 1) / (len(reference) + 1))
        out[t] = np.interp(share, LEVELS, [0.0, *kb["traits"][t]["thresholds"], 1.0]).round(6)
    return out
