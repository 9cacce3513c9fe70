"""MLflow model registry: every evaluated model becomes ``challenger``; it takes ``champion`` when there
is none, or when it beats the champion on the same test set by a margin. The decision is logged."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import yaml

MODEL_NAME = "sales-ability"
CHAMPION = "champion"
CHALLENGER = "challenger"


@dataclass(frozen=True)
class PromotionDecision:
    """What the promotion step decided, and on which figures."""

    model_name: str
    challenger_version: str
    challenger_mean_accuracy: float
    champion_version: str | None
    champion_mean_accuracy: float | None
    margin: float
    promoted: bool
    reason: str

    def to_dict(self) -> dict:
        return asdict(self)


def dvc_input_hashes(paths: list[str], lock_file: str | Path = "dvc.lock") -> dict[str, str]:
    """The md5 that ``dvc.lock`` records for each of ``paths`` (outputs of earlier stages)."""
    lock_file = Path(lock_file)
    if not lock_file.is_file():
        return {}
    stages = (yaml.safe_load(lock_file.read_text()) or {}).get("stages", {})
    found: dict[str, str] = {}
    for stage in stages.values():
        for entry in stage.get("outs", []) + stage.get("deps", []):
            if entry.get("path") in paths and entry.get("md5"):
                found.setdefault(entry["path"], entry["md5"])
    return found


def model_card(name: str, metrics: dict, data: dict, preset: str) -> str:
    """Markdown model card logged with every version."""
    test = metrics
    rows = "\n".join(
        f"| {t} | {test[t]['accuracy']:.4f} | {test[t]['baseline_accuracy']:.4f} | {test[t]['pearson']:.3f} | {test[t]['concordance']:.3f} |"
        for t in ("openness", "conscientiousness", "extraversion", "agreeableness", "neuroticism")
    )
    return f"""# Model card: {name} ({preset})

## Intended use
Estimates apparent Big Five traits from 60 face crops of a self-introduction clip; a knowledge base turns
them into a 1..10 sales score. **Decision support for a recruiter, never an automatic rejection**:
a person reads the report and decides.

## Data
- trained on: {data.get('train', '?')}
- fine-tuned on: {data.get('finetune', '?')}
- evaluated on: {data.get('test', '?')} ({test['n']} clips)

## Metrics (test split)
Eq. 1 mean accuracy **{test['mean_accuracy']:.4f}** against **{test['baseline_mean_accuracy']:.4f}** for
always predicting the training mean; MSE {test['mse']:.5f} (baseline {test['baseline_mse']:.5f}).

| trait | accuracy | baseline | Pearson | concordance |
| --- | --- | --- | --- | --- |
{rows}

## Known caveats
- First Impressions labels are *apparent* traits rated by crowd workers from 15 s clips, not
  self-reports; its `neuroticism` label behaves like emotional stability (+0.88 with `interview`).
- Mean accuracy is compressed: the constant predictor already scores about 0.88 on First Impressions.
- The paper's 2/1/1 split puts the same person in train and test; `by_participant` does not.
- Faces only: no audio, no words. Lighting, camera and demographics shift the estimates; check the
  fairness figures before use.
"""


def register_and_promote(
    run_id: str,
    artifact_path: str,
    challenger_accuracy: float,
    evaluate_champion: Callable[[str], float],
    margin: float,
    card: str,
    tags: dict[str, str] | None = None,
    model_name: str = MODEL_NAME,
) -> PromotionDecision:
    """Register the run's model as ``challenger`` and decide whether it becomes ``champion``.

    Args:
        run_id, artifact_path: where the model was logged.
        challenger_accuracy: its test mean accuracy.
        evaluate_champion: model URI -> mean accuracy on the *same* test set (the champion is re-scored,
            so a changed test set never compares unlike with unlike).
        margin: the challenger must beat the champion by more than this.
        card: the model card (markdown), stored as the version's description.
        tags: extra version tags.
    """
    import mlflow
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    client = MlflowClient()
    try:
        client.get_registered_model(model_name)
    except MlflowException:
        client.create_registered_model(model_name, description="Big Five trait model behind the sales score (decision support).")
    source = f"{mlflow.get_run(run_id).info.artifact_uri}/{artifact_path}"
    version = client.create_model_version(model_name, source=source, run_id=run_id)
    v = str(version.version)
    client.update_model_version(model_name, v, description=card)
    for key, value in {"test_mean_accuracy": f"{challenger_accuracy:.6f}", **(tags or {})}.items():
        client.set_model_version_tag(model_name, v, key, str(value))
    client.set_registered_model_alias(model_name, CHALLENGER, v)
    try:
        champion = client.get_model_version_by_alias(model_name, CHAMPION)
    except MlflowException:
        champion = None
    if champion is None:
        decision = PromotionDecision(model_name, v, challenger_accuracy, None, None, margin, True, "no champion yet")
    else:
        champ_acc = evaluate_champion(f"models:/{model_name}@{CHAMPION}")
        better = challenger_accuracy > champ_acc + margin
        reason = (
            f"challenger {challenger_accuracy:.4f} {'>' if better else '<='} champion {champ_acc:.4f} + margin {margin}"
        )
        decision = PromotionDecision(model_name, v, challenger_accuracy, str(champion.version), champ_acc, margin, better, reason)
    if decision.promoted:
        client.set_registered_model_alias(model_name, CHAMPION, v)
    client.set_model_version_tag(model_name, v, "promotion", "champion" if decision.promoted else "challenger")
    return decision


def download_model(uri: str, dst: str | Path | None = None) -> Path:
    """Fetch a model's files (``models:/name@alias``, ``runs:/...`` or a local path) and return the .keras file."""
    path = Path(uri)
    if path.exists():
        return path if path.is_file() else next(path.rglob("*.keras"))
    import mlflow

    from sales_ability.serving.tracking import tracking_uri

    mlflow.set_tracking_uri(tracking_uri())
    local = Path(mlflow.artifacts.download_artifacts(artifact_uri=uri, dst_path=str(dst) if dst else None))
    found = sorted(local.rglob("*.keras"))
    if not found:
        raise FileNotFoundError(f"{uri}: no .keras file among the model's artifacts")
    return found[0]
