"""How a model reaches applicants (#31): a candidate, a comparison on held-out people with each model's own
settings, a person's recorded decision, and one version per batch run."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import mlflow
import pandas as pd
import pytest
from mlflow import MlflowClient

from sales_ability.knowledge.rate import paper_knowledge_base, save_knowledge_base
from sales_ability.operations.promotion import (
    Candidate,
    PromotionBlocked,
    compare,
    comparison_markdown,
    decide,
    propose,
    register_candidate,
    selection_split,
    write_candidate,
)
from sales_ability.registry.tracking import EXPERIMENT, tracking_uri
from sales_ability.traits import TRAITS


def _logged_model(tiny_model: Path, tmp_path: Path, name: str, clip_seconds: float = 4.0, kb: dict | None = None) -> str:
    """The tiny network as an MLflow Model with its own featurize settings and knowledge base; the run's id."""
    from sales_ability.config import FeaturizeParams
    from sales_ability.serving.mlflow_model import build_mlflow_model
    from sales_ability.registry.models import save_featurize_params

    folder = tmp_path / name
    shutil.copytree(tiny_model.parent, folder)
    save_featurize_params(folder, FeaturizeParams(clip_seconds=clip_seconds))
    save_knowledge_base(kb or paper_knowledge_base(), tmp_path / f"{name}_kb.json")
    built = build_mlflow_model(folder, tmp_path / f"{name}_kb.json", f"# card {name}", tmp_path / f"{name}_built", ["a.mp4"])
    mlflow.set_tracking_uri(tracking_uri())
    mlflow.set_experiment(EXPERIMENT)
    with mlflow.start_run(run_name=name) as run:
        mlflow.log_artifacts(str(built), artifact_path="model")
        mlflow.log_text(f"# card {name}", "model_card.md")
    return run.info.run_id


def _figures(coverage: float | None, ratio: float | None, people: int = 20) -> dict:
    return {"coverage": coverage, "lowest_impact_ratio": ratio, "people": people}


def test_the_gates_block_worse_coverage_and_worse_or_unjudgeable_audits() -> None:
    assert compare(_figures(0.85, 0.9), None, 0.9, 0.1)["eligible"]
    assert not compare(_figures(0.75, 0.9), None, 0.9, 0.1)["gates"]["coverage"]["ok"]
    worse = compare(_figures(0.9, 0.85), _figures(0.9, 0.95), 0.9, 0.1)  # above 0.8, yet worse than the champion's
    assert not worse["eligible"] and not worse["gates"]["audit"]["ok"] and worse["gates"]["coverage"]["ok"]
    assert not compare(_figures(0.9, 0.7), None, 0.9, 0.1)["gates"]["audit"]["ok"]  # the four-fifths rule
    unknown = compare(_figures(0.9, None, 4), None, 0.9, 0.1)["gates"]["audit"]
    assert not unknown["ok"] and "cannot say yes" in unknown["why"]


def test_only_a_recorded_approval_moves_the_champion(tiny_model: Path, tmp_path: Path, isolated_mlflow: str) -> None:
    client = MlflowClient(tracking_uri())
    runs = [_logged_model(tiny_model, tmp_path, n) for n in ("a", "b", "c")]
    first = register_candidate(Candidate(runs[0], "model", 0.9, "sales-ability"))
    assert register_candidate(Candidate(runs[0], "model", 0.9, "sales-ability")) == first  # a retry reuses it
    assert str(client.get_model_version_by_alias("sales-ability", "challenger").version) == first
    with pytest.raises(Exception, match="never compared"):
        decide("sales-ability", first, True, "ana", "looks good")
    client.set_model_version_tag("sales-ability", first, "eligible", "True")
    with pytest.raises(PromotionBlocked, match="reason"):
        decide("sales-ability", first, True, "ana", " ")
    done = decide("sales-ability", first, True, "ana", "first model, gates pass")
    model = client.get_registered_model("sales-ability")
    assert {k: str(v) for k, v in model.aliases.items()} == {"champion": first}  # challenger cleared: nothing awaits a decision
    tags = client.get_model_version("sales-ability", first).tags
    assert (tags["decision"], tags["decided_by"], tags["decision_reason"]) == ("approved", "ana", "first model, gates pass")
    assert done["decided_at"] == tags["decided_at"]

    second = register_candidate(Candidate(runs[1], "model", 0.95, "sales-ability"))
    client.set_model_version_tag("sales-ability", second, "eligible", "False")  # a gate failed
    with pytest.raises(PromotionBlocked, match="override"):
        decide("sales-ability", second, True, "bo", "better Eq. 1")
    assert str(client.get_model_version_by_alias("sales-ability", "champion").version) == first
    decide("sales-ability", second, True, "bo", "the audit sample is too small to judge; checked by hand", override=True)
    assert str(client.get_model_version_by_alias("sales-ability", "champion").version) == second
    assert client.get_model_version("sales-ability", second).tags["decision"] == "approved (gate overridden)"

    third = register_candidate(Candidate(runs[2], "model", 0.99, "sales-ability"))
    client.set_model_version_tag("sales-ability", third, "eligible", "True")
    decide("sales-ability", third, False, "cy", "intervals too wide for our use")
    assert str(client.get_model_version_by_alias("sales-ability", "champion").version) == second  # rejected: stays
    from sales_ability.operations.retraining import decide_in_project

    fourth = register_candidate(Candidate(_logged_model(tiny_model, tmp_path, "d"), "model", 0.99, "sales-ability"))
    client.set_model_version_tag("sales-ability", fourth, "eligible", "True")
    timed_out = decide_in_project(tmp_path, {"model_name": "sales-ability", "version": fourth}, None, 72)
    assert timed_out["decision"] == "rejected" and "72 h" in timed_out["decision_reason"]  # no answer: no promotion
    assert str(client.get_model_version_by_alias("sales-ability", "champion").version) == second


def test_a_knowledge_base_only_candidate_with_other_settings_is_compared_and_promoted_after_approval(
        tiny_model: Path, tmp_path: Path, demo_dir: Path, isolated_mlflow: str) -> None:
    from tests.registry_helpers import approve_as_champion

    from sales_ability.registry.models import resolve_model

    champion = approve_as_champion(_logged_model(tiny_model, tmp_path, "champ", clip_seconds=4.0))
    flipped = paper_knowledge_base()
    flipped["traits"]["agreeableness"]["direction"] = "positive"  # the same network, another rule and other settings
    candidate_run = _logged_model(tiny_model, tmp_path, "cand", clip_seconds=5.0, kb=flipped)  # 4.3 s clips: one segment
    rows = []
    for i, clip in enumerate(sorted(demo_dir.glob("*.mp4"))[:4]):  # four selection people, one answer each
        folder = tmp_path / "raw" / f"person{i}"
        folder.mkdir(parents=True)
        shutil.copy(clip, folder / "answer_1.mp4")
        rows.append({"clip_id": f"person{i}_c0", "source": str(folder / "answer_1.mp4"), "participant_id": f"person{i}",
                     "split": "selection", **{t: 0.3 + 0.1 * i for t in TRAITS}})
    rows.append({**rows[0], "participant_id": "tester", "split": "test"})  # never part of the choice
    rows.append({**rows[1], "participant_id": "stopper", "split": "validation"})  # early stopping's: not chosen on
    pd.DataFrame(rows).to_csv(tmp_path / "manifest.csv", index=False)
    write_candidate(tmp_path / "candidate.json", candidate_run, "model", {"mean_accuracy": 0.9}, "sales-ability")

    proposal = propose(tmp_path / "candidate.json", tmp_path / "manifest.csv", 0.9, 0.1, tmp_path / "promotion")
    compared = json.loads((tmp_path / "promotion" / "comparison.json").read_text())
    assert compared["champion_version"] == champion and compared["candidate"]["people"] == 4  # not the test person
    assert compared["candidate"]["featurize"]["clip_seconds"] == 5.0 and compared["champion"]["featurize"]["clip_seconds"] == 4.0
    assert compared["candidate"]["knowledge_base_sha256"] != compared["champion"]["knowledge_base_sha256"]
    assert "cannot say yes" in compared["gates"]["audit"]["why"] and not proposal["eligible"]  # 4 people: no audit
    assert compared["selection_split"] == "selection"
    assert "| people scored (selection split) | 4 | 4 |" in (tmp_path / "promotion" / "comparison.md").read_text()
    no_selection = pd.DataFrame(rows).replace({"split": {"selection": "validation"}})
    assert selection_split(no_selection) == "validation"  # a split without a selection share: said, not hidden
    assert "lean optimistic" in comparison_markdown({**compared, "selection_split": "validation"}, "2")
    client = MlflowClient(tracking_uri())
    tags = client.get_model_version("sales-ability", proposal["version"]).tags
    assert tags["selection_people"] == "4" and tags["decision"] == "awaiting" and tags["compared_with"] == champion
    artifacts = {a.path for a in client.list_artifacts(candidate_run, "promotion")}
    assert artifacts == {"promotion/comparison.json", "promotion/comparison.md"}  # logged with the candidate
    assert str(client.get_model_version_by_alias("sales-ability", "champion").version) == champion  # nothing moved yet
    decide("sales-ability", proposal["version"], True, "ana", "the new rule, read with its small sample", override=True)
    served = resolve_model("models:/sales-ability@champion", tmp_path / "served")
    assert served.knowledge_base["traits"]["agreeableness"]["direction"] == "positive"  # the KB change reached serving
    from sales_ability.operations.promotion import AlreadyDecided

    with pytest.raises(AlreadyDecided, match="approved"):  # the same candidate again: nothing to ask, nothing changed
        propose(tmp_path / "candidate.json", tmp_path / "manifest.csv", 0.9, 0.1, tmp_path / "promotion")
    assert client.get_model_version("sales-ability", proposal["version"]).tags["decision"].startswith("approved")


def test_a_promotion_during_a_batch_run_leaves_the_run_on_one_version(tiny_model: Path, tmp_path: Path, demo_dir: Path,
                                                                       isolated_mlflow: str) -> None:
    from tests.registry_helpers import approve_as_champion

    from sales_ability.operations.batch import list_new_applicants, score_shard

    first = approve_as_champion(_logged_model(tiny_model, tmp_path, "v1"))
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    for clip in sorted(demo_dir.glob("*.mp4"))[:2]:
        shutil.copy(clip, inbox / clip.name)
    listing = list_new_applicants(inbox, tmp_path / "outbox", 1, database_url=f"sqlite:///{tmp_path / 'r.db'}",
                                  model_uri="models:/sales-ability@champion")
    assert {s["model_uri"] for s in listing["shards"]} == {f"models:/sales-ability/{first}"}  # pinned once, at listing
    second = approve_as_champion(_logged_model(tiny_model, tmp_path, "v2"))  # promoted while the run is in flight
    assert second != first
    versions = set()
    for shard in listing["shards"]:  # each shard, and any retry of it, asks for the alias yet gets the pinned version
        folder = Path(score_shard(shard, tmp_path / "outbox", None, "models:/sales-ability@champion"))
        versions |= set(pd.read_parquet(folder / "results.parquet")["model_version"])
    assert versions == {first}
