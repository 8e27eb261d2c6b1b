"""The reproduction end to end with the smoke profile (real corpora, real training, real
generation), its outputs, the page in headless Chromium, and resuming; plus the profiles."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from gruvsynth import report

ROOT = Path(__file__).resolve().parent.parent
REPRODUCE = ROOT / "experiments" / "reproduce.py"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
sys.path.insert(0, str(ROOT))

from experiments import common, reproduce  # noqa: E402

CELLS = ("keras01_lstm", "keras01_gru", "lstm", "gru")
FAMILIES = ("authors", "keras3")
FIGURES = ("fig1_loss_curves", "fig2_hidden_size", "fig3_spectrograms_wesnoth",
           "fig3_spectrograms_warzone2100", "generated_audio", "generation_length", "depth")


def _env():
    env = dict(os.environ)
    env["TF_CPP_MIN_LOG_LEVEL"] = "2"
    env.pop("KERAS_BACKEND", None)
    return env


def _run(*args, timeout=900):
    return subprocess.run([sys.executable, *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, cwd=ROOT, env=_env())


def _valid_png(path: Path) -> bool:
    import matplotlib.image

    if not path.read_bytes().startswith(PNG_SIGNATURE):
        return False
    pixels = matplotlib.image.imread(path)
    return pixels.ndim == 3 and pixels.shape[0] > 50 and pixels.shape[1] > 50


def _leaves(value):
    if isinstance(value, dict):
        for v in value.values():
            yield from _leaves(v)
    else:
        yield value


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    base = tmp_path_factory.mktemp("smoke")
    out, data = base / "results", base / "data"
    done = _run(REPRODUCE, "--profile", "smoke", "--out", out, "--data", data, "--quiet")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return {"out": out, "data": data, "log": done.stdout}


# --------------------------------------------------------------------------------------------
# profiles (fast)


def test_profiles_load_and_paper_has_the_papers_settings():
    paper = common.load_profile("paper")
    assert paper["corpus"]["songs"] == 20 and paper["corpus"]["representation"] == "fft"
    assert paper["corpus"]["block"] == 11025 and paper["corpus"]["clip_blocks"] == 40
    assert paper["corpus"]["dev_fraction"] == 0.2 and paper["corpus"]["max_seconds"] == 0
    assert paper["fig1"]["hidden"] == 2048 and paper["fig1"]["epochs"] == 2000
    assert paper["train"]["batch_size"] == 5 and paper["train"]["learning_rate"] == 0.001
    assert max(paper["fig2"]["hidden"]) == 2048 and min(paper["fig2"]["hidden"]) == 128
    quick, smoke = common.load_profile("quick"), common.load_profile("smoke")
    for small in (quick, smoke):
        assert small["fig1"]["epochs"] < paper["fig1"]["epochs"]
        assert small["fig1"]["hidden"] < paper["fig1"]["hidden"]
        assert set(small) == set(paper)
    assert len(reproduce.training_plan(smoke)) < len(reproduce.training_plan(quick))
    # runs shared between experiments are planned once
    plan = reproduce.training_plan(quick)
    assert len(plan) == len(set(plan))
    with pytest.raises(common.ProfileError):
        common.load_profile("huge")


def test_every_training_setting_is_a_train_config_field():
    from gruvsynth.defaults import RECIPES
    from gruvsynth.training import TrainConfig

    for name in common.PROFILES:
        for recipe in RECIPES:
            TrainConfig().replace(**common.train_settings(common.load_profile(name), recipe))


def test_a_recipe_table_sets_its_recipes_learning_rate_only(tmp_path):
    text = (common.CONFIG_DIR / "smoke.toml").read_text(encoding="utf-8")
    mine = tmp_path / "mine.toml"
    mine.write_text(text.replace("[fig1]", "[train.keras01]\nlearning_rate = 0.02\n\n[fig1]"),
                    encoding="utf-8")
    settings = common.load_profile(str(mine))
    authors = common.train_config(settings, "keras01_gru", hidden=8, layers=1, epochs=2)
    today = common.train_config(settings, "gru", hidden=8, layers=1, epochs=2)
    assert authors.learning_rate == 0.02 and authors.recipe == "keras01"
    assert today.learning_rate == settings["train"]["learning_rate"] == 0.001
    assert authors.batch_size == today.batch_size
    for table, match in (("[train.keras2]\nlearning_rate = 0.02", r"\[train.keras2\] names no "
                          "recipe"),
                         ("[train.keras01]\nbatch_size = 2", r"\[train.keras01\] may set only "
                          "learning_rate, not batch_size")):
        mine.write_text(text.replace("[fig1]", f"{table}\n\n[fig1]"), encoding="utf-8")
        with pytest.raises(common.ProfileError, match=match):
            common.load_profile(str(mine))


@pytest.mark.slow
@pytest.mark.process
def test_auto_profile_follows_the_backends_devices():
    done = _run(REPRODUCE, "--plan", "--no-measure", timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    first = done.stdout.splitlines()[0]
    assert ("profile 'quick' (automatic: no GPU visible" in first
            or ("profile 'paper' (automatic: the" in first and "sees" in first)), first
    assert "estimate:" in done.stdout and "training runs" in done.stdout


# --------------------------------------------------------------------------------------------
# the smoke reproduction (slow: about 2-3 minutes on 2 cores)


@pytest.mark.slow
@pytest.mark.process
def test_smoke_prints_profile_estimate_and_every_stage(smoke):
    log = smoke["log"]
    assert "profile 'smoke' (given with --profile)" in log and "estimate: about" in log
    for k, name in enumerate(["corpora", *(n for n, _ in reproduce.STAGES)], 1):
        assert f"[{k}/7] {name}" in log
    assert "page checked in Chromium" in log
    record = json.loads((smoke["out"] / "reproduction.json").read_text())
    assert [s["status"] for s in record["stages"]] == ["done"] * 6
    assert record["page_check"]["ok"] is True
    assert record["host"]["cpu_count"] >= 1 and record["total_seconds"] > 0


@pytest.mark.slow
@pytest.mark.process
def test_smoke_claims_have_all_seven_per_family_with_verdicts_and_figures(smoke):
    out = smoke["out"]
    data = json.loads((out / "claims.json").read_text())
    claims = data["claims"]
    assert [(c["id"], c["family"]) for c in claims] == [
        (cid, family) for cid in report.CLAIM_IDS for family in FAMILIES]
    # the baselines of every corpus and split, and the loss claims gated on them
    assert set(data["baselines"]) == {"wesnoth", "warzone2100"}
    for corpus in data["baselines"].values():
        for split in ("train", "dev"):
            assert set(corpus[split]) == {"mean", "persistence", "linear"}
            assert all(v > 0 and math.isfinite(v) for v in corpus[split].values())
    for c in claims:
        if c["id"] in ("C1", "C2", "C3", "C7"):
            assert c["gates"] and "Gate:" in c["rule"], c["id"]
            if all(g["passed"] is False for g in c["gates"]):
                assert c["verdict"] == report.INCONCLUSIVE and c["reason"]
    for c in claims:
        assert c["verdict"] in report.VERDICTS
        assert c["rule"] and c["checks"] and c["measured"], c["id"]
        # the measured figures come from the run: at least one real number per claim
        numbers = [v for v in _leaves(c["measured"]) if isinstance(v, (int, float))]
        assert numbers and all(math.isfinite(v) for v in numbers), c["id"]
        for fig in c["figures"]:
            assert _valid_png(out / fig), fig
    md = (out / "claims.md").read_text()
    for c in claims:
        assert f"**{c['id']}**" in md and f"**{c['verdict']}" in md


@pytest.mark.slow
@pytest.mark.process
def test_smoke_figures_and_their_data(smoke):
    out = smoke["out"]
    fig_dir = out / "figures"
    for stem in FIGURES:
        assert _valid_png(fig_dir / f"{stem}.png"), stem
        svg = (fig_dir / f"{stem}.svg").read_text()
        assert "<svg" in svg
        assert (fig_dir / f"{stem}.csv").stat().st_size > 0
    fig1 = json.loads((fig_dir / "fig1_loss_curves.json").read_text())
    assert {(r["corpus"], r["cell"]) for r in fig1["runs"]} == {
        (c, cell) for c in ("wesnoth", "warzone2100") for cell in CELLS}
    assert set(fig1["baselines"]) == {"wesnoth", "warzone2100"}
    for r in fig1["runs"]:
        assert [h["epoch"] for h in r["history"]] == list(range(1, 7))
        assert all(h["loss"] > 0 and h["dev_loss"] > 0 for h in r["history"])
        assert (out / r["run"] / "model.keras").is_file()
        config = json.loads((out / r["run"] / "config.json").read_text())
        # the authors' cells train with what their code got from Keras 0.1, today's with Keras 3
        assert config["recipe"] == ("keras01" if r["cell"].startswith("keras01") else "keras3")
    fig2 = json.loads((fig_dir / "fig2_hidden_size.json").read_text())
    assert sorted({r["hidden"] for r in fig2["runs"]}) == [16, 32]
    depth = json.loads((fig_dir / "depth.json").read_text())
    # two LSTMs x two seeds
    assert sorted(r["layers"] for r in depth["runs"]) == [1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3]
    # replicates: every configuration once per seed, in its own run folder
    assert fig1["seeds"] == [0, 1] and {r["seed"] for r in fig1["runs"]} == {0, 1}
    assert len({r["run"] for r in fig1["runs"]}) == len(fig1["runs"]) == 2 * 4 * 2
    gl = json.loads((fig_dir / "generation_length.json").read_text())
    judged = [r for r in gl["rows"] if r["protocol"] == "train"]
    assert len(judged) == 2 * 2 * 2 * 2 * 5  # corpora x cells x seed sizes x samples x lengths
    assert len(gl["rows"]) == 2 * len(judged)  # as many again from dev windows (reported)
    fig3 = json.loads((fig_dir / "fig3_spectrograms.json").read_text())
    for entry in fig3["corpora"].values():
        assert 0 <= entry["truth"]["outside_band"] <= 1
        assert set(entry["cells"]) == set(CELLS)
        assert all(len(c["outside_band_seeds"]) == 2 for c in entry["cells"].values())
    header = (fig_dir / "fig3_spectrograms_wesnoth.csv").read_text().splitlines()[0]
    assert header == "frequency_hz,truth," + ",".join(CELLS)


@pytest.mark.slow
@pytest.mark.process
def test_smoke_page_passes_the_browser_check(smoke):
    out = smoke["out"]
    assert (out / "screenshot.png").read_bytes().startswith(PNG_SIGNATURE)
    result = report.check_page(out / "index.html")
    assert result["ok"], result["problems"]
    samples = json.loads((out / "samples" / "samples.json").read_text())["samples"]
    assert len(samples) == 2 * 4 * 1 * 2  # corpora x cells x samples x (train, dev) seeds
    assert len(result["images"]) == len(FIGURES) + len(samples)  # a spectrogram per sample
    # the authors' protocol first: seeds from training songs; then dev-seeded ones
    assert {s["protocol"] for s in samples} == {"train", "dev"}
    for s in samples:
        assert s["seed"]["source"] == s["protocol"]
        assert s["copy"].startswith(("near-copy of training song", "new"))
        assert _valid_png(out / s["spectrogram"])
    assert len(result["audio"]) == 2 * len(samples)  # seed and generation of each
    assert all(a["readyState"] >= 1 and a["duration"] > 0 for a in result["audio"])
    page = (out / "index.html").read_text()
    for s in samples:
        assert f'src="{s["wav"]}"' in page and f'src="{s["seed_wav"]}"' in page


@pytest.mark.slow
@pytest.mark.process
def test_smoke_rerun_resumes_and_redoes_nothing(smoke):
    out, data = smoke["out"], smoke["data"]
    histories = sorted((out / "runs").glob("*/history.json"))
    # two seeds of: 8 (Figure 1) + 2 (Figure 2: the two LSTMs at 16, 32 shared) + 4 (depth,
    # 1 layer shared with Figure 2)
    assert len(histories) == 28
    before = {p: p.stat().st_mtime_ns for p in histories}
    again = _run(REPRODUCE, "--profile", "smoke", "--out", out, "--data", data, "--quiet",
                 "--no-browser-check")
    assert again.returncode == 0, again.stderr[-2000:]
    record = json.loads((out / "reproduction.json").read_text())
    assert [s["status"] for s in record["stages"]] == ["done"] + ["already done"] * 5
    assert "already prepared" in again.stdout
    # nothing left to train: the plan times no training step
    assert "memory and time: nothing left to train (every run is finished)" in again.stdout
    assert record["plan"]["measured"] == []
    # one script alone, forced: the figure is redrawn, the finished runs are not retrained
    png = out / "figures" / "fig1_loss_curves.png"
    png_before = png.stat().st_mtime_ns
    alone = _run(ROOT / "experiments" / "fig1_loss_curves.py", "--profile", "smoke", "--out", out,
                 "--data", data, "--quiet", "--force")
    assert alone.returncode == 0, alone.stderr[-2000:]
    assert png.stat().st_mtime_ns != png_before
    assert {p: p.stat().st_mtime_ns for p in histories} == before
    assert json.loads((out / "claims.json").read_text())["profile"] == "smoke"
