"""Dry runs and planning (issue 14): ``--max-epochs``/``--songs`` reach every experiment, the
results say "dry run: not a reproduction" and every claim is inconclusive; the plan's disk,
memory and time figures; the refusal on a short disk (faked free space) and ``--plan``."""

from __future__ import annotations

import contextlib
import io
import json
import sys
from pathlib import Path

import pytest

from gruvsynth import report

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from experiments import (  # noqa: E402
    common,
    depth,
    fig1_loss_curves,
    fig2_hidden_size,
    fig3_spectrograms,
    generation_length,
    planning,
    reproduce,
)

SCRIPTS = (fig1_loss_curves, fig2_hidden_size, fig3_spectrograms, generation_length, depth,
           reproduce)
DRY = {"max_epochs": 1, "songs": 2}
DRY_ARGS = ["--max-epochs", "1", "--songs", "2"]
FIGURE_JSONS = ("figures/fig1_loss_curves.json", "figures/fig2_hidden_size.json",
                "figures/fig3_spectrograms.json", "figures/generated_audio.json",
                "figures/generation_length.json", "figures/depth.json", "samples/samples.json")


def _main(argv, **kwargs):
    """``reproduce.main`` in this process: (status, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = reproduce.main([str(a) for a in argv], **kwargs)
    return status, out.getvalue(), err.getvalue()


# --------------------------------------------------------------------------------------------
# the overrides (fast)


def test_overrides_cap_epochs_and_songs_and_nothing_else():
    paper = common.load_profile("paper")
    assert common.apply_overrides(paper) is paper  # no override: the profile itself
    dry = common.apply_overrides(paper, **DRY)
    assert dry[common.DRY_RUN] == DRY
    for section in common.EPOCH_SECTIONS:
        assert dry[section]["epochs"] == 1 and paper[section]["epochs"] == 2000
    assert dry["corpus"]["songs"] == 2 and paper["corpus"]["songs"] == 20
    # whole songs, fft, hidden 2048, batch 5 and everything else unchanged
    changed = {(s, k) for s in paper for k in paper[s] if dry[s][k] != paper[s][k]}
    assert changed == {(s, "epochs") for s in common.EPOCH_SECTIONS} | {("corpus", "songs")}
    assert common.apply_overrides(paper, max_epochs=5000)["fig1"]["epochs"] == 2000  # a cap
    with pytest.raises(common.ProfileError, match="positive"):
        common.apply_overrides(paper, songs=0)


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda m: m.__name__.rpartition(".")[2])
def test_every_script_takes_the_overrides(script, capsys):
    with pytest.raises(SystemExit) as exit_:
        script.main(["--help"])
    assert exit_.value.code == 0
    text = capsys.readouterr().out
    assert "--max-epochs N" in text and "--songs K" in text


def test_a_dry_run_gets_its_own_folders_and_run_names():
    settings, paths, _ = common.parse("x", ["--profile", "paper", *DRY_ARGS])
    assert settings[common.DRY_RUN] == DRY and settings["fig2"]["epochs"] == 1
    assert paths.out == Path("results/paper-dry-e1-s2") and paths.data == Path("data/paper-s2")
    assert paths.run("wesnoth", "lstm", 2048, 1, 1).name == "wesnoth-lstm-h2048-l1-e1-dry-s2"
    # a replicate's seed, then the dry run's tag
    assert paths.run("wesnoth", "lstm", 2048, 1, 1, 1).name == "wesnoth-lstm-h2048-l1-e1-s1-dry-s2"
    full_settings, full, _ = common.parse("x", ["--profile", "paper"])
    assert common.DRY_RUN not in full_settings
    assert full.run("wesnoth", "lstm", 2048, 1, 1).name == "wesnoth-lstm-h2048-l1-e1"
    assert full.out == Path("results/paper") and full.data == Path("data/paper")
    # a stage stamp of a dry run is never taken for a full run's
    assert (common.Stage(paths, "fig1", common.stage_settings(settings, "fig1")).digest
            != common.Stage(full, "fig1", common.stage_settings(full_settings, "fig1")).digest)


# --------------------------------------------------------------------------------------------
# planning (fast: sizes from the track lengths, nothing measured)


def test_paper_plan_counts_clips_checkpoints_and_disk(tmp_path):
    from gruvsynth.models import param_count

    settings = common.load_profile("paper")
    paths = common.Paths(out=tmp_path / "out", data=tmp_path / "data", runs=tmp_path / "runs")
    runs = common.training_plan(settings)
    plan = planning.make_plan(settings, paths, runs, measure_steps=False)
    corpora = {c["name"]: c for c in plan["corpora"]}
    # from the track lengths with prepare_corpus's rules (prepare reported 494 for wesnoth)
    assert (corpora["wesnoth"]["train_clips"], corpora["wesnoth"]["dev_clips"]) == (397, 97)
    assert (corpora["warzone2100"]["train_clips"],
            corpora["warzone2100"]["dev_clips"]) == (659, 156)
    assert all(c["songs"] == 20 and not c["prepared"] and c["features"] == 22050
               for c in corpora.values())
    # float32 rows (494 clips of 40 blocks, 20 blocks after them) in whole chunks of 40 rows,
    # then the mean and the std
    assert corpora["wesnoth"]["bytes"] == (495 * 40 + 2) * 22050 * 4
    lstm = next(r for r in plan["runs"] if r["name"] == "wesnoth-lstm-h2048-l1-e2000")
    assert lstm["params"] == param_count(cell="lstm", hidden=2048, features=22050) == 123903522
    assert lstm["checkpoint_bytes"] == 8 * 123903522 + planning.CHECKPOINT_OVERHEAD  # ~1 GB
    assert lstm["kept"] == 1 and lstm["steps_per_epoch"] == 80 and lstm["dev_batches"] == 20
    assert plan["hard_links"] is True and lstm["final_bytes"] == 0  # model.keras: a hard link
    assert lstm["best_bytes"] == lstm["checkpoint_bytes"]  # checkpoints/best.keras
    assert lstm["disk_bytes"] == 2 * lstm["checkpoint_bytes"]
    assert lstm["transient_bytes"] == lstm["checkpoint_bytes"]  # the next one beside the kept
    assert len(plan["runs"]) == 48
    (disk,) = plan["disk"]  # one file system here
    assert disk["need_bytes"] == (sum(c["bytes"] for c in corpora.values())
                                  + sum(r["disk_bytes"] for r in plan["runs"])
                                  + max(r["transient_bytes"] for r in plan["runs"])
                                  + plan["samples_bytes"])
    assert planning.check_disk(plan, disk_free=lambda path: disk["need_bytes"]) is None
    short = planning.check_disk(plan, disk_free=lambda path: 10 * 2**30)
    assert short.startswith("the disk is short: ") and "10.0 GiB free" in short
    assert "\n" not in short and planning.human_bytes(disk["need_bytes"]) in short


def test_plan_prints_and_stops_without_writing(tmp_path):
    args = ["--profile", "smoke", "--plan", "--no-measure", "--out", tmp_path / "out",
            "--data", tmp_path / "data"]
    status, out, err = _main(args, disk_free=lambda path: 2**40)
    assert status == 0 and not err
    assert "plan, from the sizes of the runs about to be made:" in out
    assert "corpus wesnoth: 3 songs" in out and "1.0 TiB free" in out
    runs = len(common.training_plan(common.load_profile("smoke")))
    assert sum(line.startswith("    run ") for line in out.splitlines()) == runs
    assert not (tmp_path / "out").exists() and not (tmp_path / "data").exists()
    # a short disk: the plan says what would be refused, and still only prints
    status, out, err = _main(args, disk_free=lambda path: 1000)
    assert status == 0 and "1000 B free" in out
    assert err.startswith("reproduce: would refuse: the disk is short: ") and "1000 B free" in err
    assert not (tmp_path / "out").exists()


def test_a_short_disk_refuses_to_start_in_one_line(tmp_path):
    args = ["--profile", "smoke", "--no-measure", "--out", tmp_path / "out", "--data",
            tmp_path / "data"]
    status, out, err = _main(args, disk_free=lambda path: 1000)
    assert status == 1
    (line,) = err.strip().splitlines()
    assert line.startswith("reproduce: refused: the disk is short: ")
    assert "needed on" in line and "1000 B free" in line and "--force" in line
    assert not (tmp_path / "out").exists() and not (tmp_path / "data").exists()


# --------------------------------------------------------------------------------------------
# a dry run of a profile file of one's own: the smoke profile cut to one cell family, one seed
# and the fewest sizes that still give every stage something to do (6 runs instead of 28,
# about a minute on 2 cores; tests/test_reproduce_smoke.py runs the whole smoke profile)

MINI = {"fig1": {"cells": ["keras01_lstm", "keras01_gru"], "seeds": 1},
        "fig2": {"cells": ["keras01_lstm"], "hidden": [16, 32], "seeds": 1},
        "generation_length": {"cells": ["keras01_lstm"], "seed_blocks": [5], "times": [1, 2],
                              "n_seeds": 1},
        "depth": {"cells": ["keras01_lstm"], "layers": [1, 2], "seeds": 1}}


def _toml(settings: dict) -> str:
    """A profile as TOML text (tables of strings, numbers, booleans and lists of them)."""
    def value(v):
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, list):
            return "[" + ", ".join(value(x) for x in v) + "]"
        return json.dumps(v) if isinstance(v, str) else repr(v)

    return "".join(f"[{section}]\n" + "".join(f"{k} = {value(v)}\n" for k, v in table.items())
                   for section, table in settings.items())


def mini_profile(folder: Path) -> Path:
    """``folder/mini.toml``: the smoke profile with :data:`MINI`'s changes."""
    settings = common.load_profile("smoke")
    del settings["profile"]["name"]
    for section, changes in MINI.items():
        settings[section].update(changes)
    path = folder / "mini.toml"
    path.write_text(_toml(settings), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def dry(tmp_path_factory):
    base = tmp_path_factory.mktemp("dry")
    profile = mini_profile(base)
    args = ["--profile", profile, *DRY_ARGS, "--out", base / "out", "--data", base / "data",
            "--quiet", "--no-browser-check", "--force"]
    status, out, err = _main(args, disk_free=lambda path: 1000)  # --force: starts anyway
    assert status == 0, out[-3000:] + err[-3000:]
    settings = common.apply_overrides(common.load_profile(str(profile)), **DRY)
    return {"out": base / "out", "data": base / "data", "log": out, "err": err, "args": args,
            "settings": settings}


def test_a_profile_file_of_ones_own_loads_and_is_checked(tmp_path):
    path = mini_profile(tmp_path)
    settings = common.load_profile(str(path))
    assert settings["profile"]["name"] == "mini" and settings["fig1"]["seeds"] == 1
    assert len(common.training_plan(settings)) == 6
    _, paths, _ = common.parse("x", ["--profile", str(path)])
    assert paths.out == Path("results/mini") and paths.data == Path("data/mini")
    bad = tmp_path / "bad.toml"
    bad.write_text("[profile]\ndescription = 'x'\nestimate = 'y'\n", encoding="utf-8")
    with pytest.raises(common.ProfileError, match=r"bad.toml: missing section \[corpus\]"):
        common.load_profile(str(bad))
    bad.write_text("[profile\n", encoding="utf-8")
    with pytest.raises(common.ProfileError, match="bad.toml: not a valid TOML file"):
        common.load_profile(str(bad))
    with pytest.raises(common.ProfileError, match="none.toml: no such profile file"):
        common.load_profile(str(tmp_path / "none.toml"))
    status, out, err = _main(["--profile", tmp_path / "none.toml", "--plan"])
    assert status == 2 and err.strip().endswith("none.toml: no such profile file")
    with pytest.raises(SystemExit):
        common.parse("x", ["--profile", "nonsense"])


@pytest.mark.slow
def test_dry_run_overrides_reach_every_experiment(dry):
    out = dry["out"]
    assert "--force: starting although the disk is short" in dry["log"]
    runs = sorted((out / "runs").iterdir())
    planned = common.training_plan(dry["settings"])
    assert len(runs) == len(planned) == 6
    assert all(r.name.endswith("-e1-dry-s2") for r in runs)
    for run in runs:
        history = json.loads((run / "history.json").read_text())
        assert [h["epoch"] for h in history] == [1], run.name
        assert (run / "model.keras").is_file()
    for name in ("wesnoth", "warzone2100"):
        manifest = json.loads((dry["data"] / "mini-s2" / name / "manifest.json").read_text())
        assert manifest["counts"]["songs"] == 2
        assert manifest["parameters"]["max_seconds"] == 25  # the rest of the profile as it was
    for name in FIGURE_JSONS:
        data = json.loads((out / name).read_text())
        assert data[report.DRY_RUN] == DRY, name
        for r in data.get("runs", []):
            assert r["epochs"] == 1 and r["run"].endswith("-dry-s2")
    record = json.loads((out / report.REPRODUCTION_JSON).read_text())
    assert record[report.DRY_RUN] == DRY and len(record["plan"]["runs"]) == len(planned)
    assert all(s["peak_rss_bytes"] > 0 for s in record["stages"])
    assert record["report_stage"]["peak_rss_bytes"] > 0
    # the plan before the first run: measured on this device
    log = dry["log"]
    assert log.index("measured here") < log.index("=== [1/7] corpora")
    assert "peak memory per run: up to" in log and "of training at the measured step" in log
    measured = record["plan"]["measured"]
    assert measured and all(m["step_seconds"] > 0 and m["rss_bytes"] > 0 for m in measured)


@pytest.mark.slow
def test_dry_run_results_say_so_and_every_claim_is_inconclusive(dry):
    out = dry["out"]

    def check():
        claims = json.loads((out / report.CLAIMS_JSON).read_text())
        assert claims[report.DRY_RUN] == DRY
        assert len(claims["claims"]) == 7 and not claims["findings"]  # one family, 7 claims
        assert {c["family"] for c in claims["claims"]} == {"authors"}
        for c in claims["claims"]:
            assert c["verdict"] == report.INCONCLUSIVE, c["id"]
            assert c["reason"].startswith(report.DRY_RUN_BANNER)
            assert "--max-epochs 1 --songs 2" in c["reason"]
            assert c["rule_verdict"] in report.VERDICTS
        md = (out / report.CLAIMS_MD).read_text()
        assert md.startswith("# DRY RUN: NOT A REPRODUCTION\n")
        page = (out / report.PAGE).read_text()
        assert '<p class="dry-run" id="dry-run">dry run: not a reproduction</p>' in page
        assert page.index('class="dry-run"') < page.index("<h1>")
        assert "<title>DRY RUN: NOT A REPRODUCTION" in page

    check()
    # `gruvsynth report` recomputing later still knows: from reproduction.json ...
    for name in (report.CLAIMS_MD, report.CLAIMS_JSON, report.PAGE):
        (out / name).unlink()
    report.build_report(out)
    check()
    # ... and from the figure files alone
    record = out / report.REPRODUCTION_JSON
    saved = record.read_text()
    record.unlink()
    try:
        report.build_report(out)
        check()
    finally:
        record.write_text(saved)


@pytest.mark.slow
def test_plan_after_the_dry_run_reads_the_prepared_corpora(dry, tmp_path):
    status, out, err = _main([*dry["args"], "--plan", "--no-measure"],
                             disk_free=lambda path: 2**40)
    assert status == 0 and not err
    settings = dry["settings"]
    assert "6 (6 finished, 0 to resume)" in out
    prepared = common.Paths(out=dry["out"], data=dry["data"] / "mini-s2",
                            runs=dry["out"] / "runs", tag="dry-s2")
    plan = planning.make_plan(settings, prepared, common.training_plan(settings),
                              measure_steps=False)
    assert all(c["prepared"] for c in plan["corpora"])
    assert all(r["state"] == "finished" and r["need_bytes"] == 0 for r in plan["runs"])
    for r in plan["runs"]:  # the checkpoint size the plan predicts is the one written
        written = sorted((dry["out"] / "runs" / r["name"] / "checkpoints").glob("*.keras"))
        assert r["kept"] == 1 and r["best_bytes"] == r["checkpoint_bytes"]
        assert len(written) == 2 and (written[0].name, written[1].name) == (
            "best.keras", "epoch-000001.keras")
        assert abs(written[0].stat().st_size - r["checkpoint_bytes"]) < planning.CHECKPOINT_OVERHEAD
    # the estimate from the track lengths gives the clips the corpora really have
    empty = common.Paths(out=tmp_path, data=tmp_path / "none", runs=tmp_path / "runs")
    estimated = planning.corpus_sizes(settings, empty)
    for est, real in zip(estimated, plan["corpora"], strict=True):
        assert not est["prepared"]
        assert (est["songs"], est["train_clips"], est["dev_clips"]) == (
            real["songs"], real["train_clips"], real["dev_clips"])
        assert abs(est["bytes"] - real["bytes"]) < 0.02 * real["bytes"]


# --------------------------------------------------------------------------------------------
# runs in processes of their own (the paper profile on a CPU)


@pytest.mark.process
def test_a_run_trains_in_its_own_process_and_its_errors_come_back(tiny_corpora, tmp_path):
    from gruvsynth.errors import GruvError
    from gruvsynth.training import TrainConfig

    assert common.load_profile("paper")["profile"]["isolate_runs"] is True
    assert not common.isolated(common.load_profile("smoke"))
    corpus = tiny_corpora["mini"]
    config = TrainConfig(hidden=4, epochs=2, batch_size=5, checkpoint_every=1)
    run = common.train_isolated(corpus, tmp_path / "run", config=config, progress=False)
    assert run.finished and [h["epoch"] for h in run.history] == [1, 2]
    with pytest.raises(GruvError, match="different configuration|hidden"):
        common.train_isolated(corpus, tmp_path / "run", config=config.replace(hidden=8),
                              progress=False)
