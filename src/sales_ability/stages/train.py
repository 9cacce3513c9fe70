"""The training stages (train, finetune) as functions: DVC's scripts and Airflow call these."""

from __future__ import annotations

from pathlib import Path

from sales_ability.config import FinetuneParams, Params, TrainParams
from sales_ability.io_utils import write_json_atomic
from sales_ability.model.calibration import calibration_set, save_calibration
from sales_ability.registry.models import save_featurize_params
from sales_ability.registry.tracking import dvc_tags, flatten_metrics, log_face_tensor_splits, log_files, stage_run
from sales_ability.traits import TRAITS


def _settings(p: TrainParams | FinetuneParams):
    from sales_ability.model.training import FitSettings

    return FitSettings(
        epochs=p.epochs, batch_size=p.batch_size, learning_rate=p.learning_rate, patience=p.patience,
        augment_flip=p.augment_flip, seed=p.seed, jit_compile=getattr(p, "jit_compile", False),
    )


def _log_result(stage: str, result: dict, files: list[Path]) -> None:
    import mlflow

    mlflow.log_metrics(flatten_metrics(result))
    log_files(files, artifact_path=stage)


def _train_means(faces: Path) -> list[float]:
    from sales_ability.model.feed import FaceTensorDataset

    return FaceTensorDataset(faces, "train").label_means()


def _fit_and_save(stage: str, model, faces: Path, means: list[float], params: Params, model_dir: Path, metrics_file: Path,
                  history_file: Path, run_params: dict, tags: dict, extra: dict) -> dict:
    """Train (tracked in an MLflow run named ``stage``), save the model with its training means, the
    featurize and segmentation settings of its face tensors and its calibration set (validation predictions,
    for the intervals): the serving contract. Write metrics."""
    from sales_ability.model.predict import predict_clips
    from sales_ability.model.training import fit_model, save_model

    with stage_run(stage, params=run_params, tags=tags):
        log_face_tensor_splits(faces, ("train", "validation", "calibration"))
        result = fit_model(model, faces, _settings(getattr(params, stage)), history_file) | extra
        save_model(model, model_dir / "model.keras")
        write_json_atomic(model_dir / "label_means.json", dict(zip(TRAITS, means, strict=True)))
        save_featurize_params(model_dir, params.featurize)
        held_out = {}
        for split in ("calibration", "validation"):
            try:
                held_out[split] = predict_clips(model, faces, split, labelled_only=True)
            except ValueError:  # no labelled segments in this split
                pass
        # calibrate on people early stopping never saw when there are any; else on validation (said in "split")
        if "calibration" in held_out:
            calibration = calibration_set(held_out["calibration"], "calibration", held_out.get("validation"))
        elif "validation" in held_out:
            calibration = calibration_set(held_out["validation"], "validation")
        else:  # no held-out labels: intervals will span the whole scale
            calibration = {"split": "validation", "n": 0}
        save_calibration(model_dir, calibration)
        result["calibration_segments"] = calibration["n"]
        write_json_atomic(metrics_file, {stage: result})
        _log_result(stage, {k: v for k, v in result.items() if not isinstance(v, str)}, [history_file, metrics_file])
    return result


def run_train(faces: Path, model_dir: Path, metrics_file: Path, history_file: Path, params: Params) -> dict:
    """Phase 1: build the model (output bias at the training means) and train it on ``faces``."""
    from sales_ability.model.network import build_model, seed_everything

    preset = params.effective_preset()
    means = _train_means(faces)
    seed_everything(params.train.seed)  # before the build: the initial weights come from the seeded generator
    model = build_model(
        preset, params.featurize.n_frames, params.featurize.crop_size, params.effective_weights(),
        params.model.freeze_layers, params.model.lstm_units, params.model.dense_units, params.model.dropout,
        output_bias=means,
    )
    run_params = {"preset": preset, "dataset": params.dataset.name, "split": params.dataset.split,
                  **params.train.model_dump(), **params.model.model_dump(exclude={"preset", "weights"}),
                  "weights": params.effective_weights()}
    return _fit_and_save("train", model, faces, means, params, model_dir, metrics_file, history_file, run_params,
                         dvc_tags([faces]), {"preset": preset, "parameters": int(model.count_params())})


def run_finetune(base_model: Path, faces: Path, model_dir: Path, metrics_file: Path, history_file: Path, params: Params) -> dict:
    """Phase 2: start from the train model, freeze the first K backbone layers, train on ``faces``."""
    from sales_ability.model.network import seed_everything
    from sales_ability.model.training import freeze_backbone_layers, load_model

    seed_everything(params.finetune.seed)
    model = load_model(base_model)
    frozen = freeze_backbone_layers(model, params.finetune.freeze_layers)
    return _fit_and_save("finetune", model, faces, _train_means(faces), params, model_dir, metrics_file, history_file,
                         {**params.finetune.model_dump(), "frozen_backbone_layers": frozen},
                         dvc_tags([faces, base_model.parent]), {"frozen_backbone_layers": frozen})
