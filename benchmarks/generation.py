"""Time stateful (O(n)) against faithful (O(n²)) generation.

A 40-block seed is extended by 120 blocks (a generation sequence of 160 blocks, 4× the seed)
with an LSTM model of random weights, once with ``method="faithful"`` (the authors' loop, the
whole growing sequence re-fed every iteration) and once with ``method="stateful"``.  Each
method is warmed up first (a 2-iteration call, so compilation is not timed) and then timed
over one full call.  Both outputs are compared (relative error).

Configurations::

    small   features 2,048 (blocks of 1,024 samples), hidden 256
    paper   features 22,050 (blocks of 11,025 samples), hidden 2,048 — the paper's model

Usage::

    python benchmarks/generation.py --config small --json small.json
    python benchmarks/generation.py --config paper --json paper.json
    python benchmarks/generation.py --config all

The JSON has a top-level ``ratio`` (faithful time / stateful time) for the configuration asked
(the first one with ``--config all``) and a ``results`` list with one entry per configuration.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

CONFIGS = {
    "small": {"features": 2048, "hidden": 256},
    "paper": {"features": 22050, "hidden": 2048},
}
DEFAULT_CONFIG = "small"
DEFAULT_SEED_BLOCKS = 40
DEFAULT_ITERATIONS = 120
DEFAULT_CELL = "lstm"


def bench(name: str, *, seed_blocks: int, iterations: int, cell: str) -> dict:
    """Time both methods for one configuration and return the numbers."""
    import keras
    import numpy as np

    from gruvsynth.generation import generate
    from gruvsynth.models import build_model

    size = CONFIGS[name]
    model = build_model(cell=cell, hidden=size["hidden"], features=size["features"],
                        compile=False, seed=0)
    rng = np.random.default_rng(0)
    seed = rng.standard_normal((seed_blocks, size["features"])).astype(np.float32)
    times, outputs = {}, {}
    for method in ("stateful", "faithful"):
        generate(model, seed, iterations=2, method=method, progress=False)  # warm up / compile
        start = time.perf_counter()
        outputs[method] = generate(model, seed, iterations=iterations, method=method,
                                   progress=False)
        times[method] = time.perf_counter() - start
    a, b = outputs["faithful"], outputs["stateful"]
    return {
        "config": name,
        "cell": cell,
        "features": size["features"],
        "hidden": size["hidden"],
        "seed_blocks": seed_blocks,
        "iterations": iterations,
        "output_blocks": int(a.shape[0]),
        "faithful_s": times["faithful"],
        "stateful_s": times["stateful"],
        "stateful_ms_per_block": 1000 * times["stateful"] / (seed_blocks + iterations),
        "ratio": times["faithful"] / times["stateful"],
        "relative_error": float(np.linalg.norm(a - b) / np.linalg.norm(a)),
        "backend": keras.backend.backend(),
    }


def table(results: list[dict]) -> str:
    """A plain-text table of the results."""
    head = (f"{'config':8} {'D':>6} {'H':>5} {'blocks':>7} {'faithful s':>11} "
            f"{'stateful s':>11} {'ratio':>7} {'rel err':>9}")
    rows = [head, "-" * len(head)]
    for r in results:
        rows.append(
            f"{r['config']:8} {r['features']:6d} {r['hidden']:5d} "
            f"{r['seed_blocks']:>3d}+{r['iterations']:<3d} {r['faithful_s']:11.2f} "
            f"{r['stateful_s']:11.2f} {r['ratio']:6.1f}x {r['relative_error']:9.1e}"
        )
    return "\n".join(rows)


def main(argv=None) -> int:
    """Run the benchmark from the command line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", choices=[*CONFIGS, "all"], default=DEFAULT_CONFIG,
                        help=f"model size to time (default {DEFAULT_CONFIG})")
    parser.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    parser.add_argument("--seed-blocks", type=int, default=DEFAULT_SEED_BLOCKS,
                        help=f"seed length in blocks (default {DEFAULT_SEED_BLOCKS})")
    parser.add_argument("--iterations", type=int, default=DEFAULT_ITERATIONS,
                        help=f"blocks generated after the seed (default {DEFAULT_ITERATIONS})")
    parser.add_argument("--cell", default=DEFAULT_CELL, help=f"cell (default {DEFAULT_CELL})")
    args = parser.parse_args(argv)

    names = list(CONFIGS) if args.config == "all" else [args.config]
    results = [bench(n, seed_blocks=args.seed_blocks, iterations=args.iterations,
                     cell=args.cell) for n in names]
    print(table(results))
    if args.json:
        data = {
            "ratio": results[0]["ratio"],
            "config": results[0]["config"],
            "results": results,
            "machine": {"platform": platform.platform(), "cpus": os.cpu_count(),
                        "python": platform.python_version()},
        }
        from gruvsynth.fileio import write_json_atomic

        write_json_atomic(args.json, data, indent=2, allow_nan=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
