"""The trait model: a per-frame CNN backbone, stacked LSTMs and Dense layers, five sigmoid outputs.

Frames are folded into the batch, ``(B, T, H, W, C) -> (B*T, H, W, C) -> CNN -> (B, T, F)``: Keras 3's
``TimeDistributed`` would unroll T copies of the CNN (minutes for the first step, or out of memory).
Only ``keras.ops`` is used, so the model runs on the TensorFlow (default) and JAX backends.

Input scaling is decided here, once: frames enter as uint8 and are cast to float32 at the model input;
then each backbone gets the scaling it was trained with (EfficientNet rescales internally and takes
0..255; ResNetV2 and our small CNNs take [-1, 1]; VGG takes mean-subtracted BGR).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import keras
from keras import layers, ops

from sales_ability.errors import ModelError
from sales_ability.traits import TRAITS


@dataclass(frozen=True)
class Preset:
    """A Table III row: backbone and the LSTM / Dense sizes the paper used with it."""

    backbone: str
    lstm_units: tuple[int, ...]
    dense_units: tuple[int, ...]
    scaling: str
    paper_mse: float | None = None
    paper_mean_accuracy: float | None = None


PRESETS: dict[str, Preset] = {
    "vgg16": Preset("VGG16", (64, 64), (32,), "caffe", 0.01592, 0.8904),
    "vgg19": Preset("VGG19", (64, 64), (32,), "caffe", 0.01613, 0.8826),
    "resnet50v2": Preset("ResNet50V2", (128, 128), (64,), "tf", 0.01577, 0.8852),
    "resnet101v2": Preset("ResNet101V2", (128, 128), (64,), "tf", 0.01542, 0.9002),
    "efficientnetb1": Preset("EfficientNetB1", (512,), (256,), "none", 0.0152, 0.9022),
    "efficientnetb2": Preset("EfficientNetB2", (64, 64), (32,), "none", 0.01446, 0.9042),
    "efficientnetb3": Preset("EfficientNetB3", (64, 64), (32,), "none", 0.01512, 0.9025),
    "efficientnetb4": Preset("EfficientNetB4", (128, 128), (64,), "none", 0.0155, 0.9012),
    "efficientnetb5": Preset("EfficientNetB5", (1024,), (256,), "none", 0.0155, 0.9009),
    # Our small CNNs take zero-centred [-1, 1] input: on [0, 1] they learned several times slower on the demo.
    "small": Preset("small", (32,), (16,), "tf"),
    "tiny": Preset("small", (8,), (8,), "tf"),
}
TABLE_III: tuple[str, ...] = tuple(k for k in PRESETS if k not in ("small", "tiny"))
_CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)


@keras.saving.register_keras_serializable(package="sales_ability")
def mean_accuracy_metric(y_true, y_pred):
    """Eq. 1 per clip, averaged by Keras over the batch: ``1 - mean |p - t|`` (registered, like the layers
    below, so a saved model loads with plain ``keras.saving.load_model`` once this module is imported)."""
    return 1.0 - ops.mean(ops.abs(y_true - y_pred), axis=-1)


@keras.saving.register_keras_serializable(package="sales_ability")
class FoldFrames(layers.Layer):
    """(B, T, H, W, C) uint8 -> (B*T, H, W, C) float32 with the backbone's input scaling."""

    def __init__(self, scaling: str = "unit", **kwargs) -> None:
        super().__init__(**kwargs)
        self.scaling = scaling

    def call(self, frames):
        shape = ops.shape(frames)
        x = ops.cast(ops.reshape(frames, (-1, shape[2], shape[3], shape[4])), "float32")
        if self.scaling == "unit":
            return x / 255.0
        if self.scaling == "tf":
            return x / 127.5 - 1.0
        if self.scaling == "caffe":
            bgr = ops.flip(x, axis=-1)
            return bgr - ops.convert_to_tensor(_CAFFE_MEAN_BGR, dtype="float32")
        return x  # "none": the backbone rescales internally (EfficientNet)

    def compute_output_shape(self, input_shape):
        return (None, *input_shape[2:])

    def get_config(self) -> dict:
        return {**super().get_config(), "scaling": self.scaling}


@keras.saving.register_keras_serializable(package="sales_ability")
class UnfoldFrames(layers.Layer):
    """(B*T, F) -> (B, T, F)."""

    def __init__(self, n_frames: int, **kwargs) -> None:
        super().__init__(**kwargs)
        self.n_frames = n_frames

    def call(self, features):
        return ops.reshape(features, (-1, self.n_frames, ops.shape(features)[-1]))

    def compute_output_shape(self, input_shape):
        return (None, self.n_frames, input_shape[-1])

    def get_config(self) -> dict:
        return {**super().get_config(), "n_frames": self.n_frames}


def small_cnn(input_shape: tuple[int, int, int]) -> keras.Model:
    """A few-thousand-parameter CNN for fast tests and the quick demo preset."""
    inputs = keras.Input(input_shape)
    x = inputs
    for filters in (16, 32, 64):
        x = layers.Conv2D(filters, 3, strides=2, padding="same", activation="relu")(x)
    x = layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, x, name="small_cnn")


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and the backend, and ask the backend for deterministic kernels.

    Call it before a model is built: the initial weights come from the backend's generator.
    """
    keras.utils.set_random_seed(seed)
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        tf.config.experimental.enable_op_determinism()


@contextlib.contextmanager
def _keras_weights_from(path: Path | None) -> Iterator[None]:
    """Serve Keras' ImageNet weights download from ``path`` (or turn a failed download into one clear error).

    Keras builds some backbones differently for ``weights="imagenet"`` (EfficientNet adds an input
    rescaling layer that a plain ``load_weights`` misses), so a local copy of the weights file must go
    through the same constructor: the constructor fetches it with ``file_utils.get_file``, which this
    replaces for the duration of the build.
    """
    from keras.src.utils import file_utils

    original = file_utils.get_file

    def get_file(fname=None, origin=None, *args, **kwargs):
        if path is not None:
            return str(path)
        try:
            return original(fname, origin, *args, **kwargs)
        except Exception as err:  # noqa: BLE001 - get_file raises a bare Exception when offline
            raise ModelError(
                f"ImageNet weights could not be downloaded from {origin} ({err}). Offline, set model.weights to a "
                "local copy of the Keras weights file (the same file, e.g. from ~/.keras/models/ on a connected "
                "machine) or to null (random initialisation)"
            ) from None

    file_utils.get_file = get_file
    try:
        yield
    finally:
        file_utils.get_file = original


def build_backbone(preset: Preset, input_shape: tuple[int, int, int], weights: str | None) -> keras.Model:
    """The per-frame CNN, pooled to one feature vector per frame.

    Args:
        preset: which backbone.
        input_shape: (H, W, C) of one frame.
        weights: ``imagenet`` (downloads once), a local copy of that Keras weights file (``.h5``), or None
            (random init). A local file builds exactly what ``imagenet`` builds.

    Raises:
        ModelError: the weights file is missing, ImageNet weights cannot be downloaded, or the small CNN
            is asked for ImageNet weights.
    """
    if preset.backbone == "small":
        if weights == "imagenet":
            raise ModelError("the small CNN has no ImageNet weights: set model.weights to null or a weights file of its own")
        model = small_cnn(input_shape)
        if weights is not None:
            model.load_weights(_existing(weights))
        return model
    constructor = getattr(keras.applications, preset.backbone)
    if weights is None:
        return constructor(include_top=False, weights=None, input_shape=input_shape, pooling="avg")
    local = None if weights == "imagenet" else _existing(weights)
    with _keras_weights_from(local):
        return constructor(include_top=False, weights="imagenet", input_shape=input_shape, pooling="avg")


def _existing(weights: str) -> Path:
    path = Path(weights)
    if not path.is_file():
        raise ModelError(f"{path}: backbone weights file not found (model.weights: imagenet, a local file, or null)")
    return path


def freeze_first_layers(backbone: keras.Model, k: int) -> int:
    """Freeze the first ``k`` backbone layers that hold weights (input, pooling and rescaling layers do not
    count); the rest stay trainable. Returns how many are frozen."""
    weighted = [layer for layer in backbone.layers if layer.weights]
    for layer in backbone.layers:
        layer.trainable = True
    for layer in weighted[:k]:
        layer.trainable = False
    return min(k, len(weighted))


def resolve_sizes(preset: Preset, lstm_units: list[int] | None, dense_units: list[int] | None) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """The preset's LSTM / Dense sizes unless params override them."""
    return tuple(lstm_units or preset.lstm_units), tuple(dense_units or preset.dense_units)


def build_model(
    preset_name: str = "efficientnetb2",
    n_frames: int = 60,
    frame_size: int = 64,
    weights: str | None = None,
    freeze_layers: int = 0,
    lstm_units: list[int] | None = None,
    dense_units: list[int] | None = None,
    dropout: float = 0.2,
    output_bias: list[float] | None = None,
) -> keras.Model:
    """Build the CNN-LSTM trait model.

    Args:
        preset_name: a key of ``PRESETS``.
        n_frames, frame_size: input ``(n_frames, frame_size, frame_size, 3)`` uint8.
        weights: backbone weights (see ``build_backbone``).
        freeze_layers: the first K backbone layers that hold weights are not trained.
        lstm_units, dense_units: override the preset's sizes.
        dropout: after each Dense layer.
        output_bias: initial trait means (the model then starts at the constant predictor).

    Returns:
        A model mapping ``(B, n_frames, S, S, 3)`` uint8 to ``(B, 5)`` traits in [0, 1].
    """
    try:
        preset = PRESETS[preset_name]
    except KeyError:
        raise ValueError(f"unknown model preset {preset_name!r}; known: {', '.join(PRESETS)}") from None
    lstm_sizes, dense_sizes = resolve_sizes(preset, lstm_units, dense_units)
    frames = keras.Input((n_frames, frame_size, frame_size, 3), dtype="uint8", name="frames")
    backbone = build_backbone(preset, (frame_size, frame_size, 3), weights)
    freeze_first_layers(backbone, freeze_layers)
    x = FoldFrames(preset.scaling, name="fold_frames")(frames)
    x = backbone(x)
    x = UnfoldFrames(n_frames, name="unfold_frames")(x)
    for i, units in enumerate(lstm_sizes):
        x = layers.LSTM(units, return_sequences=i < len(lstm_sizes) - 1, name=f"lstm_{i}")(x)
    for i, units in enumerate(dense_sizes):
        x = layers.Dense(units, activation="relu", name=f"dense_{i}")(x)
        if dropout:
            x = layers.Dropout(dropout, name=f"dropout_{i}")(x)
    bias = "zeros"
    if output_bias is not None:
        logits = [math.log(min(max(m, 1e-3), 1 - 1e-3) / (1 - min(max(m, 1e-3), 1 - 1e-3))) for m in output_bias]
        bias = keras.initializers.Constant(logits)
    outputs = layers.Dense(len(TRAITS), activation="sigmoid", bias_initializer=bias, name="traits")(x)
    return keras.Model(frames, outputs, name=f"sales_ability_{preset_name}")
