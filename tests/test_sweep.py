"""experiments/sweep_quick.py: what a run's history says about reaching the target, and the
sweep end to end at the smoke profile's size."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from experiments import sweep_quick  # noqa: E402


def history(losses, dev=None, seconds=2.0):
    dev = dev or [1.0] * len(losses)
    return [{"epoch": i + 1, "loss": v, "dev_loss": d, "seconds": seconds}
            for i, (v, d) in enumerate(zip(losses, dev, strict=True))]


def test_measure_finds_the_first_epoch_below_the_target_and_the_minutes_to_it():
    h = history([1.0, 0.9, 0.85, 0.79, 0.7, 0.75], dev=[1.0, 0.9, 0.8, 0.85, 0.9, 0.95])
    m = sweep_quick.measure(h, 1.0, 0.98, target=0.2, at=[2, 6])
    assert m["target_epoch"] == 4 and m["target_minutes"] == pytest.approx(4 * 2.0 / 60)
    assert m["loss_at_2"] == pytest.approx(0.9)  # the last 10 % of 2 epochs: epoch 2
    assert m["final_loss"] == pytest.approx(0.75)
    assert m["final_skill"] == pytest.approx(1 - 0.75 / 0.98)
    assert (m["best_dev_loss"], m["best_dev_epoch"]) == (0.8, 3)
    never = sweep_quick.measure(history([1.0, 0.95]), 1.0, 1.0, target=0.2, at=[2])
    assert never["target_epoch"] is None and never["target_minutes"] is None


@pytest.mark.slow
def test_sweep_runs_at_smoke_size_and_writes_its_table(tmp_path, capsys):
    rc = sweep_quick.main(["--profile", "smoke", "--out", str(tmp_path / "sweep"), "--data",
                           str(tmp_path / "data"), "--corpora", "warzone2100", "--cells",
                           "keras01_lstm,lstm", "--hidden", "8", "--lr", "1e-3,1e-2",
                           "--epochs", "2", "--at", "1,2", "--quiet"])
    assert rc == 0
    data = json.loads((tmp_path / "sweep" / "sweep.json").read_text())
    assert [(r["cell"], r["learning_rate"]) for r in data["rows"]] == [
        ("keras01_lstm", 1e-3), ("keras01_lstm", 1e-2), ("lstm", 1e-3), ("lstm", 1e-2)]
    for r in data["rows"]:
        assert r["mean_train"] == pytest.approx(
            data["baselines"]["warzone2100"]["train"]["mean"])
        assert r["loss_at_1"] > 0 and r["loss_at_2"] > 0 and r["seconds_epoch"] > 0
        config = json.loads((tmp_path / "sweep" / r["run"] / "config.json").read_text())
        assert config["learning_rate"] == r["learning_rate"]
        assert config["recipe"] == ("keras01" if r["cell"] == "keras01_lstm" else "keras3")
    out = capsys.readouterr().out
    assert "20%@ep" in out and "warzone2100" in out
    assert (tmp_path / "sweep" / "sweep.csv").read_text().startswith("corpus,cell,hidden")


@pytest.mark.slow
def test_a_diverged_run_is_a_row_of_the_sweep_not_a_crash(tmp_path, capsys):
    rc = sweep_quick.main(["--profile", "smoke", "--out", str(tmp_path / "sweep"), "--data",
                           str(tmp_path / "data"), "--corpora", "warzone2100", "--cells",
                           "lstm", "--hidden", "8", "--lr", "1e30", "--epochs", "2",
                           "--at", "1,2", "--quiet"])
    assert rc == 0
    (row,) = json.loads((tmp_path / "sweep" / "sweep.json").read_text())["rows"]
    assert "diverged" in row["diverged"] and row["learning_rate"] == 1e30
    assert "diverged" in capsys.readouterr().out.splitlines()[-3]


def test_the_table_shows_a_run_that_diverged_before_any_epoch():
    row = {"corpus": "wesnoth", "cell": "gru", "hidden": 128, "learning_rate": 0.1,
           "mean_train": 1.0, "diverged": "training diverged in epoch 1"}
    text = sweep_quick.table([row], [30])
    assert "wesnoth      gru" in text and "diverged before its first epoch ended" in text
