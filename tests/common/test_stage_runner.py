import json
from pathlib import Path

import pytest

from sales_ability.errors import ModelError
from sales_ability.stage_runner import run_stage


def test_stage_time_is_recorded_and_errors_are_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                         capsys: pytest.CaptureFixture) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SALES_ABILITY_VERBOSE", "1")  # keep this pytest process's own stderr as it is
    seen = []
    run_stage("prepare", lambda *args: seen.extend(args), ["train", "raw"])
    run_stage("train", lambda: None, [])
    assert seen == ["train", "raw"]
    times = json.loads((tmp_path / "metrics/stage_times.json").read_text())
    assert list(times) == ["prepare", "train"] and all(t >= 0 for t in times.values())

    def offline() -> None:
        raise ModelError("ImageNet weights could not be downloaded; set model.weights to a local file or null")

    with pytest.raises(SystemExit) as exit_info:
        run_stage("train", offline, [])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.strip() == "train: error: ImageNet weights could not be downloaded; set model.weights to a local file or null"
    assert "Traceback" not in err
