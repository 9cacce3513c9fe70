from pathlib import Path

import numpy as np
import pytest

from sales_ability.errors import ModelError
from sales_ability.model.evaluation import concordance, mean_accuracy, regression_report
from sales_ability.model.network import (
    PRESETS,
    TABLE_III,
    Preset,
    build_backbone,
    build_model,
    seed_everything,
)
from sales_ability.model.training import (
    FitSettings,
    fit_model,
    freeze_backbone_layers,
    load_model,
    save_model,
)
from tests.model.synthetic import write_face_tensors


@pytest.mark.parametrize("preset", list(PRESETS))
def test_every_backbone_builds_and_outputs_traits(preset: str) -> None:
    model = build_model(preset, n_frames=3, frame_size=32, weights=None, lstm_units=[4], dense_units=[4])
    frames = np.random.default_rng(0).integers(0, 256, size=(2, 3, 32, 32, 3), dtype=np.uint8)
    out = np.asarray(model(frames, training=False))  # eager: no graph to trace for one small batch
    assert out.shape == (2, 5)
    assert ((out >= 0) & (out <= 1)).all()


def test_table_iii_presets_carry_the_papers_sizes() -> None:
    assert len(TABLE_III) == 9
    assert PRESETS["efficientnetb2"].lstm_units == (64, 64) and PRESETS["efficientnetb2"].dense_units == (32,)
    assert PRESETS["efficientnetb5"].lstm_units == (1024,) and PRESETS["efficientnetb5"].dense_units == (256,)
    assert PRESETS["resnet101v2"].lstm_units == (128, 128) and PRESETS["resnet101v2"].dense_units == (64,)


def test_default_model_is_the_papers_best() -> None:
    model = build_model("efficientnetb2", n_frames=2, frame_size=32)
    lstm = [layer.units for layer in model.layers if layer.name.startswith("lstm_")]
    dense = [layer.units for layer in model.layers if layer.name.startswith("dense_")]
    assert lstm == [64, 64] and dense == [32]
    assert not any("time_distributed" in layer.name for layer in model.layers)


def test_output_bias_starts_at_the_constant_predictor() -> None:
    means = [0.3, 0.4, 0.5, 0.6, 0.7]
    model = build_model("tiny", n_frames=2, frame_size=16, output_bias=means)
    bias = model.get_layer("traits").get_weights()[1]
    assert np.allclose(1 / (1 + np.exp(-bias)), means, atol=1e-6)


@pytest.mark.parametrize("preset", ["small", "efficientnetb1"])
def test_save_load_round_trip_gives_identical_outputs(tmp_path: Path, preset: str) -> None:
    model = build_model(preset, n_frames=3, frame_size=32)
    frames = np.random.default_rng(1).integers(0, 256, size=(2, 3, 32, 32, 3), dtype=np.uint8)
    save_model(model, tmp_path / "model.keras")
    loaded = load_model(tmp_path / "model.keras")
    assert np.array_equal(np.asarray(model(frames, training=False)), np.asarray(loaded(frames, training=False)))


def test_freeze_counts_only_layers_that_hold_weights() -> None:
    model = build_model("efficientnetb1", n_frames=2, frame_size=32, freeze_layers=10)
    backbone = next(layer for layer in model.layers if layer.name.startswith("efficientnet"))
    weighted = [layer for layer in backbone.layers if layer.weights]
    assert not backbone.layers[0].weights  # the input layer holds none: K=1 must still freeze a real layer
    assert not any(layer.trainable for layer in weighted[:10])
    assert all(layer.trainable for layer in weighted[10:])
    assert freeze_backbone_layers(model, 1) == 1
    assert not weighted[0].trainable and type(weighted[0]).__name__ == "Normalization"
    assert all(layer.trainable for layer in weighted[1:])
    frozen_before = sum(int(np.prod(w.shape)) for w in model.non_trainable_weights)
    freeze_backbone_layers(model, 3)
    assert sum(int(np.prod(w.shape)) for w in model.non_trainable_weights) > frozen_before


def test_local_weights_file_and_missing_file(tmp_path: Path) -> None:
    source = build_model("small", n_frames=2, frame_size=32)
    backbone = source.get_layer("small_cnn")
    backbone.save_weights(tmp_path / "cnn.weights.h5")
    model = build_model("small", n_frames=2, frame_size=32, weights=str(tmp_path / "cnn.weights.h5"))
    for a, b in zip(backbone.get_weights(), model.get_layer("small_cnn").get_weights(), strict=True):
        assert np.array_equal(a, b)
    with pytest.raises(ModelError, match="missing.h5: backbone weights file not found"):
        build_model("efficientnetb1", n_frames=2, frame_size=32, weights=str(tmp_path / "missing.h5"))
    with pytest.raises(ModelError, match="no ImageNet weights"):
        build_model("small", n_frames=2, frame_size=32, weights="imagenet")


def test_local_imagenet_file_builds_exactly_what_keras_builds(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A local copy of the weights file must give what ``weights="imagenet"`` gives, extra rescaling included."""
    import keras
    from keras.src.utils import file_utils

    seed_everything(5)
    donor = keras.applications.EfficientNetB0(include_top=False, weights=None, input_shape=(32, 32, 3), pooling="avg")
    for layer in donor.layers:  # a weights file whose normalisation is ImageNet's, as in the real one
        if layer.name == "normalization":
            layer.set_weights([np.array([0.485, 0.456, 0.406]), np.array([0.229, 0.224, 0.225]), np.array(0)])
    weights_file = tmp_path / "efficientnetb0_notop.weights.h5"
    donor.save_weights(weights_file)
    # Keras' own imagenet build, with its download answered by the local file (no network)
    monkeypatch.setattr(file_utils, "get_file", lambda *args, **kwargs: str(weights_file))
    reference = keras.applications.EfficientNetB0(include_top=False, weights="imagenet", input_shape=(32, 32, 3), pooling="avg")
    monkeypatch.undo()

    ours = build_backbone(Preset("EfficientNetB0", (8,), (8,), "none"), (32, 32, 3), str(weights_file))
    images = np.random.default_rng(0).uniform(0, 255, size=(3, 32, 32, 3)).astype("float32")
    expected = np.asarray(reference(images, training=False))
    assert np.array_equal(np.asarray(ours(images, training=False)), expected)
    assert [type(layer).__name__ for layer in ours.layers] == [type(layer).__name__ for layer in reference.layers]
    # what a plain load_weights gives (the bug): no extra rescaling, other features
    plain = keras.applications.EfficientNetB0(include_top=False, weights=None, input_shape=(32, 32, 3), pooling="avg")
    plain.load_weights(weights_file)
    assert len(plain.layers) == len(ours.layers) - 1
    assert not np.allclose(np.asarray(plain(images, training=False)), expected)


def test_imagenet_offline_is_one_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    from keras.src.utils import file_utils

    def offline(fname=None, origin=None, *args, **kwargs):
        raise Exception(f"URL fetch failure on {origin}: None -- [Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(file_utils, "get_file", offline)
    with pytest.raises(ModelError, match=r"could not be downloaded.*local copy of the Keras weights file.*or to null"):
        build_model("efficientnetb1", n_frames=2, frame_size=32, weights="imagenet")
    assert file_utils.get_file is offline  # the download hook is put back


def test_two_seeded_builds_and_fits_are_identical(tmp_path: Path) -> None:
    faces = write_face_tensors(tmp_path / "faces", n_clips=12, n_frames=4, size=16)
    settings = FitSettings(epochs=2, batch_size=4, learning_rate=0.01, patience=5, augment_flip=True, seed=3)
    runs = []
    for _ in range(2):
        seed_everything(3)
        model = build_model("tiny", n_frames=4, frame_size=16, output_bias=[0.5] * 5)
        initial = [w.copy() for w in model.get_weights()]
        result = fit_model(model, faces, settings)
        runs.append((initial, model.get_weights(), result))
    (init_a, final_a, fit_a), (init_b, final_b, fit_b) = runs
    assert all(np.array_equal(a, b) for a, b in zip(init_a, init_b, strict=True))
    assert all(np.array_equal(a, b) for a, b in zip(final_a, final_b, strict=True))
    assert not all(np.array_equal(a, b) for a, b in zip(init_a, final_a, strict=True))  # it did train
    assert fit_a["best_val_mean_accuracy"] == fit_b["best_val_mean_accuracy"]
    assert fit_a["epochs_run"] == fit_b["epochs_run"]


def test_a_fit_logs_each_epoch_with_mlflows_keras_callback_only_inside_a_run(tmp_path: Path, isolated_mlflow: str) -> None:
    import mlflow

    faces = write_face_tensors(tmp_path / "faces", n_clips=8, n_frames=4, size=16)
    settings = FitSettings(epochs=2, batch_size=4, learning_rate=0.01, patience=5, augment_flip=False, seed=1)
    fit_model(build_model("tiny", n_frames=4, frame_size=16), faces, settings)  # no run: none is started
    assert mlflow.active_run() is None and mlflow.search_runs(search_all_experiments=True).empty
    with mlflow.start_run() as run:
        fit_model(build_model("tiny", n_frames=4, frame_size=16), faces, settings)
    history = mlflow.MlflowClient().get_metric_history(run.info.run_id, "val_mean_accuracy")
    assert [m.step for m in history] == [0, 1]  # one point per epoch
    assert "optimizer_learning_rate" in mlflow.get_run(run.info.run_id).data.params


def test_eq1_and_baseline_by_hand() -> None:
    true = np.array([[0.5, 0.5, 0.5, 0.5, 0.5], [0.7, 0.3, 0.5, 0.9, 0.1]])
    pred = np.array([[0.6, 0.5, 0.5, 0.5, 0.4], [0.7, 0.5, 0.5, 0.8, 0.1]])
    # |p - t| sums to 0.1 + 0.1 + 0.2 + 0.1 = 0.5 over 10 entries -> 1 - 0.05
    assert mean_accuracy(pred, true) == pytest.approx(0.95)
    report = regression_report(pred, true, train_means=[0.5] * 5)
    # baseline 0.5 everywhere: |0.5 - t| = 0, 0, 0, 0, 0, 0.2, 0.2, 0, 0.4, 0.4 -> 1.2 / 10
    assert report["baseline_mean_accuracy"] == pytest.approx(0.88)
    assert report["openness"]["accuracy"] == pytest.approx(1 - 0.05)
    assert report["n"] == 2
    assert concordance(np.array([0.1, 0.5, 0.9]), np.array([0.1, 0.5, 0.9])) == pytest.approx(1.0)
