"""gruvsynth.report: each claim's verdict rule on constructed data (a case that must say
reproduced and one that must not), the claims files, the page and its browser check."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from gruvsynth import plots, report
from gruvsynth.audio import save as save_wav
from gruvsynth.commands import report as report_command
from gruvsynth.report import INCONCLUSIVE, NOT_REPRODUCED, REPRODUCED

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def curve(train, dev):
    """A history from lists of train and dev losses."""
    return [{"epoch": i + 1, "loss": t, "dev_loss": d} for i, (t, d) in
            enumerate(zip(train, dev, strict=True))]


def flat(n, train, dev):
    return curve([train] * n, [dev] * n)


def overfitting(n, best_epoch, low, high, train=1.0):
    """Dev loss falling to `low` at `best_epoch`, then rising linearly to `high`."""
    dev = [low + (high - low) * (best_epoch - e) / best_epoch if e <= best_epoch
           else low + (high - low) * (e - best_epoch) / (n - best_epoch) for e in range(1, n + 1)]
    dev[best_epoch - 1] = low
    return curve([train] * n, dev)


# --------------------------------------------------------------------------------------------
# helpers of the rules


def test_final_value_is_the_mean_of_the_last_tenth_of_evaluated_epochs():
    h = curve(list(range(20, 0, -1)), [None] * 10 + list(range(10, 0, -1)))
    assert report.final_value(h, "loss") == pytest.approx(1.5)  # last 2 of 20
    assert report.final_value(h, "dev_loss") == pytest.approx(1.0)  # last 1 of 10 evaluated
    assert report.final_value(curve([1.0], [float("nan")]), "dev_loss") is None


def test_overfit_epoch_needs_the_dev_loss_to_rise():
    assert report.overfit_epoch(curve([1] * 5, [3, 2, 1, 1.5, 2])) == 3
    assert report.overfit_epoch(curve([1] * 5, [5, 4, 3, 2, 1])) is None
    # a rise of 1% is below the 2% threshold
    assert report.overfit_epoch(curve([1] * 3, [2.0, 1.0, 1.01])) is None


def test_tally():
    t, f, n = {"passed": True}, {"passed": False}, {"passed": None}
    assert report.tally([t, t]) == REPRODUCED
    assert report.tally([t, f]) == NOT_REPRODUCED  # half fail
    assert report.tally([t, t, f]) == INCONCLUSIVE
    assert report.tally([t, n]) == INCONCLUSIVE
    assert report.tally([]) == INCONCLUSIVE


# --------------------------------------------------------------------------------------------
# the seven rules


def check_row(row, cid):
    assert row["id"] == cid
    assert row["verdict"] in report.VERDICTS
    assert row["rule"] and row["claim"] and row["paper"] and row["figures"]
    assert row["checks"]
    json.dumps(row, allow_nan=False)


def test_c1_lstm_slightly_lower_on_both_corpora():
    good = {c: {"lstm": flat(10, 0.9, 1.8), "gru": flat(10, 1.0, 2.0)}
            for c in ("wesnoth", "warzone2100")}
    row = report.verdict_c1(good)
    check_row(row, "C1")
    assert row["verdict"] == REPRODUCED
    assert row["measured"]["wesnoth dev loss LSTM"] == pytest.approx(1.8)
    bad = {c: {"lstm": flat(10, 1.1, 2.2), "gru": flat(10, 1.0, 2.0)}
           for c in ("wesnoth", "warzone2100")}
    assert report.verdict_c1(bad)["verdict"] == NOT_REPRODUCED
    # far lower is not "slightly" lower: undecided, so inconclusive
    far = {c: {"lstm": flat(10, 0.1, 0.2), "gru": flat(10, 1.0, 2.0)} for c in ("wesnoth",)}
    assert report.verdict_c1(far)["verdict"] == INCONCLUSIVE
    assert report.verdict_c1({})["verdict"] == INCONCLUSIVE


def test_c2_varied_corpus_higher_and_overfits_sooner():
    good = {"wesnoth": {c: overfitting(20, 5, 3.0, 5.0) for c in ("lstm", "gru")},
            "warzone2100": {c: overfitting(20, 15, 1.0, 1.5) for c in ("lstm", "gru")}}
    row = report.verdict_c2(good)
    check_row(row, "C2")
    assert row["verdict"] == REPRODUCED
    assert row["measured"]["lstm overfit epoch wesnoth"] == 5
    bad = {"wesnoth": {c: flat(20, 1.0, 1.0) for c in ("lstm", "gru")},
           "warzone2100": {c: overfitting(20, 5, 2.0, 4.0) for c in ("lstm", "gru")}}
    assert report.verdict_c2(bad)["verdict"] == NOT_REPRODUCED


def test_c3_larger_hidden_lower_dev_loss():
    good = {"warzone2100 lstm": {128: 1.0, 512: 0.8, 2048: 0.5},
            "warzone2100 gru": {128: 1.1, 512: 0.9, 2048: 0.6}}
    row = report.verdict_c3(good)
    check_row(row, "C3")
    assert row["verdict"] == REPRODUCED
    assert row["measured"]["warzone2100 lstm spearman"] == pytest.approx(-1.0)
    bad = {"warzone2100 lstm": {128: 0.5, 512: 0.8, 2048: 1.0},
           "warzone2100 gru": {128: 0.5, 512: 0.9, 2048: 0.7}}
    assert report.verdict_c3(bad)["verdict"] == NOT_REPRODUCED
    assert report.verdict_c3({"x lstm": {128: 1.0, 256: 0.5}})["verdict"] == INCONCLUSIVE


def calibration(music=0.3, corpus_noise=0.012, white_noise=0.003, chord=1.7):
    """A corpus's noise calibration from anchors' scores, as gruvsynth.noise computes it."""
    from gruvsynth.noise import calibration_from_scores

    return calibration_from_scores({"music": [music], "corpus_noise": [corpus_noise],
                                    "white_noise": [white_noise], "chord": [chord]})


def c4_cell(noise_like, shape_db):
    return {"noise_like_samples": noise_like, "shape_distance_db": shape_db}


def test_c4_gru_noise_like_lstm_not_on_the_calibrated_scale():
    cal = calibration()
    assert cal["threshold"] == pytest.approx((0.3 * 0.012) ** 0.5) and cal["separated"]
    good = {c: {"calibration": cal, "lstm": c4_cell([False, False, True], 5.0),
                "gru": c4_cell([True, True, None], 20.0)} for c in ("wesnoth", "warzone2100")}
    row = report.verdict_c4(good)
    check_row(row, "C4")
    assert row["verdict"] == REPRODUCED, row["checks"]
    assert row["measured"]["wesnoth noise-like threshold"] == pytest.approx(cal["threshold"])
    assert row["measured"]["wesnoth noise-like share GRU"] == pytest.approx(1.0)  # None: unjudged
    assert row["measured"]["wesnoth margin music"] == pytest.approx(5.0)
    # the anchors, threshold and margins are in the rule text
    assert "wesnoth: dev music 0.3, corpus-shaped noise 0.012" in row["rule"]
    assert "threshold 0.06" in row["rule"] and "×5 music" in row["rule"]
    # the other way round: the GRU's are not noise-like, the LSTM's are, and nearer the music
    bad = {c: {"calibration": cal, "lstm": c4_cell([True, True], 20.0),
               "gru": c4_cell([False, False], 5.0)} for c in ("wesnoth", "warzone2100")}
    assert report.verdict_c4(bad)["verdict"] == NOT_REPRODUCED
    # without per-sample verdicts, the share of noise-like samples (the means) is used
    shares = {"wesnoth": {"calibration": cal, "lstm": {"noise_like": 0.0, "shape_distance_db": 1},
                          "gru": {"noise_like": 1.0, "shape_distance_db": 9}}}
    assert report.verdict_c4(shares)["verdict"] == REPRODUCED


def test_c4_is_not_judged_without_a_separating_calibration_or_judged_samples():
    cells = {"lstm": c4_cell([False], 5.0), "gru": c4_cell([True], 20.0)}
    # the chord scored like noise: the calibration failed, checks 1-2 undecided
    broken = calibration(chord=0.01)
    assert not broken["separated"]
    row = report.verdict_c4({"wesnoth": {"calibration": broken, **cells}})
    assert row["verdict"] == INCONCLUSIVE
    assert [c["passed"] for c in row["checks"]] == [None, None, True]
    assert "NOT separated" in row["rule"] and "not judged" in row["checks"][0]["check"]
    # every sample too quiet: nothing judged
    quiet = {"lstm": c4_cell([None, None], 5.0), "gru": c4_cell([None], 20.0)}
    row = report.verdict_c4({"wesnoth": {"calibration": calibration(), **quiet}})
    assert [c["passed"] for c in row["checks"]] == [None, None, True]
    # a tie (half of the samples) is undecided
    tie = {"lstm": c4_cell([True, False], 5.0), "gru": c4_cell([True, False], 20.0)}
    row = report.verdict_c4({"wesnoth": {"calibration": calibration(), **tie}})
    assert row["verdict"] == INCONCLUSIVE
    assert report.verdict_c4({})["verdict"] == INCONCLUSIVE


def test_white_noise_flatness_is_near_one():
    assert 0.9 < report.white_noise_flatness() <= 1.0


def test_c5_gru_more_energy_outside_band():
    good = {c: {"truth": 0.7, "lstm": 0.6, "gru": 0.9} for c in ("wesnoth", "warzone2100")}
    row = report.verdict_c5(good)
    check_row(row, "C5")
    assert row["verdict"] == REPRODUCED
    bad = {c: {"truth": 0.7, "lstm": 0.8, "gru": 0.5} for c in ("wesnoth", "warzone2100")}
    assert report.verdict_c5(bad)["verdict"] == NOT_REPRODUCED
    tie = {"wesnoth": {"lstm": 0.8, "gru": 0.805}}
    assert report.verdict_c5(tie)["verdict"] == INCONCLUSIVE


def gen_rows(cell, looped_at):
    """Rows for 2 corpora x 2 seed sizes x 2 samples; looped_at(times) -> bool."""
    return [{"corpus": c, "cell": cell, "seed_blocks": s, "sample": k, "times": t,
             "looped": looped_at(t)}
            for c in ("wesnoth", "warzone2100") for s in (10, 20) for k in (1, 2)
            for t in (1.0, 2.0, 3.0, 4.0, 6.0)]


def test_c6_loop_free_up_to_3x_loops_beyond():
    rows = gen_rows("lstm", lambda t: t > 3) + gen_rows("gru", lambda t: True)
    row = report.verdict_c6(rows)
    check_row(row, "C6")
    assert row["verdict"] == REPRODUCED  # the GRU's rows are not judged
    assert row["measured"]["wesnoth looped share at 3x"] == 0.0
    assert row["measured"]["wesnoth looped share at 6x"] == 1.0
    assert report.verdict_c6(gen_rows("lstm", lambda t: t >= 2))["verdict"] == NOT_REPRODUCED
    assert report.verdict_c6(gen_rows("lstm", lambda t: False))["verdict"] == NOT_REPRODUCED
    short_only = [r for r in gen_rows("lstm", lambda t: False) if r["times"] <= 3]
    assert report.verdict_c6(short_only)["verdict"] == INCONCLUSIVE


def test_c6_judges_training_seeds_and_reports_dev_seeds_beside():
    judged = gen_rows("lstm", lambda t: t > 3)
    dev = [{**r, "protocol": "dev"} for r in gen_rows("lstm", lambda t: True)]
    row = report.verdict_c6(judged + dev)
    assert row["verdict"] == REPRODUCED  # the dev-seeded rows, all looped, are not judged
    assert row["measured"]["wesnoth looped share at 3x"] == 0.0
    assert row["measured"]["wesnoth looped share at 3x, dev seeds (reported, not judged)"] == 1.0
    assert "dev windows are reported, not judged" in row["rule"]
    only_dev = report.verdict_c6(dev)
    assert only_dev["verdict"] == INCONCLUSIVE


def test_c7_more_layers_harder_to_train():
    good = {"warzone2100 lstm": {1: flat(10, 1.0, 2.0), 2: flat(10, 1.2, 2.0),
                                 3: flat(10, 1.5, 2.0)}}
    row = report.verdict_c7(good)
    check_row(row, "C7")
    assert row["verdict"] == REPRODUCED
    bad = {"warzone2100 lstm": {1: flat(10, 1.0, 2.0), 3: flat(10, 0.5, 2.0)}}
    assert report.verdict_c7(bad)["verdict"] == NOT_REPRODUCED
    assert report.verdict_c7({"x": {1: flat(3, 1.0, 1.0)}})["verdict"] == INCONCLUSIVE


# --------------------------------------------------------------------------------------------
# files


def test_write_json_and_csv(tmp_path):
    p = report.write_json(tmp_path / "a" / "x.json",
                          {"nan": float("nan"), "n": np.int64(3), "arr": np.arange(2.0)})
    assert json.loads(p.read_text()) == {"nan": None, "n": 3, "arr": [0.0, 1.0]}
    assert p.stat().st_mode & 0o044  # readable by others, like any file (not mkstemp's 0600)
    c = report.write_csv(tmp_path / "x.csv", [{"a": 1, "b": float("nan")}, {"a": 0.5}],
                         ("a", "b"))
    assert c.read_text() == "a,b\n1,\n0.5,\n"
    assert sorted(q.name for q in tmp_path.iterdir()) == ["a", "x.csv"]


def make_results(out, *, rng):
    """A results folder with every data file, small figures and samples (claims reproduced)."""
    fig_dir = out / report.FIGURES_DIR
    runs = [{"corpus": c, "cell": cell, "hidden": 32, "layers": 1, "epochs": 20, "run": "runs/x",
             "history": overfitting(20, b, low * k, low * k * 1.5)}
            for c, b, low in (("wesnoth", 5, 3.0), ("warzone2100", 15, 1.0))
            for cell, k in (("lstm", 0.95), ("gru", 1.0))]
    for r in runs:
        for h in r["history"]:
            h["loss"] = 1.0 if r["cell"] == "gru" else 0.95
    report.write_json(fig_dir / f"{report.FIG1}.json", {"runs": runs})
    report.write_json(fig_dir / f"{report.FIG2}.json", {"runs": [
        {"corpus": "warzone2100", "cell": cell, "hidden": h, "layers": 1, "epochs": 5,
         "run": "runs/y", "history": flat(5, 1.0, 2.0 / h)}
        for cell in ("lstm", "gru") for h in (8, 16, 32)]})
    report.write_json(fig_dir / f"{report.FIG3}.json", {"band_hz": [4000, 7000], "corpora": {
        c: {"truth": {"outside_band": 0.7},
            "cells": {"lstm": {"outside_band": 0.6}, "gru": {"outside_band": 0.9}}}
        for c in ("wesnoth", "warzone2100")}})
    report.write_json(fig_dir / f"{report.GENERATION_LENGTH}.json",
                      {"rows": gen_rows("lstm", lambda t: t > 3)})
    report.write_json(fig_dir / f"{report.DEPTH}.json", {"runs": [
        {"corpus": "warzone2100", "cell": "lstm", "hidden": 16, "layers": n, "epochs": 5,
         "run": "runs/z", "history": flat(5, 1.0 + 0.2 * n, 2.0)} for n in (1, 2, 3)]})
    samples = []
    for c in ("wesnoth", "warzone2100"):
        for cell in ("lstm", "gru"):
            wav, seed = f"samples/{c}-{cell}.wav", f"samples/{c}-{cell}.seed.wav"
            save_wav(out / wav, (0.1 * rng.standard_normal(4410)).astype(np.float32))
            save_wav(out / seed, (0.1 * np.sin(np.arange(4410) * 0.1)).astype(np.float32))
            samples.append({"corpus": c, "cell": cell, "hidden": 32, "wav": wav,
                            "seed_wav": seed, "seed": {"source": "dev", "song": "s.ogg",
                                                       "start_block": 3, "blocks": 20},
                            "metrics": {"spectral_flatness": 0.9 if cell == "gru" else 0.2,
                                        "noise_distance": 0.005 if cell == "gru" else 0.4,
                                        "noise_like": cell == "gru",
                                        "noise_verdict": ("noise-like" if cell == "gru"
                                                          else "not noise-like"),
                                        "loop": {"loop_free_times": 3.0}}})
    report.write_json(out / report.SAMPLES_DIR / report.SAMPLES_JSON, {
        "settings": {"seed_blocks": 20, "times": 3, "method": "stateful"},
        "dev_audio": {c: {"spectral_flatness": 0.1} for c in ("wesnoth", "warzone2100")},
        "calibration": {c: calibration() for c in ("wesnoth", "warzone2100")},
        "means": {c: {"lstm": {"spectral_flatness": 0.2, "shape_distance_db": 10.0,
                               "noise_like": 0.0},
                      "gru": {"spectral_flatness": 0.9, "shape_distance_db": 30.0,
                              "noise_like": 1.0}}
                  for c in ("wesnoth", "warzone2100")},
        "samples": samples})
    for stem in (report.FIG1, report.FIG2, f"{report.FIG3}_wesnoth", report.DEPTH):
        fig, ax = plots.new_figure(width=2, height=1.5)
        plots.plot_hidden_sizes([1, 2, 4], [3, 2, 1], ax=ax)
        plots.save_figure(fig, fig_dir / stem)
    return out


def test_build_report_on_constructed_results(tmp_path, rng):
    out = make_results(tmp_path / "results", rng=rng)
    built = report.build_report(out)
    data = json.loads((out / report.CLAIMS_JSON).read_text())
    assert [c["id"] for c in data["claims"]] == list(report.CLAIM_IDS)
    assert all(c["verdict"] == REPRODUCED for c in data["claims"]), \
        [(c["id"], c["verdict"], c["checks"]) for c in data["claims"] if c["verdict"] != REPRODUCED]
    md = (out / report.CLAIMS_MD).read_text()
    for cid in report.CLAIM_IDS:
        assert f"**{cid}**" in md
    page = built["page"].read_text()
    assert '<img src="figures/fig1_loss_curves.png"' in page
    assert 'src="samples/wesnoth-gru.wav"' in page and 'src="samples/wesnoth-gru.seed.wav"' in page
    assert page.count("<audio") == 8
    assert "http://" not in page and "https://" not in page and "<script" not in page
    # the verdicts are computed: change the data and the verdict follows
    fig3 = out / report.FIGURES_DIR / f"{report.FIG3}.json"
    d = json.loads(fig3.read_text())
    for entry in d["corpora"].values():
        entry["cells"]["gru"]["outside_band"] = 0.1
    fig3.write_text(json.dumps(d))
    again = report.build_report(out)["claims"]
    assert again[4]["id"] == "C5" and again[4]["verdict"] == NOT_REPRODUCED


def test_build_report_refuses_a_missing_folder(tmp_path):
    with pytest.raises(report.GruvError, match="no such results folder"):
        report.build_report(tmp_path / "nope")


def test_an_empty_results_folder_is_refused_not_seven_silent_claims(tmp_path, capsys):
    with pytest.raises(report.GruvError, match="no results data found"):
        report.build_report(tmp_path)
    assert list(tmp_path.iterdir()) == []
    assert report_command.main([str(tmp_path)]) == 1
    err = capsys.readouterr().err.strip()
    assert "no results data found" in err and "\n" not in err
    # with some data (here only the run's record) the claims without data are inconclusive
    report.write_json(tmp_path / report.REPRODUCTION_JSON, {"profile": "x"})
    built = report.build_report(tmp_path)
    claims = built["claims"]
    assert [c["verdict"] for c in claims] == [INCONCLUSIVE] * 7 * len(report.DEFAULT_FAMILIES)
    for family in report.DEFAULT_FAMILIES:
        assert [c["id"] for c in claims if c["family"] == family] == list(report.CLAIM_IDS)


# --------------------------------------------------------------------------------------------
# the baselines gate and the cell families

BASELINES = {c: {"train": {"mean": 1.0, "persistence": 2.1, "linear": 0.997},
                 "dev": {"mean": m, "persistence": 2.2, "linear": m * 0.999}}
             for c, m in (("wesnoth", 0.6), ("warzone2100", 1.04))}


def fig1_histories(lstm_train, gru_train):
    return {c: {"lstm": flat(10, lstm_train, 0.9 * dev), "gru": flat(10, gru_train, dev)}
            for c, dev in (("wesnoth", 1.0), ("warzone2100", 1.0))}


def test_gate_makes_loss_claims_inconclusive_when_the_models_did_not_learn():
    """Models at the mean predictor's level (training loss 0.96 and 0.97, skill < 10%)."""
    stuck = fig1_histories(0.96, 0.97)
    assert report.verdict_c1(stuck)["verdict"] == REPRODUCED  # ungated, the rule would pass
    row = report.verdict_c1(stuck, baselines=BASELINES)
    assert row["verdict"] == INCONCLUSIVE and row["reason"] == report.DID_NOT_LEARN
    assert [g["passed"] for g in row["gates"]] == [False, False]
    assert all(c["passed"] is None and "not judged" in c["check"] for c in row["checks"])
    assert "Gate:" in row["rule"] and f"{report.LEARN_MARGIN:.0%}" in row["rule"]
    learned = report.verdict_c1(fig1_histories(0.5, 0.6), baselines=BASELINES)
    assert learned["verdict"] == REPRODUCED and "reason" not in learned
    assert all(g["passed"] for g in learned["gates"])
    # the GRU failed to learn on one corpus only: its checks are undecided, the rest judged
    mixed = fig1_histories(0.5, 0.6)
    mixed["wesnoth"]["gru"] = flat(10, 0.99, 1.0)
    row = report.verdict_c1(mixed, baselines=BASELINES)
    assert row["verdict"] == INCONCLUSIVE and "reason" not in row
    assert [c["passed"] for c in row["checks"]] == [True, True, None, None]  # sorted corpora


def test_gate_on_c3_and_c7():
    good = {f"warzone2100 {cell}": {h: flat(5, 1.0 - 0.1 * i, 2.0 / h)
                                    for i, h in enumerate((8, 16, 32))} for cell in ("lstm",)}
    series = {k: {h: report.final_value(v, "dev_loss") for h, v in hs.items()}
              for k, hs in good.items()}
    row = report.verdict_c3(series, train_series=good, baselines=BASELINES)
    assert row["verdict"] == REPRODUCED  # the largest size (loss 0.8) learned
    stuck = {k: {h: flat(5, 0.99, 2.0 / h) for h in hs} for k, hs in good.items()}
    row = report.verdict_c3(series, train_series=stuck, baselines=BASELINES)
    assert row["verdict"] == INCONCLUSIVE and row["reason"] == report.DID_NOT_LEARN
    deep = {"warzone2100 lstm": {n: flat(5, 0.5 + 0.2 * n, 2.0) for n in (1, 2, 3)}}
    assert report.verdict_c7(deep, baselines=BASELINES)["verdict"] == REPRODUCED
    shallow_stuck = {"warzone2100 lstm": {n: flat(5, 0.95 + 0.2 * n, 2.0) for n in (1, 2)}}
    row = report.verdict_c7(shallow_stuck, baselines=BASELINES)
    assert row["verdict"] == INCONCLUSIVE and row["reason"] == report.DID_NOT_LEARN


def test_c2_compares_dev_losses_relative_to_each_corpus_mean_predictor():
    """Raw dev loss wesnoth 0.65 < warzone2100 1.0, but relative 0.65 / 0.6 > 1.0 / 1.04."""
    h = {"wesnoth": {"lstm": overfitting(20, 5, 0.65, 0.7, train=0.5)},
         "warzone2100": {"lstm": overfitting(20, 15, 1.0, 1.05, train=0.5)}}
    raw = report.verdict_c2(h)
    assert raw["checks"][0]["passed"] is False
    rel = report.verdict_c2(h, baselines=BASELINES)
    assert rel["checks"][0]["passed"] is True and rel["verdict"] == REPRODUCED
    assert "mean-predictor" in rel["rule"]
    assert rel["measured"]["lstm final dev loss / mean predictor wesnoth"] == pytest.approx(
        report.final_value(h["wesnoth"]["lstm"], "dev_loss") / 0.6)


def test_claims_are_judged_per_cell_family(tmp_path, rng):
    """The authors' cells and today's cells get their own rows; a disagreement is a finding."""
    out = make_results(tmp_path / "results", rng=rng)
    fig1 = out / report.FIGURES_DIR / f"{report.FIG1}.json"
    runs = json.loads(fig1.read_text())["runs"]
    authors = [{**r, "cell": f"keras01_{r['cell']}", "history": [dict(h) for h in r["history"]]}
               for r in runs]
    for r in authors:  # the authors' GRU is the better one here: C1 fails for that family
        for h in r["history"]:
            h["loss"] = 0.9 if r["cell"] == "keras01_gru" else 0.95
            h["dev_loss"] = h["dev_loss"] * (0.9 if r["cell"] == "keras01_gru" else 1.0)
    report.write_json(fig1, {"runs": runs + authors})
    report.write_json(out / report.BASELINES_JSON, {"corpora": {
        c: {"train": {"mean": 2.0, "persistence": 4.0, "linear": 2.0},
            "dev": {"mean": 2.0, "persistence": 4.0, "linear": 2.0}}
        for c in ("wesnoth", "warzone2100")}})
    built = report.build_report(out)
    c1 = {c["family"]: c for c in built["claims"] if c["id"] == "C1"}
    assert set(c1) == {"authors", "keras3"}
    assert c1["keras3"]["verdict"] == REPRODUCED
    assert c1["authors"]["verdict"] == NOT_REPRODUCED
    assert c1["authors"]["family_label"] == "authors' cells (Keras 0.1)"
    data = json.loads((out / report.CLAIMS_JSON).read_text())
    assert data["baselines"]["wesnoth"]["train"]["mean"] == 2.0
    assert any(f.startswith("C1 is") for f in data["findings"])
    md = (out / report.CLAIMS_MD).read_text()
    assert "## Findings" in md and "| mean predictor |" in md
    page = built["page"].read_text()
    assert "authors&#x27; cells (Keras 0.1)" in page and 'id="baselines"' in page


def test_report_on_a_file_says_so(tmp_path, capsys):
    (tmp_path / "claims.md").write_text("x")
    assert report_command.main([str(tmp_path / "claims.md")]) == 1
    err = capsys.readouterr().err
    assert "is a file, not a results folder" in err and "no such" not in err


@pytest.mark.parametrize(("where", "content", "words"), [
    ("samples/samples.json", [1, 2, 3], "the top level is a list, expected an object"),
    ("reproduction.json", "hello", "the top level is a string, expected an object"),
    ("figures/fig1_loss_curves.json", float("nan"), "the top level is nan"),
    ("figures/fig2_hidden_size.json", {"runs": [{"corpus": "w", "cell": "lstm",
                                                 "hidden": float("nan")}]},
     "runs[0].hidden is nan, expected an integer"),
    ("figures/fig1_loss_curves.json", {"runs": [{"corpus": "w", "cell": "lstm",
                                                 "history": [{"loss": "low"}]}]},
     "runs[0].history[0].loss is a string"),
    ("samples/samples.json", {"samples": [{"cell": "lstm"}]}, "samples[0].corpus is missing"),
    ("figures/fig3_spectrograms.json", {"corpora": {"w": {"cells": [1]}}},
     "corpora.w.cells is a list, expected an object"),
    ("figures/generation_length.json", {"rows": {"a": 1}}, "rows is an object, expected a list"),
])
def test_results_files_of_the_wrong_shape_are_clear_errors(tmp_path, capsys, where, content,
                                                            words):
    path = tmp_path / where
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(content))  # NaN is written as the bare word NaN
    with pytest.raises(report.GruvError) as excinfo:
        report.build_report(tmp_path)
    assert words in str(excinfo.value) and where.split("/")[-1] in str(excinfo.value)
    assert report_command.main([str(tmp_path)]) == 1
    err = capsys.readouterr().err.strip()
    assert words in err and "\n" not in err and "Traceback" not in err


@pytest.mark.slow
def test_page_check_in_chromium_passes_and_keeps_a_screenshot(tmp_path, rng):
    assert report.find_browser() is not None, "install Debian's chromium package"
    out = make_results(tmp_path / "results", rng=rng)
    built = report.build_report(out)
    result = report.check_page(built["page"], screenshot=out / "shot.png")
    assert result["ok"], result["problems"]
    assert len(result["images"]) == 4 and all(i["width"] > 0 for i in result["images"])
    assert len(result["audio"]) == 8
    assert all(a["readyState"] >= 1 and a["duration"] == pytest.approx(0.1, abs=0.01)
               for a in result["audio"])
    assert (out / "shot.png").read_bytes().startswith(PNG_SIGNATURE)
    assert not list(out.glob(".*check*"))  # the probe copy is removed


@pytest.mark.slow
def test_page_check_finds_broken_images_audio_and_links(tmp_path, rng):
    (tmp_path / "bad.png").write_bytes(b"not a png")
    (tmp_path / "bad.wav").write_bytes(b"RIFF garbage")
    save_wav(tmp_path / "good.wav", (0.1 * rng.standard_normal(4410)).astype(np.float32))
    fig, ax = plots.new_figure(width=1, height=1)
    plots.save_figure(fig, tmp_path / "good", formats=("png",))
    page = tmp_path / "page.html"
    page.write_text('<!DOCTYPE html><html><body><img src="good.png"><img src="bad.png">'
                    '<img src="gone.png"><audio controls src="good.wav"></audio>'
                    '<audio controls src="bad.wav"></audio>'
                    '<a href="https://example.org/x">x</a></body></html>')
    result = report.check_page(page)
    assert not result["ok"]
    text = "\n".join(result["problems"])
    assert "image 'bad.png' did not load" in text and "image 'gone.png' did not load" in text
    assert "'gone.png': no such file" in text
    assert "audio 'bad.wav' cannot be played" in text and "good.wav" not in text
    assert "not a relative link" in text
    assert [i["loaded"] for i in result["images"]] == [True, False, False]


@pytest.mark.slow
def test_report_command(tmp_path, rng, capsys):
    out = make_results(tmp_path / "results", rng=rng)
    assert report_command.main([str(out), "--check"]) == 0
    printed = capsys.readouterr().out
    c7 = [line for line in printed.splitlines() if line.startswith("C7 ")]
    assert c7 and "today's cells (Keras 3)" in c7[0] and " reproduced " in c7[0], printed
    assert "page check: 4 images and 8 audio" in printed
    assert (out / "screenshot.png").is_file() and (out / "index.html").is_file()
    assert report_command.main([str(tmp_path / "missing")]) == 1
    err = capsys.readouterr().err
    assert "no such results folder" in err and len(err.strip().splitlines()) == 1


def test_claim_rules_state_their_thresholds():
    rows = [r for r in report.compute_claims({}) if r["family"] == "keras3"]
    assert [r["id"] for r in rows] == list(report.CLAIM_IDS)
    assert f"{report.SLIGHT_MAX:.0%}" in rows[0]["rule"]
    assert f"{report.OVERFIT_RISE:.0%}" in rows[1]["rule"]
    assert f"{report.BAND_MARGIN:g}" in rows[4]["rule"]
    assert f"{report.LOOP_RARE:.0%}" in rows[5]["rule"]
    assert f"{report.DEPTH_MARGIN:.0%}" in rows[6]["rule"]
    assert all(report.TALLY_RULE in r["rule"] for r in rows)
    assert not any(isinstance(v, float) and math.isnan(v) for r in rows
                   for v in r["measured"].values())


# --------------------------------------------------------------------------------------------
# replicates: decided only beyond the seeds' spread


def test_separated_ranges():
    assert report.separated([1.0, 1.1], [1.2, 1.3]) == "below"
    assert report.separated([1.4, 1.5], [1.2, 1.3]) == "above"
    assert report.separated([1.0, 1.25], [1.2, 1.3]) is None  # overlap
    assert report.separated([], [1.0]) is None
    assert report.separated([1.0], [1.0]) is None  # one seed each, equal


def test_replicate_rule_decides_beyond_the_spread_and_not_within():
    def seeds(values_lstm, values_gru):
        return {c: {"lstm": [flat(10, v, v) for v in values_lstm],
                    "gru": [flat(10, v, v) for v in values_gru]}
                for c in ("wesnoth", "warzone2100")}

    apart = report.verdict_c1(seeds([0.80, 0.82, 0.81], [0.90, 0.92, 0.91]))
    assert apart["verdict"] == REPRODUCED
    assert "[0.8–0.82]" in apart["checks"][0]["check"]
    assert "Replicates:" in apart["rule"]
    # the means differ the same way, but one GRU seed is as low as the LSTM's: undecided
    overlap = report.verdict_c1(seeds([0.80, 0.82, 0.81], [0.81, 0.95, 0.97]))
    assert overlap["verdict"] == INCONCLUSIVE
    assert all(c["passed"] is None and "within the seeds' spread" in c["check"]
               for c in overlap["checks"])
    reversed_ = report.verdict_c1(seeds([0.90, 0.92], [0.80, 0.81]))
    assert reversed_["verdict"] == NOT_REPRODUCED
    # C7 with replicates: deeper higher beyond the spread, or not
    deep = {"warzone2100 lstm": {1: [flat(5, 1.0, 2.0), flat(5, 1.02, 2.0)],
                                 3: [flat(5, 1.3, 2.0), flat(5, 1.35, 2.0)]}}
    assert report.verdict_c7(deep)["verdict"] == REPRODUCED
    deep["warzone2100 lstm"][3].append(flat(5, 1.01, 2.0))
    assert report.verdict_c7(deep)["verdict"] == INCONCLUSIVE
    # C3: largest size best beyond the spread, or within it
    c3 = {"warzone2100 lstm": {8: [2.0, 2.1], 16: [1.5, 1.6], 32: [1.0, 1.1]}}
    assert report.verdict_c3(c3)["verdict"] == REPRODUCED
    c3["warzone2100 lstm"][16] = [1.05, 1.6]
    assert report.verdict_c3(c3)["checks"][1]["passed"] is None


def test_c5_compares_out_of_band_odds_as_a_log_ratio():
    """Shares near 1: 0.990 vs 0.985 differ by 0.005 absolute but the odds by 1.5x."""
    one_seed = {"wesnoth": {"truth": 0.98, "lstm": 0.985, "gru": 0.990}}
    row = report.verdict_c5(one_seed)
    ratio = row["measured"]["wesnoth log odds ratio GRU / LSTM"]
    assert ratio == pytest.approx(math.log((0.99 / 0.01) / (0.985 / 0.015)))
    assert ratio > report.BAND_MARGIN and row["verdict"] == REPRODUCED
    assert "read as Hz" in row["rule"] and f"{report.BAND_MARGIN:g}" in row["rule"]
    # the in-band share 1.5x higher for the GRU: its odds are lower, the claim fails
    less = {"wesnoth": {"lstm": 0.985, "gru": 0.9775}}
    assert report.verdict_c5(less)["verdict"] == NOT_REPRODUCED
    # replicates whose ranges overlap: undecided, whatever the means say
    spread = {"wesnoth": {"lstm": [0.985, 0.991], "gru": [0.990, 0.995]}}
    assert report.verdict_c5(spread)["verdict"] == INCONCLUSIVE
    assert report.log_odds(0.5) == 0.0 and report.log_odds(None) is None
