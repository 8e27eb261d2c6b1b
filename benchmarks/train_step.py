"""Time gruvsynth's training step against a plain PyTorch reference of the same model.

One run times, on whatever device is present, (1) the training step that ``gruvsynth train``
uses (the project) and (2) ``benchmarks/torch_reference.py`` (the reference: ``nn.Linear →
nn.LSTM/nn.GRU → nn.Linear``, MSE, RMSprop with Keras's hyper-parameters), on the same
batches (20 clips of 41 blocks, made once with seed 0), and prints a table whose figure is the ratio ``project ms/step ÷ reference ms/step``.

Configurations (batch 5, 40 time steps, as the paper)::

    tiny     D =  2,050  hidden   128
    medium   D = 11,026  hidden   256
    paper    D = 22,050  hidden 2,048   (the paper's model: 124 M parameters)

``--representation rfft`` uses the one-sided FFT's width for the same block length
(``D = 2 (N // 2 + 1)``: 1,026, 5,514 and 11,026), about half.

How it measures.  Each side runs in its own worker process (so that the two frameworks do not
share threads or memory, and each process's peak memory is its own).  Both workers build their
model, warm up (``--warmup`` steps, or one round with the resident feed, whose compiled
function has the round's shape: tracing and compiling are not timed), then take turns:
``--rounds`` times, the project runs ``--steps`` steps, then the reference runs ``--steps``
steps.  Alternating in short rounds exposes both to the same machine load; the figure kept for
each side is its fastest round (ms per step averaged over the round's steps; the median round
is reported too), because on a shared machine other processes only ever add time.  Each
round ends with a synchronisation (the project's streamed steps return the loss as a Python
float every step, its resident steps once per call, as ``gruvsynth train`` does; the
reference's loss is read once at the end of the round).  Peak memory is each worker's peak resident set size (``ru_maxrss``), read also after
importing the framework, after building the model and after warming up; on a GPU, the
framework's peak device memory as well.  The load average is sampled at every round.

The project's step (``--path``), every path with TensorFlow's op determinism on, as
``gruvsynth train`` does:

``default``
    What ``gruvsynth train`` uses, chosen the same way (``--feed``, ``--precision``): with the
    streamed feed, :class:`gruvsynth.train.steps.KerasSteps` (one ``train_on_batch`` of numpy
    arrays per step, through the fused twin for the LSTM and GRU); with the resident feed
    (JAX; the default on a JAX GPU), :class:`gruvsynth.train.resident.ResidentSteps` (the clips on
    the device, ``--steps-per-call`` steps per compiled call).
``fused``
    ``train_on_batch`` of :func:`gruvsynth.models.fused_model`: the same model and variables,
    the recurrent input product hoisted out of the time loop, a hand-written backward pass
    through time and the whole step compiled with XLA.
``plain``
    ``model.train_on_batch`` of the Keras model as built (Keras's own LSTM/GRU loop), with
    ``--jit-compile`` choosing XLA (default: Keras's choice, which is off on TensorFlow on a CPU).

Usage::

    python benchmarks/train_step.py --config medium --cell lstm --json medium-lstm.json
    python benchmarks/train_step.py --config paper --rounds 3 --steps 2
    python benchmarks/train_step.py --config medium --path plain --project-env TF_ENABLE_ONEDNN_OPTS=0
    KERAS_BACKEND=jax python benchmarks/train_step.py --config paper --steps 40  # on a GPU
    KERAS_BACKEND=jax python benchmarks/train_step.py --config paper --check-loss 200 \
        --precision bfloat16 --steps 40 --steps-per-call 20

``--precision`` applies to both sides (``auto``, the default, as ``gruvsynth train``: float32
on a CPU, tf32 on a GPU; the reference follows what the project resolved): ``float32`` (JAX's
matrix products at ``highest`` precision, TF32 off in TensorFlow and PyTorch), ``tf32`` (TF32
allowed on both; GPUs), ``bfloat16`` (Keras's ``mixed_bfloat16`` policy for the project,
``torch.autocast`` for the reference; float32 weights and optimizer on both).

``--check-loss N`` times nothing: it trains the project's default path N steps at
``--precision`` and again at float32, from the same initial weights on the same batches, and
prints both losses and their relative difference (the issue's "same loss trajectory" check).
The batches are learnable (mixtures of fixed spectra oscillating over the blocks), so the
loss falls.

The JSON has a top-level ``ratio`` (project ms/step ÷ reference ms/step, fastest rounds) for the
``--config`` and ``--cell`` asked, and every figure behind it.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import math
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

HERE = Path(__file__).resolve().parent

#: Model sizes: features D of the ``fft`` representation, hidden units H.
CONFIGS = {
    "tiny": {"features": 2050, "hidden": 128},
    "medium": {"features": 11026, "hidden": 256},
    "paper": {"features": 22050, "hidden": 2048},
}
BATCH = 5
TIME_STEPS = 40
N_BATCHES = 4  # distinct random batches, cycled
LEARNING_RATE = 1e-3

DEFAULT_CONFIG = "medium"
DEFAULT_CELL = "lstm"
DEFAULT_REPRESENTATION = "fft"
DEFAULT_PATH = "default"
DEFAULT_STEPS = 5
DEFAULT_ROUNDS = 4
DEFAULT_WARMUP = 3
DEFAULT_PRECISION = "auto"
DEFAULT_FEED = "auto"
DEFAULT_STEPS_PER_CALL = 20  # gruvsynth.resident.DEFAULT_STEPS_PER_CALL (checked by a test)
PATHS = ("default", "fused", "plain")
FEEDS = ("auto", "stream", "resident")
PRECISIONS = ("auto", "float32", "tf32", "bfloat16")


def sizes(config: str, representation: str) -> tuple[int, int]:
    """``(features, hidden)`` of a configuration in a representation."""
    from gruvsynth.features import block_size, feature_size

    size = CONFIGS[config]
    n = block_size(size["features"], "fft")
    return feature_size(n, representation), size["hidden"]


def _rows(features: int):
    """``N_BATCHES * BATCH`` clips of ``TIME_STEPS + 1`` blocks (seed 0): batch ``i`` is clips
    ``[BATCH i, BATCH (i + 1))``, inputs ``rows[:, :-1]``, targets ``rows[:, 1:]``.

    Each clip is a mix of 8 fixed random spectra whose weights oscillate at random rates and
    phases over the blocks, plus 10 % noise, scaled to unit variance: the next block can be
    learned, so the loss falls (which ``--check-loss`` needs), unlike on white noise.
    """
    import numpy as np

    rng = np.random.default_rng(0)
    n, t, k = N_BATCHES * BATCH, TIME_STEPS + 1, 8
    spectra = rng.standard_normal((k, features)).astype(np.float32)
    rate = rng.uniform(0.05, 0.5, (n, 1, k))
    phase = rng.uniform(0, 2 * np.pi, (n, 1, k))
    weights = np.sin(rate * np.arange(t)[None, :, None] + phase).astype(np.float32)
    rows = weights @ spectra
    rows += 0.1 * np.sqrt(k / 2) * rng.standard_normal(rows.shape, dtype=np.float32)
    rows /= rows.std()
    return rows


def _batches(features: int):
    import numpy as np

    rows = _rows(features)
    return [(np.ascontiguousarray(rows[i * BATCH:(i + 1) * BATCH, :-1]),
             np.ascontiguousarray(rows[i * BATCH:(i + 1) * BATCH, 1:]))
            for i in range(N_BATCHES)]


def _batch_index(i: int):
    import numpy as np

    return np.arange(BATCH) + BATCH * (i % N_BATCHES)


def _rss_mb() -> float:
    """Peak resident set size of this process so far, in MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _current_rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


# --- workers ---------------------------------------------------------------------------------


#: The PyTorch reference layer of each cell the benchmark times.
REFERENCE_CELL = {"lstm": "lstm", "gru": "gru", "keras01_lstm": "lstm", "keras01_gru": "gru"}


def _project_model(args, features: int, hidden: int):
    """Build the project's model under ``--precision`` (entered and kept for the process)."""
    import keras

    from gruvsynth.backends import enable_determinism, precision_scope
    from gruvsynth.models import build_model

    scope = precision_scope(args.precision)
    precision = scope.__enter__()  # this worker process lives inside it
    enable_determinism()  # as gruvsynth.training.train does, whichever path is timed
    model = build_model(cell=args.cell, hidden=hidden, features=features,
                        learning_rate=LEARNING_RATE, seed=0)
    return model, precision, keras.mixed_precision.global_policy().name


def _project_steps(args, model, rows):
    """The project's step as ``run(first, count) -> last loss`` and a description."""
    import keras

    path = args.path
    if path == "default":
        from gruvsynth.train import resident
        from gruvsynth.train.steps import KerasSteps

        feed = resident.choose_feed(args.feed, backend=keras.backend.backend(),
                                    distributed=False, nbytes=rows.nbytes)
        if feed == "resident":
            steps = resident.ResidentSteps(model, {"train": rows},
                                           steps_per_call=args.steps_per_call,
                                           unroll=args.unroll)

            def run(first, count):
                loss, bad, bad_loss = steps.train_epoch(
                    [_batch_index(i) for i in range(first, first + count)])
                if bad is not None:
                    raise RuntimeError(f"non-finite training loss {bad_loss}")
                return loss

            return run, (f"gruvsynth.resident.ResidentSteps via "
                         f"{type(steps.trainer).__name__} ({args.steps_per_call} steps per "
                         f"call, unroll {args.unroll})"), feed
        steps = KerasSteps(model)
        if args.unroll != 1 and steps.trainer is not model:
            from gruvsynth.models import fused_model

            steps.trainer = fused_model(model, unroll=args.unroll)
        batches = _batches(rows.shape[-1])

        def run(first, count):
            loss = None
            for i in range(first, first + count):
                loss = steps.batch_loss(*batches[i % N_BATCHES], train=True)
                if not math.isfinite(loss):
                    raise RuntimeError(f"non-finite training loss {loss}")
            return loss

        return run, (f"gruvsynth.train.steps.KerasSteps via {type(steps.trainer).__name__} "
                     f"(jit_compile={steps.trainer.jit_compile})"), feed
    from gruvsynth.models import fused_model

    if path == "fused":
        kwargs = {"unroll": args.unroll}
        if args.jit_compile is not None:
            kwargs["jit_compile"] = args.jit_compile
        trainer = fused_model(model, **kwargs)
        if trainer is None:
            raise SystemExit(f"no fused path for cell {args.cell!r}")
        what = f"gruvsynth.models.fused_model (jit_compile={trainer.jit_compile})"
    else:
        trainer = model
        if args.jit_compile is not None:
            model.compile(loss="mse", optimizer=keras.optimizers.RMSprop(LEARNING_RATE),
                          jit_compile=args.jit_compile)
        what = f"keras model.train_on_batch (jit_compile={model.jit_compile})"
    batches = _batches(rows.shape[-1])

    def run(first, count):
        loss = None
        for i in range(first, first + count):
            x, y = batches[i % N_BATCHES]
            loss = float(trainer.train_on_batch(x, y))
        return loss

    return run, what, "stream"


def _project_worker(args, features: int, hidden: int):
    """Build the project's step; return (run(first, count) -> loss, info)."""
    from gruvsynth.backends import accelerator, select_backend

    backend = select_backend(args.backend)
    import keras  # noqa: F401

    info = {"backend": backend, "rss_import_mb": _rss_mb(),
            "env": {k: os.environ[k] for k in sorted(os.environ)
                    if k.startswith(("TF_ENABLE_ONEDNN", "XLA_FLAGS", "OMP_", "JAX_"))}}
    model, precision, policy = _project_model(args, features, hidden)
    info.update(params=int(model.count_params()), precision=precision, dtype_policy=policy,
                device=accelerator())
    run, what, feed = _project_steps(args, model, _rows(features))
    info.update(step=what, feed=feed, rss_built_mb=_rss_mb())
    return run, info


def _trajectory(args, features: int, hidden: int) -> dict:
    """Loss after ``--check-loss`` steps: the default path at ``--precision`` against the same
    path in float32 (same initial weights, same batches); one process, one after the other."""
    from gruvsynth.backends import precision_scope, select_backend

    select_backend(args.backend)
    import keras

    from gruvsynth.backends import enable_determinism
    from gruvsynth.models import build_model

    enable_determinism()
    out = {}
    rows = _rows(features)
    for name in ("float32", args.precision):
        if name in out:
            continue
        with precision_scope(name) as resolved:
            model = build_model(cell=args.cell, hidden=hidden, features=features,
                                learning_rate=LEARNING_RATE, seed=0)
            run, what, feed = _project_steps(args, model, rows)
            losses = []
            t0 = time.perf_counter()
            for first in range(0, args.check_loss, args.steps):
                count = min(args.steps, args.check_loss - first)
                losses.append(run(first, count))
            out[name] = {"precision": resolved, "step": what, "feed": feed,
                         "policy": keras.mixed_precision.global_policy().name,
                         "losses_per_round": losses, "final_loss": losses[-1],
                         "seconds": time.perf_counter() - t0}
        del model
    ref = out["float32"]["final_loss"]
    got = out[args.precision]["final_loss"]
    return {"steps": args.check_loss, "runs": out, "relative_difference": abs(got - ref) / ref}


def _reference_worker(args, features: int, hidden: int):
    sys.path.insert(0, str(HERE))
    import torch
    from torch_reference import make_step, param_count

    info = {"backend": f"torch {torch.__version__}", "rss_import_mb": _rss_mb()}
    device = "cuda" if torch.cuda.is_available() else "cpu"
    if args.threads:
        torch.set_num_threads(args.threads)
    reference = REFERENCE_CELL[args.cell]
    model, train = make_step(features=features, hidden=hidden, cell=reference,
                             learning_rate=LEARNING_RATE, precision=args.precision,
                             device=device)
    info.update(params=param_count(model), device=device, threads=torch.get_num_threads(),
                precision=args.precision,
                step=f"torch_reference.make_step (nn.Linear, nn.{reference.upper()}, "
                     "nn.Linear; RMSprop)")
    batches = [(torch.from_numpy(x).to(device), torch.from_numpy(y).to(device))
               for x, y in _batches(features)]
    info["rss_built_mb"] = _rss_mb()

    def run(first, count):
        loss = None
        for i in range(first, first + count):
            x, y = batches[i % N_BATCHES]
            loss = train(x, y)
        return float(loss.item()) if loss is not None else None  # waits for the device

    run.device_peak = (lambda: torch.cuda.max_memory_allocated() / 2**20) if device == "cuda" \
        else None
    return run, info


def _device_peak_mb(backend: str):
    try:
        if backend == "jax":
            import jax

            stats = jax.devices()[0].memory_stats() or {}
            if "peak_bytes_in_use" in stats:
                return stats["peak_bytes_in_use"] / 2**20
    except Exception:  # a missing statistic must not stop a benchmark
        pass
    return None


def worker_main(args) -> int:
    """Serve one side: build, warm up, then answer ``run N`` lines until ``quit``."""
    features, hidden = sizes(args.config, args.representation)
    out = sys.stdout
    sys.stdout = sys.stderr  # library chatter must not reach the protocol stream
    if args.worker == "project":
        run, info = _project_worker(args, features, hidden)
    else:
        run, info = _reference_worker(args, features, hidden)
    device_peak = getattr(run, "device_peak", None)
    start = time.perf_counter()
    # the resident feed compiles one function per group shape: warm up with a whole round
    warmup = args.steps if info.get("feed") == "resident" else args.warmup
    loss = run(0, warmup) if warmup else None
    info.update(warmup_s=time.perf_counter() - start, rss_warm_mb=_rss_mb(),
                rss_now_mb=_current_rss_mb(), features=features, hidden=hidden,
                warmup_loss=loss)
    print(json.dumps({"ready": info}), file=out, flush=True)
    n = warmup
    for line in sys.stdin:
        words = line.split()
        if not words or words[0] != "run":
            break
        count = int(words[1])
        t0 = time.perf_counter()
        loss = run(n, count)
        n += count
        elapsed = time.perf_counter() - t0
        print(json.dumps({"seconds": elapsed, "steps": count, "loss": loss}), file=out,
              flush=True)
    final = {"rss_peak_mb": _rss_mb(), "steps_done": n, "last_loss": loss}
    if device_peak is not None:
        final["device_peak_mb"] = device_peak()
    elif args.worker == "project":
        final["device_peak_mb"] = _device_peak_mb(info["backend"])
    print(json.dumps({"done": final}), file=out, flush=True)
    return 0


# --- the parent ------------------------------------------------------------------------------


class Worker:
    """A worker process speaking the line protocol of :func:`worker_main`."""

    def __init__(self, role: str, args, env_extra: dict, precision: str | None = None):
        command = [sys.executable, str(Path(__file__).resolve()), "--worker", role,
                   "--config", args.config, "--cell", args.cell,
                   "--representation", args.representation, "--path", args.path,
                   "--warmup", str(args.warmup), "--precision", precision or args.precision,
                   "--feed", args.feed, "--steps", str(args.steps),
                   "--steps-per-call", str(args.steps_per_call), "--unroll", str(args.unroll)]
        if args.backend:
            command += ["--backend", args.backend]
        if args.jit_compile is not None:
            command += ["--jit-compile", "on" if args.jit_compile else "off"]
        if args.threads:
            command += ["--threads", str(args.threads)]
        env = {**os.environ, **env_extra}
        self.role = role
        self.proc = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=None if args.verbose else subprocess.DEVNULL,
                                     text=True, env=env)
        self.info = self._read("ready")

    def _read(self, key: str) -> dict:
        line = self.proc.stdout.readline()
        if not line:
            code = self.proc.wait()
            raise SystemExit(f"the {self.role} worker stopped (exit code {code}); "
                             "rerun with --verbose to see why")
        message = json.loads(line)
        return message[key] if key else message

    def run(self, steps: int) -> dict:
        self.proc.stdin.write(f"run {steps}\n")
        self.proc.stdin.flush()
        return self._read("")

    def finish(self) -> dict:
        self.proc.stdin.write("quit\n")
        self.proc.stdin.flush()
        done = self._read("done")
        self.proc.wait()
        return done


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _summary(rounds: list[dict]) -> dict:
    per_step = sorted(1000 * r["seconds"] / r["steps"] for r in rounds)
    return {"ms_per_step_min": per_step[0], "ms_per_step_median": per_step[len(per_step) // 2],
            "ms_per_step_rounds": per_step}


def bench(args) -> dict:
    """Run both workers in alternating rounds; return every figure."""
    features, hidden = sizes(args.config, args.representation)
    env_extra = dict(kv.split("=", 1) for kv in args.project_env)
    roles = [r for r in ("project", "reference") if args.only in (None, r)]
    workers = {}
    try:
        precision = None
        for role in roles:  # built one after the other: peak memory is each one's own
            workers[role] = Worker(role, args, env_extra if role == "project" else {},
                                   precision=precision)
            # the reference computes in the precision the project resolved ("auto")
            precision = workers[role].info.get("precision") if role == "project" else None
            if precision == "auto" or args.precision != "auto":
                precision = None
        rounds = {role: [] for role in roles}
        loads = []
        for _ in range(args.rounds):
            loads.append(os.getloadavg()[0])
            for role in roles:
                rounds[role].append(workers[role].run(args.steps))
        done = {role: workers[role].finish() for role in roles}
    finally:
        for w in workers.values():
            if w.proc.poll() is None:
                w.proc.kill()
    result = {
        "config": args.config, "cell": args.cell, "representation": args.representation,
        "features": features, "hidden": hidden, "batch": BATCH, "time_steps": TIME_STEPS,
        "path": args.path, "feed": args.feed, "precision": args.precision,
        "steps_per_call": args.steps_per_call, "unroll": args.unroll,
        "steps_per_round": args.steps, "rounds": args.rounds, "warmup": args.warmup,
        "load_average": loads, "load_average_end": os.getloadavg()[0],
    }
    for role in roles:
        result[role] = {**workers[role].info, **done[role], **_summary(rounds[role]),
                        "round_losses": [r["loss"] for r in rounds[role]]}
    if len(roles) == 2:
        p, r = result["project"], result["reference"]
        result["ratio"] = p["ms_per_step_min"] / r["ms_per_step_min"]
        result["ratio_median"] = p["ms_per_step_median"] / r["ms_per_step_median"]
        result["memory_ratio"] = p["rss_peak_mb"] / r["rss_peak_mb"]
    else:
        result["ratio"] = None
    return result


def machine() -> dict:
    """Where and when the figures were taken."""
    return {"date": _dt.datetime.now().astimezone().isoformat(timespec="seconds"),
            "cpu": _cpu_model(), "cores": os.cpu_count(), "platform": platform.platform(),
            "python": platform.python_version(), "command": " ".join(sys.argv)}


def table(results: list[dict]) -> str:
    """The results as a fixed-width text table."""
    head = (f"{'config':7} {'cell':4} {'repr':4} {'backend':10} {'dev':3} {'precision':9} "
            f"{'feed':8} {'project ms':>11} "
            f"{'reference ms':>12} {'ratio':>6} {'proj MB':>8} {'ref MB':>7} {'mem':>5} "
            f"{'load':>4}")
    lines = [head, "-" * len(head)]
    for r in results:
        p, q = r.get("project"), r.get("reference")

        def ms(side):
            return f"{side['ms_per_step_min']:.1f}" if side else "-"

        def mb(side):
            return f"{side['rss_peak_mb']:.0f}" if side else "-"

        ratio = f"{r['ratio']:.2f}" if r.get("ratio") is not None else "-"
        mem = f"{r['memory_ratio']:.2f}" if r.get("memory_ratio") is not None else "-"
        backend = p["backend"] if p else "-"
        load = max(r["load_average"]) if r["load_average"] else float("nan")
        dev = p.get("device", "-") if p else "-"
        prec = p.get("precision", "-") if p else r.get("precision", "-")
        feed = p.get("feed", "-") if p else "-"
        lines.append(f"{r['config']:7} {r['cell']:4} {r['representation']:4} {backend:10} "
                     f"{dev:3} {prec:9} {feed:8} "
                     f"{ms(p):>11} {ms(q):>12} {ratio:>6} {mb(p):>8} {mb(q):>7} {mem:>5} "
                     f"{load:4.1f}")
    lines.append("ms: fastest round's mean ms/step; MB: peak resident memory (ru_maxrss) of "
                 "each worker; ratio = project / reference")
    return "\n".join(lines)


def _on_off(text: str) -> bool:
    if text not in ("on", "off"):
        raise argparse.ArgumentTypeError("expected 'on' or 'off'")
    return text == "on"


def build_parser() -> argparse.ArgumentParser:
    """The command line (see the module docstring)."""
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Configurations: " + ", ".join(
            f"{k} (D={v['features']}, hidden={v['hidden']})" for k, v in CONFIGS.items()))
    parser.add_argument("--config", choices=list(CONFIGS), default=DEFAULT_CONFIG,
                        help=f"model size (default {DEFAULT_CONFIG})")
    parser.add_argument("--cell", choices=list(REFERENCE_CELL), default=DEFAULT_CELL,
                        help=f"recurrent cell (default {DEFAULT_CELL}); the PyTorch reference "
                        "for keras01_lstm / keras01_gru is nn.LSTM / nn.GRU (the same products "
                        "per step, other activations)")
    parser.add_argument("--representation", choices=["fft", "rfft"],
                        default=DEFAULT_REPRESENTATION,
                        help=f"feature representation, sets D (default {DEFAULT_REPRESENTATION})")
    parser.add_argument("--backend", choices=["tensorflow", "jax", "torch"], default=None,
                        help="Keras backend of the project (default: KERAS_BACKEND, else "
                             "tensorflow)")
    parser.add_argument("--path", choices=PATHS, default=DEFAULT_PATH,
                        help=f"the project's step (default {DEFAULT_PATH}: what gruvsynth train "
                             "uses)")
    parser.add_argument("--jit-compile", type=_on_off, default=None, metavar="on|off",
                        help="force XLA on or off, with --path fused or plain (default: the "
                             "path's own choice)")
    parser.add_argument("--feed", choices=FEEDS, default=DEFAULT_FEED,
                        help="with --path default: how batches reach the project's model, as "
                             "gruvsynth train --feed (stream: numpy batches through "
                             "train_on_batch; resident: JAX, clips on the device, several "
                             "steps per compiled call; auto: resident on a JAX GPU) "
                             f"(default {DEFAULT_FEED})")
    parser.add_argument("--steps-per-call", type=int, default=DEFAULT_STEPS_PER_CALL,
                        help="training steps per compiled call with the resident feed "
                             f"(default {DEFAULT_STEPS_PER_CALL})")
    parser.add_argument("--unroll", type=int, default=1,
                        help="time steps per iteration of the fused twin's time loops "
                             "(default 1)")
    parser.add_argument("--precision", choices=PRECISIONS, default=DEFAULT_PRECISION,
                        help="as gruvsynth train --precision: float32 (JAX: highest "
                             "matrix-product precision; PyTorch: TF32 off), tf32 (TF32 matrix "
                             "products on GPUs), bfloat16 (project: Keras's mixed_bfloat16 "
                             "policy; reference: torch.autocast), auto (float32 on a CPU, "
                             "tf32 on a GPU; the reference follows the project) "
                             f"(default {DEFAULT_PRECISION})")
    parser.add_argument("--check-loss", type=int, default=0, metavar="N",
                        help="instead of timing: train the project's default path N steps at "
                             "--precision and at float32 from the same weights on the same "
                             "batches, and compare the final losses")
    parser.add_argument("--steps", type=int, default=DEFAULT_STEPS,
                        help=f"timed steps per round (default {DEFAULT_STEPS})")
    parser.add_argument("--rounds", type=int, default=DEFAULT_ROUNDS,
                        help=f"alternating rounds (default {DEFAULT_ROUNDS})")
    parser.add_argument("--warmup", type=int, default=DEFAULT_WARMUP,
                        help=f"untimed steps first (default {DEFAULT_WARMUP})")
    parser.add_argument("--threads", type=int, default=0,
                        help="torch.set_num_threads for the reference (default: torch's)")
    parser.add_argument("--project-env", action="append", default=[], metavar="KEY=VALUE",
                        help="environment variable for the project worker only (repeatable), "
                             "e.g. TF_ENABLE_ONEDNN_OPTS=0")
    parser.add_argument("--only", choices=["project", "reference"], default=None,
                        help="time one side only (no ratio)")
    parser.add_argument("--json", metavar="FILE", help="also write the figures as JSON")
    parser.add_argument("--verbose", action="store_true", help="show the workers' stderr")
    parser.add_argument("--worker", choices=["project", "reference"], help=argparse.SUPPRESS)
    return parser


def main(argv=None) -> int:
    """Run the benchmark; print the table; write ``--json``."""
    args = build_parser().parse_args(argv)
    if args.worker:
        return worker_main(args)
    for name in ("steps", "rounds", "steps_per_call", "unroll"):
        if getattr(args, name) < 1:
            raise SystemExit(f"--{name.replace('_', '-')} must be at least 1")
    if args.check_loss < 0:
        raise SystemExit("--check-loss must not be negative")
    if args.warmup < 0:
        raise SystemExit("--warmup must not be negative")
    if args.jit_compile is not None and args.path == "default":
        raise SystemExit("--jit-compile needs --path fused or --path plain (the default path "
                         "is what gruvsynth train runs, unchanged)")
    for kv in args.project_env:
        if "=" not in kv:
            raise SystemExit(f"--project-env wants KEY=VALUE, got {kv!r}")
    if args.check_loss:
        features, hidden = sizes(args.config, args.representation)
        check = _trajectory(args, features, hidden)
        report = {"machine": machine(), "config": args.config, "cell": args.cell,
                  "check_loss": check}
        for name, r in check["runs"].items():
            print(f"{args.config} {args.cell} {name:9} ({r['precision']}, {r['feed']}): loss "
                  f"after {check['steps']} steps {r['final_loss']:.6g} "
                  f"({r['seconds']:.1f} s)")
        print(f"relative difference: {100 * check['relative_difference']:.3f} %")
    else:
        result = bench(args)
        report = {"ratio": result["ratio"], "machine": machine(), "results": [result]}
        print(table([result]))
    if args.json:
        from gruvsynth.fileio import write_json_atomic

        write_json_atomic(Path(args.json), report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
