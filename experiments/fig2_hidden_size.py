"""Figure 2: dev loss against hidden size, for both cells.

Usage::

    python experiments/fig2_hidden_size.py --profile quick [--out results/quick]

Trains (or reuses) one run per corpus, cell and hidden size of the profile's ``[fig2]``
settings (a run with Figure 1's settings is shared), then writes
``OUT/figures/fig2_hidden_size.{png,svg}``, the final and best dev loss of every run in
``.csv``, and the runs with their histories in ``.json`` (claim C3).  The final dev loss is
the mean over the last 10% of epochs (:func:`gruvsynth.reproduction.measures.final_value`).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from experiments import common  # noqa: E402

STAGE = "fig2_hidden_size"
FIELDS = ("corpus", "cell", "hidden", "epochs", "seed", "final_dev_loss", "best_dev_loss",
          "best_dev_epoch", "final_loss", "run")


def summary_rows(records: list[dict]) -> list[dict]:
    """Per run: final (smoothed) and best dev loss, final training loss."""
    from gruvsynth.reproduction.measures import final_value

    rows = []
    for r in records:
        dev = [(h["dev_loss"], h["epoch"]) for h in r["history"]
               if h["dev_loss"] is not None and h["dev_loss"] == h["dev_loss"]]
        best = min(dev) if dev else (None, None)
        rows.append({"corpus": r["corpus"], "cell": r["cell"], "hidden": r["hidden"],
                     "epochs": r["epochs"], "seed": r.get("seed", 0),
                     "final_dev_loss": final_value(r["history"], "dev_loss"),
                     "best_dev_loss": best[0], "best_dev_epoch": best[1],
                     "final_loss": final_value(r["history"], "loss"), "run": r["run"]})
    return rows


def plot(rows: list[dict], *, corpora: list[str], cells: list[str], title: str,
         baselines: dict | None = None):
    """One panel per corpus: final (solid) and best (dotted) dev loss against hidden size,
    with the corpus's mean-predictor dev loss; the band is the replicates' min–max."""
    import numpy as np

    from gruvsynth import plots

    fig, axes = plots.new_figure(1, len(corpora), width=6.0 * len(corpora), height=4.6,
                                 squeeze=False)
    for ax, corpus in zip(axes[0], corpora, strict=True):
        for cell in cells:
            mine = [r for r in rows if r["corpus"] == corpus and r["cell"] == cell]
            if not mine:
                continue
            color = plots.CELL_COLORS.get(cell)
            by_size = common.group_replicates(mine, "hidden")
            hidden = [h for (h,) in by_size]

            def stat(key, fn, groups=by_size):
                return [float(fn([r[key] for r in g if r[key] is not None] or [np.nan]))
                        for g in groups.values()]

            n = max(len(g) for g in by_size.values())
            plots.plot_hidden_sizes(hidden, stat("final_dev_loss", np.mean), ax=ax,
                                    color=color, low=stat("final_dev_loss", np.min),
                                    high=stat("final_dev_loss", np.max),
                                    label=f"{plots.cell_label(cell)} final dev ({n} seeds)")
            plots.plot_hidden_sizes(hidden, stat("best_dev_loss", np.mean), ax=ax,
                                    color=color, linestyle=":", marker="x",
                                    label=f"{plots.cell_label(cell)} lowest dev")
        common.draw_baselines(ax, (baselines or {}).get(corpus), train=False)
        epochs = sorted({r["epochs"] for r in rows if r["corpus"] == corpus})
        ax.set_title(f"{corpus}: {len(cells)} cells, {', '.join(map(str, epochs))} epochs",
                     fontsize="medium")
        ax.legend(fontsize="x-small")
    fig.suptitle(title)
    return fig


def run(settings: dict, paths: common.Paths, *, progress: bool = True,
        force: bool = False) -> dict | None:
    """Train the runs and write Figure 2 with its data; skipped when already done."""
    from gruvsynth import plots
    from gruvsynth.fileio import write_csv_atomic, write_json_atomic
    from gruvsynth.reproduction import results as layout

    stage = common.Stage(paths, STAGE, common.stage_settings(settings, "fig2"))
    if stage.done() and not force:
        common.say(f"[{STAGE}] already done (stamp {stage.path}); --force redoes it")
        return None
    t0 = time.perf_counter()
    s = settings["fig2"]
    records = []
    baselines = common.baselines(settings, paths, s["corpora"])
    seeds = common.replicate_seeds(settings, "fig2")
    for corpus in s["corpora"]:
        for cell in s["cells"]:
            for hidden in sorted(s["hidden"]):
                for seed in seeds:
                    run_ = common.trained_run(settings, paths, corpus, cell, hidden=hidden,
                                              epochs=s["epochs"], seed=seed, progress=progress)
                    records.append(common.history_record(run_, corpus, cell, paths.out))
    rows = summary_rows(records)
    base = paths.out / layout.FIGURES_DIR / layout.FIG2
    profile = settings["profile"]["name"]
    fig = plot(rows, corpora=list(s["corpora"]), cells=list(s["cells"]), baselines=baselines,
               title=common.figure_title(
                   settings, f"Figure 2 — dev loss against hidden size "
                   f"({min(s['hidden'])}–{max(s['hidden'])}), profile {profile}"))
    plots.save_figure(fig, base)
    write_csv_atomic(base.with_suffix(".csv"), rows, FIELDS)
    write_json_atomic(base.with_suffix(".json"), {
        "figure": layout.FIG2, "profile": profile, "hidden": sorted(s["hidden"]),
        "epochs": s["epochs"], "seeds": seeds, "summary": rows, "runs": records,
        "baselines": baselines, common.DRY_RUN: common.dry_run_of(settings)}, clean=True)
    stage.mark(time.perf_counter() - t0)
    common.say(f"[{STAGE}] wrote {base}.png")
    return {"rows": rows}


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    settings, paths, args = common.parse(__doc__.split("\n\n")[0], argv)
    run(settings, paths, progress=not args.quiet, force=args.force)
    return 0


if __name__ == "__main__":
    sys.exit(main())
