from pathlib import Path

import pytest
import yaml

from sales_ability.config import load_params, parse_params
from sales_ability.errors import ConfigError
from sales_ability.traits import TRAITS


def test_repo_params_load_with_paper_defaults(repo_root: Path) -> None:
    params = load_params(repo_root / "params.yaml")
    assert params.featurize.n_frames == 60
    assert params.featurize.crop_size == 64
    assert params.model.preset == "efficientnetb2"
    assert params.dataset.name in ("demo", "first_impressions", "collected")
    assert set(params.knowledge_base.directions) == set(TRAITS)


def test_unknown_key_is_named(tmp_path: Path) -> None:
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump({"featurize": {"n_frame": 60}}))
    with pytest.raises(ConfigError, match=r"featurize\.n_frame: unknown key"):
        load_params(path)


def test_bad_value_is_named() -> None:
    with pytest.raises(ConfigError, match=r"dataset\.name"):
        parse_params({"dataset": {"name": "youtube"}})
    with pytest.raises(ConfigError, match="must be 1"):
        parse_params({"dataset": {"split_fractions": {"train": 0.9, "validation": 0.2, "test": 0.2}}})


def test_official_split_needs_first_impressions() -> None:
    with pytest.raises(ConfigError, match="official"):
        parse_params({"dataset": {"name": "demo", "split": "official"}})
    assert parse_params({"dataset": {"name": "first_impressions", "split": "official"}}).dataset.split == "official"


def test_missing_file_and_bad_yaml(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_params(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("dataset: [unclosed")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_params(bad)
