from pathlib import Path

import numpy as np
import pytest

from sales_ability.evaluation import concordance, mean_accuracy, regression_report
from sales_ability.model import PRESETS, TABLE_III, build_model
from sales_ability.training import freeze_backbone_layers, load_model, save_model


@pytest.mark.parametrize("preset", list(PRESETS))
def test_every_backbone_builds_and_outputs_traits(preset: str) -> None:
    model = build_model(preset, n_frames=3, frame_size=32, weights=None, lstm_units=[4], dense_units=[4])
    frames = np.random.default_rng(0).integers(0, 256, size=(2, 3, 32, 32, 3), dtype=np.uint8)
    out = model.predict(frames, verbose=0)
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
    assert np.array_equal(model.predict(frames, verbose=0), loaded.predict(frames, verbose=0))


def test_freeze_first_k_backbone_layers() -> None:
    model = build_model("efficientnetb1", n_frames=2, frame_size=32, freeze_layers=10)
    backbone = next(layer for layer in model.layers if layer.name.startswith("efficientnet"))
    assert not any(layer.trainable for layer in backbone.layers[:10])
    assert all(layer.trainable for layer in backbone.layers[10:])
    assert freeze_backbone_layers(model, 3) == 3
    assert backbone.layers[5].trainable and not backbone.layers[2].trainable


def test_local_weights_file_and_missing_file(tmp_path: Path) -> None:
    source = build_model("small", n_frames=2, frame_size=32)
    backbone = source.get_layer("small_cnn")
    backbone.save_weights(tmp_path / "cnn.weights.h5")
    model = build_model("small", n_frames=2, frame_size=32, weights=str(tmp_path / "cnn.weights.h5"))
    for a, b in zip(backbone.get_weights(), model.get_layer("small_cnn").get_weights(), strict=True):
        assert np.array_equal(a, b)
    with pytest.raises(FileNotFoundError, match="weights file not found"):
        build_model("efficientnetb1", n_frames=2, frame_size=32, weights=str(tmp_path / "missing.h5"))


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
