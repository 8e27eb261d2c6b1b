"""Figure 3: mean spectrogram of the dev clips, ground truth vs LSTM vs GRU; and the samples.

Usage::

    python experiments/fig3_spectrograms.py --profile quick [--out results/quick]

For each corpus and cell of Figure 1's runs (trained first if missing), as the paper made
Figure 3: the model predicts the next block of every block of every dev clip, and the
magnitudes of the true and predicted blocks are averaged over the clips at each position of
the 10 s clip (:func:`gruvsynth.evaluation.evaluate_run`), for every replicate seed of the
run (claim C5 compares the seeds' ranges).  The base seed's run also generates the page's
samples, about 3× the seed long, in two sets: the authors' protocol (seeds of
``[samples] seed_blocks`` blocks from random *training* windows, as their generate script
copies a training clip; claims C4 and C6 are judged on these) and a second set seeded from dev
windows (reported beside them).  Each sample gets its metrics, its distance to the nearest
training block with a plain verdict ("near-copy of training song X from m:ss" or "new") and a
spectrogram image of the seed and the generation with the seed's end marked.
Samples are judged noise-like or not on a scale calibrated once per corpus
(:func:`gruvsynth.noise.calibrate`: its anchors, threshold and margins go into
``samples.json`` as ``calibration``).

Writes ``OUT/figures/fig3_spectrograms_<corpus>.{png,svg,csv}`` (three spectrograms side by
side, then the mean spectra with the 4–7 kHz band shaded; the CSV holds the mean spectra),
``OUT/figures/fig3_spectrograms.json`` (energy outside the band, claim C5),
``OUT/figures/generated_audio.{png,svg,csv}`` (claim C4), ``OUT/samples/*.wav`` with
``samples.json``, and each run's evaluation in ``OUT/evaluation/<corpus>-<cell>/``
(``evaluation.json`` and the spectrogram arrays ``fig3.npz``).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from experiments import common  # noqa: E402

STAGE = "fig3_spectrograms"
METRICS = ("noise_distance", "noise_like", "spectral_flatness", "outside_band",
           "log_spectral_distance_db", "shape_distance_db", "rms", "clipped_share",
           "loop_free_times", "looped", "novelty_median_distance", "near_copy_share")
#: The noise anchors drawn beside the samples (calibration key, label, colour).
ANCHORS = (("music", "dev music", "dimgray"), ("corpus_noise", "corpus-shaped noise", "tan"),
           ("white_noise", "white noise", "darkgray"))


def plot_corpus(corpus: str, arrays: dict[str, dict], *, hidden: int, band, title: str):
    """Three mean spectrograms (truth, then each cell) above their mean spectra."""
    from gruvsynth import plots

    cells = list(arrays)
    first = arrays[cells[0]]
    n = len(cells) + 1
    fig, axes = plots.new_figure(2, n, width=4.2 * n, height=7.8, squeeze=False)
    grid = axes[1, 0].get_gridspec()
    for ax in axes[1]:
        ax.remove()
    bottom = fig.add_subplot(grid[1, :])
    reference = float(first["true_spectrogram"].max()) or None
    panels = [("ground truth", first["true_spectrogram"])]
    panels += [(f"{plots.cell_label(cell)} predictions", arrays[cell]["pred_spectrogram"]) for cell in cells]
    image = None
    for ax, (label, spec) in zip(axes[0], panels, strict=True):
        image = plots.plot_spectrogram(spec, times=first["block_times"],
                                       frequencies=first["frequencies"], ax=ax,
                                       reference=reference)
        ax.set_title(f"{corpus}: {label}" + ("" if label == "ground truth" else f", hidden {hidden}"),
                     fontsize="medium")
    fig.colorbar(image, ax=list(axes[0]), label="mean magnitude (dB re. ground-truth max)",
                 shrink=0.9)
    spectra = {"ground truth": first["true_spectrum"]}
    spectra.update({f"{plots.cell_label(cell)} predictions": arrays[cell]["pred_spectrum"]
                    for cell in cells})
    plots.plot_spectra(first["frequencies"], spectra, ax=bottom, band=band,
                       colors={"ground truth": "black"})
    bottom.set_title(f"{corpus}: mean spectra over the dev clips "
                     f"({' vs '.join(plots.cell_label(c) for c in cells)}, hidden {hidden})",
                     fontsize="medium")
    bottom.legend(fontsize="small")
    fig.suptitle(title)
    return fig


PROTOCOLS = {"train": "authors' protocol: seed from a training song",
             "dev": "seed from a dev song"}


def sample_spectrogram(result, i: int, corpus, *, title: str):
    """The seed's blocks then the generated ones as one spectrogram, the seed's end marked."""
    import numpy as np

    from gruvsynth import features, plots

    seed_blocks = int(result.settings["seed_blocks"])
    seed = corpus.denormalise(result.seeds[i].blocks)
    after = result.features[i][seed_blocks - 1:]  # the blocks that follow the seed
    mags = features.magnitudes(np.concatenate([seed, after]), representation=corpus.representation)
    step = corpus.block / corpus.sr
    times = (np.arange(mags.shape[0]) + 0.5) * step
    fig, ax = plots.new_figure(width=7.0, height=3.2)
    plots.plot_spectrogram(mags, times=times, ax=ax, max_khz=11.0,
                           frequencies=features.bin_frequencies(corpus.block, sr=corpus.sr))
    ax.axvline(seed_blocks * step, color="cyan", linewidth=1.5, linestyle="--")
    ax.text(seed_blocks * step, ax.get_ylim()[1], " end of seed", color="cyan", va="top",
            fontsize="small")
    ax.set_xlabel("time (s): seed, then generated")
    ax.set_title(title, fontsize="small")
    return fig


def plot_generated(calibration: dict, means: dict, *, cells: list[str], title: str):
    """C4's figure: each corpus's calibrated noise scale (anchors, threshold, each cell's
    samples), and the samples' level-matched spectral distance to the dev audio."""
    from gruvsynth import plots

    fig, axes = plots.new_figure(1, 2, width=11.0, height=5.4, squeeze=False)
    corpora = sorted(means)
    colors = {label: color for _, label, color in ANCHORS}
    scale = {c: {**{label: ((calibration.get(c) or {}).get("anchors", {}).get(key) or {}).get(
        "score") for key, label, _ in ANCHORS},
        **{plots.cell_label(cell): (means.get(c, {}).get(cell) or {}).get("noise_distance")
           for cell in cells}} for c in corpora}
    ax = axes[0, 0]
    plots.plot_bars(scale, ax=ax, ylabel="noise distance (0 = stationary noise)", colors=colors)
    for i, c in enumerate(corpora):
        threshold = (calibration.get(c) or {}).get("threshold")
        if threshold:
            ax.hlines(threshold, i - 0.45, i + 0.45, colors="black", linestyles="--",
                      label="noise-like below" if i == 0 else None)
    ax.set_yscale("log")
    ax.set_title("calibrated noise scale (log): below the dashed line is noise-like",
                 fontsize="medium")
    ax.legend(fontsize="small", loc="upper center", bbox_to_anchor=(0.5, -0.08), ncol=3)
    lsd = {c: {plots.cell_label(cell): (means.get(c, {}).get(cell) or {}).get("shape_distance_db")
               for cell in cells} for c in corpora}
    plots.plot_bars(lsd, ax=axes[0, 1], ylabel="level-matched spectral distance (dB)")
    axes[0, 1].set_title("mean spectrum's distance to the dev audio's, level matched",
                         fontsize="medium")
    axes[0, 1].legend(fontsize="small", loc="upper center", bbox_to_anchor=(0.5, -0.08), ncol=2)
    fig.suptitle(title)
    return fig


def _replicate_shares(settings: dict, paths: common.Paths, corpus: str, cell: str,
                      seeds: list, progress: bool) -> list:
    """The out-of-band share of the other replicates (Figure 3's data only)."""
    from gruvsynth import evaluation

    f1, shares = settings["fig1"], []
    for seed in seeds[1:]:
        other = common.trained_run(settings, paths, corpus, cell, hidden=f1["hidden"],
                                   epochs=f1["epochs"], seed=seed, progress=progress)
        ev = evaluation.evaluate_run(
            other, generate=False, progress=progress,
            out_dir=paths.out / "evaluation" / f"{corpus}-{cell}-s{seed}")
        shares.append(ev["figure3"]["outside_band_pred"])
    return shares


def _sample_records(paths: common.Paths, run_, result, written, ev: dict, *, corpus: str,
                    cell: str, protocol: str, hidden: int) -> list[dict]:
    """One record per generated sample of ``samples.json`` (each with its spectrogram)."""
    from gruvsynth import plots

    records = []
    opened = run_.corpus  # the run's (cached) corpus: not closed here
    for i, (files, metrics) in enumerate(zip(written, ev["generated"]["samples"],
                                             strict=True)):
        image = Path(files["wav"]).with_suffix(".png")
        fig = sample_spectrogram(
            result, i, opened,
            title=f"{corpus}, {plots.cell_label(cell)}, sample {i + 1} "
                  f"({PROTOCOLS[protocol]})")
        plots.save_figure(fig, image.with_suffix(""), formats=("png",))
        records.append({
            "corpus": corpus, "cell": cell, "hidden": hidden,
            "index": i + 1, "protocol": protocol,
            "run": common.rel(run_.path, paths.out),
            "wav": common.rel(files["wav"], paths.out),
            "seed_wav": common.rel(files["seed_wav"], paths.out),
            "spectrogram": common.rel(image, paths.out),
            "copy": ((metrics.get("novelty") or {}).get("copy") or {}).get("text"),
            "seed": metrics.get("seed"),
            "metrics": {k: v for k, v in metrics.items() if k != "seed"}})
    return records


def _generate(settings: dict, paths: common.Paths, run_, corpus: str, cell: str,
              protocol: str, calibration, samples: dict, samples_dir: Path,
              progress: bool) -> dict:
    """Generate and evaluate one cell's samples with one seed protocol; add them to
    ``samples``; the evaluation."""
    from gruvsynth import evaluation, generation

    sm, name = settings["samples"], f"{corpus}-{cell}"
    common.say(f"[{STAGE}] {name}: {sm['n_seeds']} samples ({PROTOCOLS[protocol]})")
    result = generation.generate_from_run(
        run_, seed_from=protocol, n_seeds=int(sm["n_seeds"]), seed=0,
        seed_blocks=int(sm["seed_blocks"]), times=float(sm["times"]), progress=progress)
    stem = name if protocol == "train" else f"{name}-devseed"
    written = result.save(samples_dir / f"{stem}.wav")
    ev = evaluation.evaluate_run(run_, generate=result, progress=progress,
                                 calibration=calibration, out_dir=paths.out / "evaluation" / stem)
    key = "means" if protocol == "train" else "means_dev"
    samples[key].setdefault(corpus, {})[cell] = ev["generated"]["mean"]
    samples["samples"] += _sample_records(paths, run_, result, written, ev, corpus=corpus,
                                          cell=cell, protocol=protocol,
                                          hidden=settings["fig1"]["hidden"])
    return ev


def _corpus(settings: dict, paths: common.Paths, corpus: str, seeds: list, samples: dict,
            samples_dir: Path, progress: bool) -> tuple[dict, dict]:
    """Every cell of one corpus: Figure 3's arrays per cell and the corpus's summary entry."""
    from gruvsynth import evaluation, noise

    f1 = settings["fig1"]
    arrays, entry = {}, {"truth": {}, "cells": {}, "hidden": f1["hidden"]}
    calibration = None
    for cell in f1["cells"]:
        shares = _replicate_shares(settings, paths, corpus, cell, seeds, progress)
        run_ = common.trained_run(settings, paths, corpus, cell, hidden=f1["hidden"],
                                  epochs=f1["epochs"], seed=seeds[0], progress=progress)
        if calibration is None:  # once per corpus: the same anchors judge every cell
            common.say(f"[{STAGE}] {corpus}: calibrating the noise-likeness measure")
            calibration = noise.calibrate(run_.corpus, seed=0)
            common.say(noise.format_calibration(calibration))
        for protocol in PROTOCOLS:
            ev = _generate(settings, paths, run_, corpus, cell, protocol, calibration, samples,
                           samples_dir, progress)
            if protocol != "train":
                continue
            f3 = ev["figure3"]
            arrays[cell] = evaluation.load_figure3(f3["path"])
            entry["truth"]["outside_band"] = f3["outside_band_true"]
            entry["cells"][cell] = {
                "outside_band": f3["outside_band_pred"],
                "outside_band_seeds": [f3["outside_band_pred"], *shares],
                "log_spectral_distance_db": f3["log_spectral_distance_db"],
                "dev_loss": ev["dev_loss"], "run": common.rel(run_.path, paths.out),
                "npz": common.rel(Path(f3["path"]), paths.out)}
            samples["dev_audio"][corpus] = ev["dev_audio"]
            samples["calibration"][corpus] = ev["noise_calibration"]
    return arrays, entry


def _write_corpus_figure(settings: dict, fig_dir: Path, corpus: str, arrays: dict,
                         band: list) -> None:
    """Figure 3 of one corpus (PNG, SVG) and its mean spectra (CSV)."""
    from gruvsynth import plots
    from gruvsynth.fileio import write_csv_atomic
    from gruvsynth.reproduction.results import FIG3

    f1, cells = settings["fig1"], list(settings["fig1"]["cells"])
    stem = f"{FIG3}_{corpus}"
    fig = plot_corpus(corpus, arrays, hidden=f1["hidden"], band=band,
                      title=common.figure_title(
                          settings, f"Figure 3 — mean dev spectrogram, {corpus}: ground "
                          f"truth vs {' vs '.join(plots.cell_label(c) for c in cells)} "
                          f"(hidden {f1['hidden']}, profile {settings['profile']['name']})"))
    plots.save_figure(fig, fig_dir / stem)
    first = arrays[cells[0]]
    rows = [{"frequency_hz": float(fr), "truth": float(first["true_spectrum"][k]),
             **{cell: float(arrays[cell]["pred_spectrum"][k]) for cell in cells}}
            for k, fr in enumerate(first["frequencies"])]
    write_csv_atomic(fig_dir / f"{stem}.csv", rows, ("frequency_hz", "truth", *cells))


def _write_generated(settings: dict, fig_dir: Path, samples: dict) -> None:
    """The generated samples' figure (on each corpus's calibrated scale), CSV and JSON."""
    from gruvsynth import plots
    from gruvsynth.fileio import write_csv_atomic, write_json_atomic
    from gruvsynth.reproduction.measures import white_noise_flatness
    from gruvsynth.reproduction.results import GENERATED_AUDIO

    f1, sm = settings["fig1"], settings["samples"]
    corpora, cells = list(settings["corpus"]["names"]), list(f1["cells"])
    fig = plot_generated(samples["calibration"], samples["means"], cells=cells,
                         title=common.figure_title(
                             settings, f"Generated audio (blocks after the seed, mean of "
                             f"{sm['n_seeds']} samples) on each corpus's calibrated noise "
                             f"scale, hidden {f1['hidden']}, profile "
                             f"{settings['profile']['name']}"))
    base = fig_dir / GENERATED_AUDIO
    plots.save_figure(fig, base)
    rows = [{"corpus": c, "series": "dev audio", **samples["dev_audio"].get(c, {}),
             "noise_distance": ((samples["calibration"].get(c) or {}).get("anchors", {})
                                .get("music") or {}).get("score")} for c in corpora]
    rows += [{"corpus": c, "series": cell, **(samples["means"][c].get(cell) or {})}
             for c in corpora for cell in cells]
    write_csv_atomic(base.with_suffix(".csv"), rows, ("corpus", "series", *METRICS))
    write_json_atomic(base.with_suffix(".json"), {
        "white_noise_flatness": white_noise_flatness(), "calibration": samples["calibration"],
        "dev_audio": samples["dev_audio"], "means": samples["means"],
        common.DRY_RUN: common.dry_run_of(settings)}, clean=True)


def run(settings: dict, paths: common.Paths, *, progress: bool = True,
        force: bool = False) -> dict | None:
    """Evaluate Figure 1's runs, generate the samples, write Figure 3 and the sample data."""
    from gruvsynth import evaluation
    from gruvsynth.fileio import write_json_atomic
    from gruvsynth.reproduction import results as layout

    stage = common.Stage(paths, STAGE, common.stage_settings(settings, "fig1", "samples"))
    if stage.done() and not force:
        common.say(f"[{STAGE}] already done (stamp {stage.path}); --force redoes it")
        return None
    t0 = time.perf_counter()
    sm = settings["samples"]
    corpora = list(settings["corpus"]["names"])
    band = list(evaluation.BAND)
    samples_dir = paths.out / layout.SAMPLES_DIR
    samples_dir.mkdir(parents=True, exist_ok=True)
    fig_dir = paths.out / layout.FIGURES_DIR
    summary = {"figure": layout.FIG3, "profile": settings["profile"]["name"], "band_hz": band,
               "corpora": {}, common.DRY_RUN: common.dry_run_of(settings)}
    seeds = common.replicate_seeds(settings, "fig1")
    samples = {"settings": {"seed_blocks": sm["seed_blocks"], "times": sm["times"],
                            "n_seeds": sm["n_seeds"], "seed_from": "train", "method": "stateful",
                            "protocols": PROTOCOLS, "run_seed": seeds[0]},
               "dev_audio": {}, "calibration": {}, "means": {}, "means_dev": {},
               "samples": [], common.DRY_RUN: common.dry_run_of(settings)}
    for corpus in corpora:
        arrays, entry = _corpus(settings, paths, corpus, seeds, samples, samples_dir, progress)
        entry["figure"] = f"{layout.FIGURES_DIR}/{layout.FIG3}_{corpus}.png"
        summary["corpora"][corpus] = entry
        _write_corpus_figure(settings, fig_dir, corpus, arrays, band)
    write_json_atomic(fig_dir / f"{layout.FIG3}.json", summary, clean=True)
    write_json_atomic(samples_dir / layout.SAMPLES_JSON, samples, clean=True)
    _write_generated(settings, fig_dir, samples)
    stage.mark(time.perf_counter() - t0)
    common.say(f"[{STAGE}] wrote {len(corpora)} Figure 3 files, {len(samples['samples'])} "
               f"samples in {samples_dir}")
    return {"summary": summary, "samples": samples}


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    settings, paths, args = common.parse(__doc__.split("\n\n")[0], argv)
    run(settings, paths, progress=not args.quiet, force=args.force)
    return 0


if __name__ == "__main__":
    sys.exit(main())
