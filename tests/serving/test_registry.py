from pathlib import Path

import mlflow
import pytest
from mlflow import MlflowClient

from sales_ability.serving.registry import register_and_promote
from sales_ability.serving.tracking import EXPERIMENT, tracking_uri


def _logged_run(tmp_path: Path, name: str) -> str:
    mlflow.set_tracking_uri(tracking_uri())
    mlflow.set_experiment(EXPERIMENT)
    model_file = tmp_path / f"{name}.keras"
    model_file.write_bytes(b"weights of " + name.encode())
    with mlflow.start_run(run_name=name) as run:
        mlflow.log_artifact(str(model_file), artifact_path="model")
    return run.info.run_id


def test_first_model_becomes_champion_then_loser_stays_challenger(isolated_mlflow: str, tmp_path: Path) -> None:
    client = MlflowClient(tracking_uri())
    first = register_and_promote(_logged_run(tmp_path, "a"), "model", 0.90, lambda uri: pytest.fail("no champion yet"),
                                 margin=0.001, card="# card a")
    assert first.promoted and first.reason == "no champion yet"
    assert str(client.get_model_version_by_alias("sales-ability", "champion").version) == first.challenger_version

    scored = []
    second = register_and_promote(_logged_run(tmp_path, "b"), "model", 0.9005, lambda uri: scored.append(uri) or 0.90,
                                  margin=0.001, card="# card b")
    assert scored == ["models:/sales-ability@champion"]  # the champion was re-scored on the same test set
    assert not second.promoted and second.champion_mean_accuracy == 0.90
    assert str(client.get_model_version_by_alias("sales-ability", "champion").version) == first.challenger_version
    assert str(client.get_model_version_by_alias("sales-ability", "challenger").version) == second.challenger_version
    assert client.get_model_version("sales-ability", second.challenger_version).description == "# card b"

    third = register_and_promote(_logged_run(tmp_path, "c"), "model", 0.95, lambda uri: 0.90, margin=0.001, card="# card c")
    assert third.promoted
    assert str(client.get_model_version_by_alias("sales-ability", "champion").version) == third.challenger_version
