"""Depth: training and dev loss curves with 1, 2 and 3 recurrent layers.

Usage::

    python experiments/depth.py --profile quick [--out results/quick]

The paper: "adding more recurrent layers made our network much more difficult to train and the
weights for both GRU and LSTM were often more likely to become stuck in a local minima early in
the training process."  Trains (or reuses) one run per corpus, cell and depth of the profile's
``[depth]`` settings and writes ``OUT/figures/depth.{png,svg}``, the curves in ``.csv`` and
the runs in ``.json`` (claim C7).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from experiments import common  # noqa: E402
from experiments.fig1_loss_curves import FIELDS, records_csv  # noqa: E402

STAGE = "depth"
LAYER_COLORS = ("tab:blue", "tab:orange", "tab:green", "tab:purple", "tab:brown")


def plot(records: list[dict], *, corpora: list[str], cells: list[str], title: str,
         baselines: dict | None = None):
    """One panel per corpus and cell; one colour per depth; train dashed, dev solid; the
    corpus's mean-predictor levels dotted."""
    from gruvsynth import plots

    fig, axes = plots.new_figure(len(corpora), len(cells), width=6.0 * len(cells),
                                 height=4.6 * len(corpora), squeeze=False)
    for i, corpus in enumerate(corpora):
        for j, cell in enumerate(cells):
            ax = axes[i, j]
            mine = sorted((r for r in records if r["corpus"] == corpus and r["cell"] == cell),
                          key=lambda r: r["layers"])
            by_depth = common.group_replicates(mine, "layers")
            for k, ((layers,), reps) in enumerate(sorted(by_depth.items())):
                plots.plot_loss_band([r["history"] for r in reps], ax=ax,
                                     label=f"{layers} layer" + ("s" if layers > 1 else ""),
                                     color=LAYER_COLORS[k % len(LAYER_COLORS)])
            common.draw_baselines(ax, (baselines or {}).get(corpus))
            hidden = sorted({r["hidden"] for r in mine})
            ax.set_title(f"{corpus}: {plots.cell_label(cell)}, hidden "
                         f"{', '.join(map(str, hidden))}, "
                         f"{', '.join(str(n) for (n,) in sorted(by_depth))} layers",
                         fontsize="medium")
            ax.legend(fontsize="x-small")
    fig.suptitle(title)
    return fig


def run(settings: dict, paths: common.Paths, *, progress: bool = True,
        force: bool = False) -> dict | None:
    """Train the runs and write the depth figure with its data; skipped when already done."""
    from gruvsynth import plots
    from gruvsynth.fileio import write_csv_atomic, write_json_atomic
    from gruvsynth.reproduction import results as layout

    stage = common.Stage(paths, STAGE, common.stage_settings(settings, "depth"))
    if stage.done() and not force:
        common.say(f"[{STAGE}] already done (stamp {stage.path}); --force redoes it")
        return None
    t0 = time.perf_counter()
    d = settings["depth"]
    records = []
    baselines = common.baselines(settings, paths, d["corpora"])
    seeds = common.replicate_seeds(settings, "depth")
    for corpus in d["corpora"]:
        for cell in d["cells"]:
            for layers in sorted(d["layers"]):
                for seed in seeds:
                    run_ = common.trained_run(settings, paths, corpus, cell,
                                              hidden=d["hidden"], epochs=d["epochs"],
                                              layers=layers, seed=seed, progress=progress)
                    records.append(common.history_record(run_, corpus, cell, paths.out))
    base = paths.out / layout.FIGURES_DIR / layout.DEPTH
    profile = settings["profile"]["name"]
    fig = plot(records, corpora=list(d["corpora"]), cells=list(d["cells"]), baselines=baselines,
               title=common.figure_title(
                   settings, f"Depth — {', '.join(map(str, sorted(d['layers'])))} recurrent "
                   f"layers, hidden {d['hidden']}, {d['epochs']} epochs (profile {profile})"))
    plots.save_figure(fig, base)
    write_csv_atomic(base.with_suffix(".csv"), records_csv(records), FIELDS)
    write_json_atomic(base.with_suffix(".json"), {
        "figure": layout.DEPTH, "profile": profile, "layers": sorted(d["layers"]),
        "hidden": d["hidden"], "epochs": d["epochs"], "seeds": seeds, "runs": records,
        "baselines": baselines, common.DRY_RUN: common.dry_run_of(settings)}, clean=True)
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
