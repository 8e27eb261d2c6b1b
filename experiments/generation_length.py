"""Generation loops and audio metrics against generation length, for several seed sizes.

Usage::

    python experiments/generation_length.py --profile quick [--out results/quick]

The paper (§ Generation Experiments): "generating a sequence that is roughly three times
larger than the initial seed sequence tends to produce coherent music that does not result in
generation loops ... longer sequences eventually result in these self-perpetuating generation
loops and the problem becomes quite common as the size of the seed sequence is reduced."

For each corpus and cell of ``[generation_length]`` (Figure 1's runs) and each seed size,
``n_seeds`` sequences are generated up to the longest length in ``times`` (multiples of the
seed) from random training windows (the authors' protocol, on which claim C6 is judged), and
as many again from random dev windows (reported beside it, not judged).  Each sequence is
then cut at every length of ``times``, and for each cut: does it end in a loop
(:func:`gruvsynth.evaluation.detect_loop`), and the audio metrics of its blocks after the
seed.  The loop onset of the full sequence is kept too.

Writes ``OUT/figures/generation_length.{png,svg}``, ``.csv`` (one row per sample and length)
and ``.json`` (rows and onsets; claim C6).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from experiments import common  # noqa: E402

STAGE = "generation_length"
#: Where the seeds come from: random training windows, the authors' protocol (their generate
#: script copies a training clip); claim C6 is judged on these.
SEED_FROM = "train"
#: Every seed protocol generated: the judged one first, then dev windows (reported beside it,
#: not judged: a model that loops from a dev seed is not copying its training data).
PROTOCOLS = (SEED_FROM, "dev")
FIELDS = ("corpus", "cell", "protocol", "seed_blocks", "seed_seconds", "sample", "times",
          "blocks", "looped", "loop_start", "loop_period", "spectral_flatness", "outside_band",
          "rms")
ONSET_FIELDS = ("corpus", "cell", "protocol", "seed_blocks", "seed_seconds", "sample", "looped",
                "loop_free_times", "max_times")
SEED_STYLES = ("-", "--", ":", "-.")
SEED_MARKERS = ("o", "s", "^", "D", "v")


def measure(result, *, times: list[float], corpus: str, cell: str,
            protocol: str = SEED_FROM) -> tuple[list, list]:
    """Cut each generated sequence at every length and measure it."""
    from gruvsynth import evaluation

    s = int(result.settings["seed_blocks"])
    block, sr = int(result.settings["block"]), int(result.sr)
    rows, onsets = [], []
    for i in range(result.blocks.shape[0]):
        blocks = result.blocks[i]
        for t in times:
            n = int(round(t * s))
            loop = evaluation.detect_loop(blocks[:n], seed_blocks=s)
            audio = result.audio[i][(s - 1) * block: n * block]
            m = evaluation.audio_metrics(audio, sr=sr)
            rows.append({"corpus": corpus, "cell": cell, "protocol": protocol, "seed_blocks": s,
                         "seed_seconds": s * block / sr, "sample": i + 1, "times": float(t),
                         "blocks": n, "looped": bool(loop["looped"]),
                         "loop_start": loop["start"], "loop_period": loop["period"],
                         "spectral_flatness": m["spectral_flatness"],
                         "outside_band": m["outside_band"], "rms": m["rms"]})
        full = evaluation.detect_loop(blocks, seed_blocks=s)
        onsets.append({"corpus": corpus, "cell": cell, "protocol": protocol, "seed_blocks": s,
                       "seed_seconds": s * block / sr, "sample": i + 1,
                       "looped": bool(full["looped"]), "loop_free_times": full["loop_free_times"],
                       "max_times": blocks.shape[0] / s})
    return rows, onsets


def _mean(values):
    v = [float(x) for x in values if x is not None and x == x]
    return sum(v) / len(v) if v else float("nan")


def plot(rows: list[dict], onsets: list[dict], *, corpora: list[str], cells: list[str],
         seeds: list[int], times: list[float], hidden: int, title: str):
    """Rows: share of looped samples, spectral flatness (both against length), loop onset."""
    from gruvsynth import plots

    fig, axes = plots.new_figure(3, len(corpora), width=6.0 * len(corpora), height=11.0,
                                 squeeze=False)
    for j, corpus in enumerate(corpora):
        for cell in cells:
            color = plots.CELL_COLORS.get(cell)
            for k, s in enumerate(seeds):
                mine = [r for r in rows if r["corpus"] == corpus and r["cell"] == cell
                        and r["seed_blocks"] == s]
                if not mine:
                    continue
                secs = mine[0]["seed_seconds"]
                label = f"{plots.cell_label(cell)}, seed {s} blocks ({secs:g} s)"
                style = dict(color=color, linestyle=SEED_STYLES[k % len(SEED_STYLES)],
                             marker=SEED_MARKERS[k % len(SEED_MARKERS)])
                plots.plot_against_length(
                    times, [_mean(r["looped"] for r in mine if r["times"] == t) for t in times],
                    ax=axes[0, j], label=label, ylabel="share of samples ending in a loop",
                    **style)
                plots.plot_against_length(
                    times, [_mean(r["spectral_flatness"] for r in mine if r["times"] == t)
                            for t in times],
                    ax=axes[1, j], label=label,
                    ylabel="spectral flatness (0 tone – 1 noise)", **style)
            mine = [o for o in onsets if o["corpus"] == corpus and o["cell"] == cell]
            secs = sorted({o["seed_seconds"] for o in mine})
            onset = [_mean(o["loop_free_times"] for o in mine if o["seed_seconds"] == x)
                     for x in secs]
            if secs:
                plots.plot_against_length(secs, onset, ax=axes[2, j], color=color,
                                          label=plots.cell_label(cell),
                                          ylabel="loop-free length (× seed)")
        axes[2, j].set_xlabel("seed length (s)")
        axes[0, j].axvline(3.0, color="gray", linestyle=":", linewidth=1)
        axes[0, j].set_ylim(-0.05, 1.05)
        axes[0, j].set_title(f"{corpus}: generation loops (hidden {hidden})")
        axes[1, j].set_title(f"{corpus}: spectral flatness of the generated audio")
        axes[2, j].set_title(f"{corpus}: loop onset at {times[-1]:g}× (no loop: {times[-1]:g})")
        for ax in axes[:, j]:
            ax.legend(fontsize="x-small")
    fig.suptitle(title)
    return fig


def run(settings: dict, paths: common.Paths, *, progress: bool = True,
        force: bool = False) -> dict | None:
    """Generate, cut, measure; write the figure and its data; skipped when already done."""
    from gruvsynth import generation, plots
    from gruvsynth.fileio import write_csv_atomic, write_json_atomic
    from gruvsynth.reproduction import results as layout

    stage = common.Stage(paths, STAGE, common.stage_settings(settings, "fig1",
                                                             "generation_length"))
    if stage.done() and not force:
        common.say(f"[{STAGE}] already done (stamp {stage.path}); --force redoes it")
        return None
    t0 = time.perf_counter()
    f1, g = settings["fig1"], settings["generation_length"]
    corpora = list(settings["corpus"]["names"])
    times = sorted(float(t) for t in g["times"])
    seeds = sorted(int(s) for s in g["seed_blocks"])
    rows, onsets = [], []
    for corpus in corpora:
        for cell in g["cells"]:
            run_ = common.trained_run(settings, paths, corpus, cell, hidden=f1["hidden"],
                                      epochs=f1["epochs"], progress=progress)
            for protocol in PROTOCOLS:
                for s in seeds:
                    common.say(f"[{STAGE}] {corpus}-{cell}: seed {s} blocks from {protocol} "
                               f"windows, up to {times[-1]:g}×")
                    result = generation.generate_from_run(
                        run_, seed_from=protocol, n_seeds=int(g["n_seeds"]), seed=1,
                        seed_blocks=s, times=times[-1], progress=progress)
                    r, o = measure(result, times=times, corpus=corpus, cell=cell,
                                   protocol=protocol)
                    rows += r
                    onsets += o
    base = paths.out / layout.FIGURES_DIR / layout.GENERATION_LENGTH
    profile = settings["profile"]["name"]
    judged = [r for r in rows if r["protocol"] == SEED_FROM]
    fig = plot(judged, [o for o in onsets if o["protocol"] == SEED_FROM], corpora=corpora,
               cells=list(g["cells"]), seeds=seeds, times=times,
               hidden=f1["hidden"],
               title=common.figure_title(
                   settings, f"Generation length — loops and flatness against length "
                   f"(× seed), {g['n_seeds']} samples per seed size from training windows "
                   f"(the authors' protocol), hidden {f1['hidden']}, "
                   f"profile {profile}"))
    plots.save_figure(fig, base)
    write_csv_atomic(base.with_suffix(".csv"), rows, FIELDS)
    write_csv_atomic(base.with_name(f"{base.name}_onsets.csv"), onsets, ONSET_FIELDS)
    write_json_atomic(base.with_suffix(".json"), {
        "figure": layout.GENERATION_LENGTH, "profile": profile, "times": times,
        "seed_blocks": seeds, "cells": g["cells"], "hidden": f1["hidden"],
        "seed_from": SEED_FROM, "protocols": list(PROTOCOLS), "rows": rows, "onsets": onsets, common.DRY_RUN: common.dry_run_of(settings)}, clean=True)
    stage.mark(time.perf_counter() - t0)
    common.say(f"[{STAGE}] wrote {base}.png")
    return {"rows": rows, "onsets": onsets}


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    settings, paths, args = common.parse(__doc__.split("\n\n")[0], argv)
    run(settings, paths, progress=not args.quiet, force=args.force)
    return 0


if __name__ == "__main__":
    sys.exit(main())
