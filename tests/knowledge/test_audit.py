"""The bias audit per applicant (NYC Local Law 144): known impact ratios, unknowns, small categories; and the
self-reported categories never reach featurize or the model."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

from sales_ability.knowledge.audit import bias_audit, read_self_reports


def _sample() -> pd.DataFrame:
    """200 applicants scoring 8 (high) or 3: 97 high (30 + 30 + 20 + 12 + 3 + 2), so the whole sample's median is 3 and "above the median"
    means scoring 8."""
    rows = []
    for sex, race, n, high in (("female", "white", 60, 30), ("male", "white", 60, 30), ("female", "asian", 40, 20),
                               ("male", "asian", 33, 12), ("male", "two_or_more_races", 3, 3), (None, "white", 4, 2)):
        rows += [{"applicant_id": f"{sex}-{race}-{i}", "sex": sex, "race_ethnicity": race, "sales_score": 8.0 if i < high else 3.0}
                 for i in range(n)]
    return pd.DataFrame(rows).sample(frac=1, random_state=0)


def test_impact_ratios_match_a_count_by_hand() -> None:
    sample = _sample()
    table = bias_audit(sample).set_index(["dimension", "category"])
    # by hand: women 50 of 100 above the median (0.5), men 45 of 96 (0.46875): impact ratio 0.9375
    assert table.loc[("sex", "female"), "scoring_rate"] == 0.5 and table.loc[("sex", "female"), "impact_ratio"] == 1.0
    assert table.loc[("sex", "male"), "scoring_rate"] == pytest.approx(45 / 96, abs=1e-4)
    assert table.loc[("sex", "male"), "impact_ratio"] == pytest.approx((45 / 96) / 0.5, abs=1e-4)
    median = sample["sales_score"].median()  # and independently of the table, from the sample itself
    for s in ("female", "male"):
        assert table.loc[("sex", s), "scoring_rate"] == pytest.approx((sample.loc[sample["sex"] == s, "sales_score"] > median).mean(), abs=1e-4)
    assert table.loc[("sex", "unknown"), "applicants"] == 4 and pd.isna(table.loc[("sex", "unknown"), "impact_ratio"])
    small = table.loc[("race_ethnicity", "two_or_more_races")]
    assert bool(small["small"]) and small["scoring_rate"] == 1.0  # 1.5 % of the sample: reported, never the reference
    assert table.loc[("race_ethnicity", "white"), "impact_ratio"] == 1.0  # white 62/124 = 0.5 > asian 32/73 = 0.44
    assert ("intersection", "female x asian") in table.index and ("intersection", "unknown") in table.index
    assert (table.groupby("dimension")["applicants"].sum() == len(sample)).all()  # everyone once per dimension


def test_categories_never_reach_featurize_or_the_model(tmp_path: Path, demo_dir: Path) -> None:
    from sales_ability.config import FeaturizeParams
    from sales_ability.data.datasets import collected_manifest
    from sales_ability.data.face_tensors import face_tensor_schema
    from sales_ability.data.featurize import featurize_manifest
    from sales_ability.data.ipip50 import ITEM_COLUMNS

    person = tmp_path / "raw" / "applicant_zz"
    person.mkdir(parents=True)
    shutil.copy(demo_dir / "p000_c0.mp4", person / "answer_1.mp4")
    (person / "ipip50.json").write_text(json.dumps({"answers": {c: 3 for c in ITEM_COLUMNS}}))
    (person / "self_report.json").write_text(json.dumps({"sex": "female", "race_ethnicity": "native_hawaiian_or_other_pacific_islander"}))
    manifest = collected_manifest(tmp_path / "raw", FeaturizeParams())
    assert not {"sex", "race_ethnicity"} & set(manifest.columns)
    assert not manifest.astype(str).apply(lambda c: c.str.contains("hawaiian|female")).any().any()
    assert not {"sex", "race_ethnicity"} & set(face_tensor_schema().names)  # the contract has no place for them
    featurize_manifest(manifest, tmp_path / "faces", FeaturizeParams(), progress=False)
    for shard in (tmp_path / "faces").glob("part-*.parquet"):
        assert b"hawaiian" not in shard.read_bytes()
    assert read_self_reports(tmp_path / "raw").to_dict("records") == [
        {"participant_id": "applicant_zz", "sex": "female", "race_ethnicity": "native_hawaiian_or_other_pacific_islander"}]
