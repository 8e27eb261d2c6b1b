"""Figure 1: training and dev loss per epoch of the GRU and the LSTM, on both corpora.

Usage::

    python experiments/fig1_loss_curves.py --profile quick [--out results/quick]

Trains (or resumes, or reuses) one run per corpus and cell with the profile's ``[fig1]``
settings, then writes ``OUT/figures/fig1_loss_curves.{png,svg}`` and the curves beside them
(``.csv``: one row per run and epoch; ``.json``: the runs with their histories, read by
``gruvsynth report`` for claims C1 and C2).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from experiments import common  # noqa: E402

STAGE = "fig1_loss_curves"
FIELDS = ("corpus", "cell", "hidden", "layers", "seed", "epoch", "loss", "dev_loss", "seconds",
          "run")
STAND_IN = {"wesnoth": "for David Bowie", "warzone2100": "for Madeon"}


def records_csv(records: list[dict]) -> list[dict]:
    """One row per run and epoch, for the CSV beside a loss figure."""
    return [{**{k: r.get(k) for k in ("corpus", "cell", "hidden", "layers", "seed", "run")}, **h}
            for r in records for h in r["history"]]


def families_of(cells) -> list[str]:
    """The cell families among ``cells``, in the report's order (unknown cells: ``"other"``)."""
    from gruvsynth.defaults import CELL_FAMILIES
    from gruvsynth.reproduction.results import FAMILY_ORDER

    found = {CELL_FAMILIES.get(c, "other") for c in cells}
    return [f for f in (*FAMILY_ORDER, "other") if f in found]


def plot(records: list[dict], *, corpora: list[str], title: str,
         baselines: dict | None = None):
    """Figure 1: one panel per cell family and corpus, each cell's train (dashed) and dev
    (solid) loss, with the corpus's mean-predictor levels."""
    from gruvsynth import plots
    from gruvsynth.defaults import CELL_FAMILIES, FAMILY_LABELS

    families = families_of(r["cell"] for r in records) or ["other"]
    fig, axes = plots.new_figure(len(families), len(corpora), width=6.0 * len(corpora),
                                 height=4.6 * len(families), squeeze=False)
    for i, family in enumerate(families):
        for ax, corpus in zip(axes[i], corpora, strict=True):
            mine = [r for r in records if r["corpus"] == corpus
                    and CELL_FAMILIES.get(r["cell"], "other") == family]
            for (cell,), reps in common.group_replicates(mine, "cell").items():
                plots.plot_loss_band([r["history"] for r in reps], ax=ax,
                                     label=plots.cell_label(cell),
                                     color=plots.CELL_COLORS.get(cell))
            common.draw_baselines(ax, (baselines or {}).get(corpus))
            hidden = sorted({r["hidden"] for r in mine})
            ax.set_title(f"{corpus} ({STAND_IN.get(corpus, 'corpus')}): "
                         f"{FAMILY_LABELS.get(family, family)}, hidden "
                         f"{', '.join(map(str, hidden))}", fontsize="medium")
            ax.legend(fontsize="x-small")
    fig.suptitle(title)
    return fig


def run(settings: dict, paths: common.Paths, *, progress: bool = True,
        force: bool = False) -> dict | None:
    """Train the runs and write Figure 1 with its data; skipped when already done."""
    from gruvsynth import plots
    from gruvsynth.fileio import write_csv_atomic, write_json_atomic
    from gruvsynth.reproduction import results as layout

    stage = common.Stage(paths, STAGE, common.stage_settings(settings, "fig1"))
    if stage.done() and not force:
        common.say(f"[{STAGE}] already done (stamp {stage.path}); --force redoes it")
        return None
    t0 = time.perf_counter()
    s = settings["fig1"]
    corpora = list(settings["corpus"]["names"])
    records = []
    baselines = common.baselines(settings, paths, corpora)
    seeds = common.replicate_seeds(settings, "fig1")
    for corpus in corpora:
        for cell in s["cells"]:
            for seed in seeds:
                run_ = common.trained_run(settings, paths, corpus, cell, hidden=s["hidden"],
                                          epochs=s["epochs"], seed=seed, progress=progress)
                records.append(common.history_record(run_, corpus, cell, paths.out))
    base = paths.out / layout.FIGURES_DIR / layout.FIG1
    profile = settings["profile"]["name"]
    fig = plot(records, corpora=corpora, baselines=baselines,
               title=common.figure_title(
                   settings, f"Figure 1 — GRU vs LSTM loss per epoch, hidden {s['hidden']}, "
                   f"{s['epochs']} epochs, mean and min–max of {len(seeds)} seed(s) "
                   f"(profile {profile}); dotted: the mean predictor"))
    plots.save_figure(fig, base)
    write_csv_atomic(base.with_suffix(".csv"), records_csv(records), FIELDS)
    write_json_atomic(base.with_suffix(".json"), {
        "figure": layout.FIG1, "profile": profile, "hidden": s["hidden"],
        "epochs": s["epochs"], "cells": s["cells"], "corpora": corpora, "seeds": seeds,
        "runs": records, "baselines": baselines, common.DRY_RUN: common.dry_run_of(settings)}, clean=True)
    stage.mark(time.perf_counter() - t0)
    common.say(f"[{STAGE}] wrote {base}.png")
    return {"records": records}


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    settings, paths, args = common.parse(__doc__.split("\n\n")[0], argv)
    run(settings, paths, progress=not args.quiet, force=args.force)
    return 0


if __name__ == "__main__":
    sys.exit(main())
