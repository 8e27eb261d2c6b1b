"""Figure 3: mean spectrogram of the dev clips, ground truth vs LSTM vs GRU; and the samples.

Usage::

    python experiments/fig3_spectrograms.py --profile quick [--out results/quick]

For each corpus and cell of Figure 1's runs (trained first if missing), as the paper made
Figure 3: the model predicts the next block of every block of every dev clip, and the
magnitudes of the true and predicted blocks are averaged over the clips at each position of
the 10 s clip (:func:`gruvsynth.evaluation.evaluate_run`).  The same evaluation generates the
page's samples (``[samples]``: random dev seeds, about 3× the seed long) and measures them.

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
METRICS = ("spectral_flatness", "outside_band", "log_spectral_distance_db", "rms",
           "clipped_share", "loop_free_times", "looped", "novelty_median_distance",
           "near_copy_share")


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


def plot_generated(dev_audio: dict, means: dict, *, cells: list[str], noise: float, title: str):
    """Bars of spectral flatness and spectral distance: dev audio vs each cell's generations."""
    from gruvsynth import plots

    fig, axes = plots.new_figure(1, 2, width=11.0, height=4.4, squeeze=False)
    flat = {c: {"dev audio": (dev_audio.get(c) or {}).get("spectral_flatness"),
                **{plots.cell_label(cell): (means.get(c, {}).get(cell) or {}).get("spectral_flatness")
                   for cell in cells}} for c in sorted(means)}
    colors = {"dev audio": "gray"}
    plots.plot_bars(flat, ax=axes[0, 0], ylabel="spectral flatness (0 tones – 1 white noise)",
                    reference=noise, reference_label="white noise", colors=colors)
    axes[0, 0].set_yscale("log")
    axes[0, 0].set_title("spectral flatness (log scale)")
    axes[0, 0].legend(fontsize="small")
    lsd = {c: {plots.cell_label(cell): (means.get(c, {}).get(cell) or {}).get("log_spectral_distance_db")
               for cell in cells} for c in sorted(means)}
    plots.plot_bars(lsd, ax=axes[0, 1], ylabel="log-spectral distance to dev audio (dB)")
    axes[0, 1].set_title("mean spectrum's distance to the dev audio's")
    axes[0, 1].legend(fontsize="small")
    fig.suptitle(title)
    return fig


def run(settings: dict, paths: common.Paths, *, progress: bool = True,
        force: bool = False) -> dict | None:
    """Evaluate Figure 1's runs, generate the samples, write Figure 3 and the sample data."""
    from gruvsynth import evaluation, generation, plots, report

    stage = common.Stage(paths, STAGE, common.stage_settings(settings, "fig1", "samples"))
    if stage.done() and not force:
        common.say(f"[{STAGE}] already done (stamp {stage.path}); --force redoes it")
        return None
    t0 = time.perf_counter()
    f1, sm = settings["fig1"], settings["samples"]
    corpora = list(settings["corpus"]["names"])
    cells = list(f1["cells"])
    profile = settings["profile"]["name"]
    band = list(evaluation.BAND)
    samples_dir = paths.out / report.SAMPLES_DIR
    samples_dir.mkdir(parents=True, exist_ok=True)
    fig_dir = paths.out / report.FIGURES_DIR
    summary = {"figure": report.FIG3, "profile": profile, "band_hz": band, "corpora": {},
               common.DRY_RUN: common.dry_run_of(settings)}
    samples = {"settings": {"seed_blocks": sm["seed_blocks"], "times": sm["times"],
                            "n_seeds": sm["n_seeds"], "seed_from": "dev", "method": "stateful"},
               "dev_audio": {}, "means": {}, "samples": [],
               common.DRY_RUN: common.dry_run_of(settings)}
    for corpus in corpora:
        arrays, entry = {}, {"truth": {}, "cells": {}, "hidden": f1["hidden"]}
        for cell in cells:
            run_ = common.trained_run(settings, paths, corpus, cell, hidden=f1["hidden"],
                                      epochs=f1["epochs"], progress=progress)
            name = f"{corpus}-{cell}"
            common.say(f"[{STAGE}] {name}: generating {sm['n_seeds']} samples and evaluating")
            result = generation.generate_from_run(
                run_, seed_from="dev", n_seeds=int(sm["n_seeds"]), seed=0,
                seed_blocks=int(sm["seed_blocks"]), times=float(sm["times"]), progress=progress)
            written = result.save(samples_dir / f"{name}.wav")
            ev = evaluation.evaluate_run(run_, generate=result,
                                         out_dir=paths.out / "evaluation" / name,
                                         progress=progress)
            arrays[cell] = evaluation.load_figure3(ev["figure3"]["path"])
            entry["truth"]["outside_band"] = ev["figure3"]["outside_band_true"]
            entry["cells"][cell] = {
                "outside_band": ev["figure3"]["outside_band_pred"],
                "log_spectral_distance_db": ev["figure3"]["log_spectral_distance_db"],
                "dev_loss": ev["dev_loss"], "run": common.rel(run_.path, paths.out),
                "npz": common.rel(Path(ev["figure3"]["path"]), paths.out)}
            samples["dev_audio"][corpus] = ev["dev_audio"]
            samples["means"].setdefault(corpus, {})[cell] = ev["generated"]["mean"]
            for i, (files, metrics) in enumerate(zip(written, ev["generated"]["samples"],
                                                     strict=True)):
                samples["samples"].append({
                    "corpus": corpus, "cell": cell, "hidden": f1["hidden"], "index": i + 1,
                    "run": common.rel(run_.path, paths.out),
                    "wav": common.rel(files["wav"], paths.out),
                    "seed_wav": common.rel(files["seed_wav"], paths.out),
                    "seed": metrics.get("seed"),
                    "metrics": {k: v for k, v in metrics.items() if k != "seed"}})
        stem = f"{report.FIG3}_{corpus}"
        entry["figure"] = f"{report.FIGURES_DIR}/{stem}.png"
        summary["corpora"][corpus] = entry
        fig = plot_corpus(corpus, arrays, hidden=f1["hidden"], band=band,
                          title=common.figure_title(
                              settings, f"Figure 3 — mean dev spectrogram, {corpus}: ground "
                              f"truth vs {' vs '.join(plots.cell_label(c) for c in cells)} "
                              f"(hidden {f1['hidden']}, profile {profile})"))
        plots.save_figure(fig, fig_dir / stem)
        first = arrays[cells[0]]
        rows = [{"frequency_hz": float(fr), "truth": float(first["true_spectrum"][k]),
                 **{cell: float(arrays[cell]["pred_spectrum"][k]) for cell in cells}}
                for k, fr in enumerate(first["frequencies"])]
        report.write_csv(fig_dir / f"{stem}.csv", rows, ("frequency_hz", "truth", *cells))
    report.write_json(fig_dir / f"{report.FIG3}.json", summary)
    report.write_json(samples_dir / report.SAMPLES_JSON, samples)

    noise = report.white_noise_flatness()
    fig = plot_generated(samples["dev_audio"], samples["means"], cells=cells, noise=noise,
                         title=common.figure_title(
                             settings, f"Generated audio (blocks after the seed, mean of "
                             f"{sm['n_seeds']} samples) vs real dev audio, hidden "
                             f"{f1['hidden']}, profile {profile}"))
    base = fig_dir / report.GENERATED_AUDIO
    plots.save_figure(fig, base)
    rows = [{"corpus": c, "series": "dev audio", **samples["dev_audio"].get(c, {})}
            for c in corpora]
    rows += [{"corpus": c, "series": cell, **(samples["means"][c].get(cell) or {})}
             for c in corpora for cell in cells]
    report.write_csv(base.with_suffix(".csv"), rows, ("corpus", "series", *METRICS))
    report.write_json(base.with_suffix(".json"), {"white_noise_flatness": noise,
                                                  "dev_audio": samples["dev_audio"],
                                                  "means": samples["means"],
                                                  common.DRY_RUN: common.dry_run_of(settings)})
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
