"""Sweep: which small settings make the models learn, and at what cost in minutes.

Usage::

    python experiments/sweep_quick.py --profile quick --cells keras01_lstm,lstm \\
        --hidden 128,256 --lr 1e-3,3e-3,1e-2 --epochs 150 --out results/sweep

Trains one run per corpus, cell, hidden size and learning rate on the profile's corpora (the
rest of the profile's ``[train]`` settings, seed 0), for ``--epochs`` epochs, and reports for
each run what the quick profile needs to know (issue: "every Figure-1 model ends with training
loss at least 20 % below its corpus's mean-predictor level"):

* the mean predictor's training loss of the corpus (:func:`gruvsynth.evaluation.baseline_losses`);
* the training loss (mean of the last 10 % of epochs so far) at each of ``--at`` epochs, and
  its skill against the best trivial predictor;
* the first epoch at which the training loss is ``--target`` (20 %) below the mean predictor,
  and the minutes it took to get there (the run's measured seconds per epoch);
* the final dev loss, its lowest value and epoch (overfitting shows as a rise after it).

Writes ``OUT/sweep.json`` and ``OUT/sweep.csv`` and prints the table; the runs are kept in
``OUT/runs/`` (a run already there is reused or resumed).  One loss history answers every
epoch count up to ``--epochs``, so a sweep over epochs costs nothing extra.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from experiments import common  # noqa: E402

FIELDS = ("corpus", "cell", "hidden", "learning_rate", "epochs", "mean_train", "seconds_epoch",
          "target_epoch", "target_minutes", "final_loss", "final_skill", "final_dev_loss",
          "best_dev_loss", "best_dev_epoch", "run", "diverged")


def _floats(text: str) -> list[float]:
    return [float(v) for v in text.split(",") if v.strip()]


def _ints(text: str) -> list[int]:
    return [int(v) for v in text.split(",") if v.strip()]


def measure(history: list[dict], mean_train: float, best_train: float, *, target: float,
            at: list[int]) -> dict:
    """What one run's history says: losses at given epochs, when it reached the target.

    Parameters
    ----------
    history : list of dict
        The run's history (``epoch``, ``loss``, ``dev_loss``, ``seconds``).
    mean_train : float
        The corpus's mean-predictor training loss.
    best_train : float
        The best trivial predictor's training loss (for the skill).
    target : float
        Share below ``mean_train`` to reach (0.2: 20 %).
    at : list of int
        Epochs at which to report the (smoothed) training loss.

    Returns
    -------
    dict
    """
    import math

    from gruvsynth.evaluation import skill
    from gruvsynth.reproduction.measures import final_value

    out: dict = {}
    goal = (1.0 - target) * mean_train
    reached = next((r["epoch"] for r in history if r["loss"] <= goal), None)
    seconds = [r["seconds"] for r in history if math.isfinite(r["seconds"])]
    per_epoch = sum(seconds) / len(seconds) if seconds else None
    out["seconds_epoch"] = per_epoch
    out["target_epoch"] = reached
    out["target_minutes"] = (reached * per_epoch / 60 if reached is not None and per_epoch
                             else None)
    for epoch in at:
        upto = [r for r in history if r["epoch"] <= epoch]
        if upto and upto[-1]["epoch"] == epoch:
            loss = final_value(upto, "loss")
            out[f"loss_at_{epoch}"] = loss
            out[f"skill_at_{epoch}"] = skill(loss, best_train)
    out["final_loss"] = final_value(history, "loss")
    out["final_skill"] = skill(out["final_loss"], best_train)
    out["final_dev_loss"] = final_value(history, "dev_loss")
    dev = [(r["dev_loss"], r["epoch"]) for r in history if math.isfinite(r["dev_loss"])]
    best = min(dev) if dev else (None, None)
    out["best_dev_loss"], out["best_dev_epoch"] = best
    return out


def table(rows: list[dict], at: list[int]) -> str:
    """The sweep as a plain-text table."""
    def f(v, spec):
        return "-" if v is None else format(v, spec)

    head = (f"{'corpus':12} {'cell':13} {'hidden':>6} {'lr':>7} {'mean':>6} "
            + "".join(f"{'@' + str(e):>8}" for e in at)
            + f" {'20%@ep':>7} {'min':>6} {'s/ep':>5} {'dev':>7} {'bestdev':>8}")
    lines = [head, "-" * len(head)]
    for r in rows:
        if r.get("diverged") and r.get("final_loss") is None:
            lines.append(f"{r['corpus']:12} {r['cell']:13} {r['hidden']:>6} "
                         f"{r['learning_rate']:>7g} diverged before its first epoch ended")
            continue
        lines.append(
            f"{r['corpus']:12} {r['cell']:13} {r['hidden']:>6} {r['learning_rate']:>7g} "
            f"{f(r['mean_train'], '.3f'):>6} "
            + "".join(f"{f(r.get(f'loss_at_{e}'), '.3f'):>8}" for e in at)
            + f" {f(r['target_epoch'], 'd'):>7} {f(r['target_minutes'], '.1f'):>6} "
              f"{f(r['seconds_epoch'], '.2f'):>5} {f(r['final_dev_loss'], '.4f'):>7} "
              f"{f(r['best_dev_loss'], '.4f'):>8}@{f(r['best_dev_epoch'], 'd')}"
            + (" diverged" if r.get("diverged") else ""))
    lines.append("loss @E: training loss at epoch E (mean of the last 10 % of epochs); 20%@ep: "
                 "first epoch 20 % below the mean predictor, and the minutes to it")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    common.add_arguments(parser)
    parser.add_argument("--corpora", default=None,
                        help="comma-separated corpus names (default: the profile's)")
    parser.add_argument("--cells", default="keras01_lstm,keras01_gru,lstm,gru",
                        help="comma-separated cells (default: both families' LSTM and GRU)")
    parser.add_argument("--hidden", default="128,256", help="comma-separated hidden sizes")
    parser.add_argument("--lr", default="1e-3,3e-3", help="comma-separated learning rates")
    parser.add_argument("--epochs", type=int, default=150, help="epochs per run (default 150)")
    parser.add_argument("--at", default="60,120,150",
                        help="epochs at which to report the loss (default 60,120,150)")
    parser.add_argument("--target", type=float, default=0.2,
                        help="share below the mean predictor to reach (default 0.2)")
    args = parser.parse_args(argv)
    settings = common.load_profile(args.profile)
    paths = common.paths_for(args, args.profile)
    if args.out is None:
        paths.out = common.DEFAULT_RESULTS / f"sweep-{common.profile_name(args.profile)}"
        paths.runs = paths.out / "runs"
    corpora = args.corpora.split(",") if args.corpora else list(settings["corpus"]["names"])
    cells = [c for c in args.cells.split(",") if c]
    at = sorted(e for e in _ints(args.at) if e <= args.epochs)
    from gruvsynth.errors import GruvError, TrainingDivergedError
    from gruvsynth.evaluation import best_baseline
    from gruvsynth.fileio import write_csv_atomic, write_json_atomic
    from gruvsynth.training import open_run, train

    common.prepare_corpora(settings, paths, progress=not args.quiet)
    baselines = common.baselines(settings, paths, corpora)
    rows, t0 = [], time.perf_counter()
    for corpus in corpora:
        mean_train = baselines[corpus]["train"]["mean"]
        _, best_train = best_baseline(baselines[corpus]["train"])
        for cell in cells:
            for hidden in _ints(args.hidden):
                for lr in _floats(args.lr):
                    name = f"{corpus}-{cell}-h{hidden}-lr{lr:g}-e{args.epochs}"
                    config = common.train_config(
                        settings, cell, hidden=hidden, layers=1, epochs=args.epochs).replace(
                        learning_rate=lr, checkpoint_every=args.epochs, keep_checkpoints=1,
                        keep_best=False)
                    common.say(f"[sweep] {name}")
                    row = {"corpus": corpus, "cell": cell, "hidden": hidden,
                           "learning_rate": lr, "epochs": args.epochs,
                           "mean_train": mean_train,
                           "run": common.rel(paths.runs / name, paths.out), "diverged": None}
                    try:
                        run = train(paths.corpus(corpus), paths.runs / name, config=config,
                                    progress=not args.quiet)
                    except TrainingDivergedError as exc:  # a result of the sweep, not a crash
                        common.say(f"[sweep] {name}: {exc}")
                        try:
                            history = open_run(paths.runs / name).history
                        except GruvError:  # nothing was written yet
                            history = []
                        row["diverged"] = str(exc)
                    else:
                        history = run.history
                    if history:
                        row.update(measure(history, mean_train, best_train,
                                           target=args.target, at=at))
                    rows.append(row)
    fields = (*FIELDS, *(f"{k}_at_{e}" for e in at for k in ("loss", "skill")))
    write_csv_atomic(paths.out / "sweep.csv", rows, fields)
    write_json_atomic(paths.out / "sweep.json", {"profile": settings["profile"]["name"],
                                                 "target": args.target, "at": at, "rows": rows,
                                                 "baselines": baselines,
                                                 "seconds": time.perf_counter() - t0},
                      clean=True)
    common.say(table(rows, at))
    common.say(f"wrote {paths.out / 'sweep.json'} and sweep.csv "
               f"({(time.perf_counter() - t0) / 60:.1f} min)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
