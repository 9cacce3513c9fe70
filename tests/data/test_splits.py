import pandas as pd
import pytest

from sales_ability.config import SplitFractions
from sales_ability.data.splits import assign_splits
from sales_ability.errors import DatasetError


def _manifest(people: int, clips: int) -> pd.DataFrame:
    return pd.DataFrame([{"clip_id": f"p{p}_c{c}", "participant_id": f"p{p}"} for p in range(people) for c in range(clips)])


@pytest.mark.parametrize("people", [3, 10, 57])
def test_by_participant_never_shares_a_person(people: int) -> None:
    out = assign_splits(_manifest(people, 4), "by_participant", SplitFractions(), seed=1)
    per_person = out.groupby("participant_id")["split"].nunique()
    assert (per_person == 1).all()
    assert set(out["split"]) == {"train", "validation", "test"}


def test_by_participant_is_seeded() -> None:
    a = assign_splits(_manifest(20, 2), "by_participant", SplitFractions(), seed=5)
    b = assign_splits(_manifest(20, 2), "by_participant", SplitFractions(), seed=5)
    assert a["split"].tolist() == b["split"].tolist()


def test_paper_2_1_1_puts_each_person_everywhere() -> None:
    out = assign_splits(_manifest(5, 4), "paper_2_1_1", SplitFractions(), seed=0)
    for _, group in out.groupby("participant_id"):
        assert sorted(group["split"]) == ["test", "train", "train", "validation"]


def test_official_keeps_given_splits_and_needs_them() -> None:
    m = _manifest(2, 2)
    with pytest.raises(DatasetError, match="official"):
        assign_splits(m, "official", SplitFractions(), seed=0)
    m["split"] = ["train", "train", "test", "validation"]
    assert assign_splits(m, "official", SplitFractions(), seed=0)["split"].tolist() == m["split"].tolist()


def test_too_few_participants() -> None:
    with pytest.raises(DatasetError, match="at least 3"):
        assign_splits(_manifest(2, 4), "by_participant", SplitFractions(), seed=0)


def test_by_participant_is_stable_as_participants_are_added() -> None:
    before = assign_splits(_manifest(40, 2), "by_participant", SplitFractions(), seed=42)
    after = assign_splits(_manifest(50, 2), "by_participant", SplitFractions(), seed=42)
    old = before.set_index("clip_id")["split"]
    assert (after.set_index("clip_id").loc[old.index, "split"] == old).all()  # nobody moved
    shares = after.drop_duplicates("participant_id")["split"].value_counts(normalize=True)
    assert set(shares.index) == {"train", "validation", "test"} and shares["train"] > shares["test"]


def test_calibration_and_selection_shares_keep_their_people_apart_and_stay_stable() -> None:
    fractions = SplitFractions(train=0.3, validation=0.2, calibration=0.15, selection=0.15, test=0.2)
    before = assign_splits(_manifest(40, 2), "by_participant", fractions, seed=3)
    after = assign_splits(_manifest(50, 2), "by_participant", fractions, seed=3)
    old = before.set_index("clip_id")["split"]
    assert (after.set_index("clip_id").loc[old.index, "split"] == old).all()
    people = after.drop_duplicates("participant_id")["split"]
    assert set(people) == {"train", "validation", "calibration", "selection", "test"}
    assert after.groupby("participant_id")["split"].nunique().max() == 1
    with pytest.raises(DatasetError, match="at least 5"):  # five splits need five people
        assign_splits(_manifest(4, 2), "by_participant", fractions, seed=3)
