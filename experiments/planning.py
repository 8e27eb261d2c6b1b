"""What a profile will need before it starts: disk, memory and time, from its runs' sizes.

:func:`make_plan` works out, for the runs ``experiments/reproduce.py`` is about to make:

corpora
    Each corpus's clips and bytes: read from the corpus when it is prepared with the
    profile's settings, else computed from the built-in corpus's track lengths
    (``gruvsynth/data/corpora.json``) with the same clip and split rules as
    :func:`gruvsynth.corpus.prepare_corpus` (float32 rows of ``D`` features).
checkpoints and final models
    Each run's parameter count (:func:`gruvsynth.models.param_count`); a checkpoint holds
    the weights and RMSprop's velocities, one float32 each (``8 × parameters`` bytes plus
    about 27 KB of HDF5 and JSON); :func:`gruvsynth.train.loop.train` keeps the newest
    ``keep_checkpoints`` of them, writes the next one beside them before pruning (one more
    for a moment) and makes ``model.keras`` a hard link to the last one (no bytes), or a copy
    where the file system has no hard links (probed in the runs folder).
samples
    The generated WAV files (16-bit mono) of Figure 3's samples.
memory and time
    Measured on this device, in the process that will train: the smallest and the largest
    model of the plan are built as training builds them and timed over a few training steps
    and dev-loss batches on random clips (:func:`gruvsynth.train.loop.time_steps`), with the
    process's peak resident memory (and device memory on a GPU) around each.  Every run's step time and
    memory is interpolated between the two by parameter count; a run's time is its build and
    compilation plus its epochs × (training steps + dev-loss batches).  Generation,
    evaluation and writing checkpoints are not in the estimate.

:func:`check_disk` compares the disk needed, per file system, with the free space
(``shutil.disk_usage``, or a function given for tests) and says in one line what is short.
"""

from __future__ import annotations

import math
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from experiments import common

#: Bytes of one weight, and copies of each weight in a checkpoint (the weights and RMSprop's
#: velocities; Keras 3's RMSprop without momentum keeps one slot per weight).
WEIGHT_BYTES = 4
CHECKPOINT_COPIES = 2
#: Bytes of a ``.keras`` file besides its arrays (HDF5 metadata, config and stamp: 27 KB
#: measured for the profiles' models).
CHECKPOINT_OVERHEAD = 32 * 1024
#: Timed steps and untimed warm-up steps per measured model.
MEASURE_STEPS = 2
MEASURE_WARMUP = 1


# --------------------------------------------------------------------------------------------
# sizes


def human_bytes(n: float | None) -> str:
    """``1.2 GiB``, ``340 MiB``, ``12 KiB``, ``5 B``."""
    if n is None:
        return "n/a"
    for unit, size in (("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if abs(n) >= size:
            return f"{n / size:.1f} {unit}"
    return f"{int(n)} B"


def human_seconds(s: float | None) -> str:
    """``3.2 days``, ``4.5 h``, ``12 min``, ``8 s``."""
    if s is None:
        return "n/a"
    if s >= 2 * 86400:
        return f"{s / 86400:.1f} days"
    if s >= 3600:
        return f"{s / 3600:.1f} h"
    if s >= 120:
        return f"{s / 60:.0f} min"
    return f"{s:.0f} s"


def _file_bytes(folder: Path) -> int:
    """Bytes of the files under ``folder``, each hard-linked file once."""
    seen, total = set(), 0
    if not folder.is_dir():
        return 0
    for root, _, files in os.walk(folder):
        for name in files:
            try:
                st = os.lstat(os.path.join(root, name))
            except OSError:
                continue
            if (st.st_dev, st.st_ino) not in seen:
                seen.add((st.st_dev, st.st_ino))
                total += st.st_size
    return total


def corpus_sizes(settings: dict, paths: common.Paths) -> list[dict]:
    """Clips and bytes of each of the profile's corpora.

    Returns
    -------
    list of dict
        Per corpus: ``name``, ``songs``, ``train_clips``, ``dev_clips``, ``bytes`` and
        ``prepared`` (True: read from the prepared corpus, which needs no more disk; False:
        computed from the track lengths, to be written).
    """
    from gruvsynth.corpus import SPLIT_SEED, SR, clip_count, data_bytes, split_songs
    from gruvsynth.features import feature_size
    from gruvsynth.sources import corpus_info

    c = settings["corpus"]
    block, clip_blocks = int(c["block"]), int(c["clip_blocks"])
    width = feature_size(block, c["representation"])
    out = []
    for name in c["names"]:
        manifest = common.prepared_corpus(settings, paths, name)
        if manifest is not None:
            counts = manifest["counts"]
            out.append({"name": name, "songs": counts["songs"],
                        "train_clips": counts["train_clips"], "dev_clips": counts["dev_clips"],
                        "features": width, "bytes": _file_bytes(paths.corpus(name)),
                        "prepared": True})
            continue
        start = float(c.get("start_seconds", 0.0))
        limit = float(c["max_seconds"]) if c["max_seconds"] else math.inf
        songs = []
        for track in corpus_info(name)["tracks"][: int(c["songs"])]:
            seconds = min(float(track["seconds"]) - start, limit)
            n_clips = clip_count(math.ceil(max(seconds, 0.0) * SR / block), clip_blocks)
            if n_clips:
                songs.append((track["file"], n_clips))
        split = split_songs([s for s, _ in songs], dev_fraction=float(c["dev_fraction"]),
                            seed=SPLIT_SEED)
        dev = set(split["dev"])
        rows = sum(n * clip_blocks + 1 for _, n in songs)
        stats = 2 * width * WEIGHT_BYTES  # the mean and the std
        out.append({"name": name, "songs": len(songs),
                    "train_clips": sum(n for s, n in songs if s not in dev),
                    "dev_clips": sum(n for s, n in songs if s in dev), "features": width,
                    "bytes": data_bytes(rows, width, clip_blocks) + stats, "prepared": False})
    return out


def checkpoint_bytes(params: int) -> int:
    """Bytes of one checkpoint (or final model) of a model with ``params`` parameters."""
    return CHECKPOINT_COPIES * WEIGHT_BYTES * int(params) + CHECKPOINT_OVERHEAD


def checkpoints_written(epochs: int, every: int) -> int:
    """Checkpoints :func:`gruvsynth.train.loop.train` writes in ``epochs`` epochs: one every
    ``every`` epochs and one at the last epoch."""
    return epochs // every + (1 if epochs % every else 0)


def hard_links_work(folder: Path) -> bool:
    """Whether the file system of ``folder`` (or of its nearest existing parent) makes hard
    links, as :func:`gruvsynth.train.loop.train` does for ``model.keras``.  False when it cannot
    be tried (then the plan counts a copy)."""
    where = existing_parent(folder)
    try:
        with tempfile.TemporaryDirectory(prefix=".gruvsynth-plan-", dir=where) as tmp:
            source = Path(tmp) / "a"
            source.write_bytes(b"")
            os.link(source, Path(tmp) / "b")
        return True
    except OSError:
        return False


def existing_parent(path: Path) -> Path:
    """``path`` or its nearest parent that exists."""
    path = Path(path).absolute()
    while not path.exists() and path.parent != path:
        path = path.parent
    return path


def _run_state(folder: Path, epochs: int) -> tuple[str, int]:
    """``("new" | "partial" | "finished", epochs done)`` of a run folder."""
    from gruvsynth.errors import GruvError
    from gruvsynth.training import open_run

    if not (folder / "config.json").exists():
        return "new", 0
    try:
        run = open_run(folder)
        done = run.completed_epochs
        finished = run.finished and done >= epochs
    except GruvError:
        return "partial", 0
    return ("finished" if finished else "partial"), int(done)


def run_sizes(settings: dict, paths: common.Paths, runs, corpora: list[dict], *,
              hard_links: bool) -> list[dict]:
    """Parameters, checkpoint sizes, disk and steps of each run.

    Parameters
    ----------
    settings : dict
        The profile (with any dry-run overrides applied).
    paths : common.Paths
    runs : sequence of (corpus, cell, hidden, layers, epochs, seed)
        From :func:`common.training_plan`.
    corpora : list of dict
        From :func:`corpus_sizes`.
    hard_links : bool
        Whether ``model.keras`` will be a hard link (:func:`hard_links_work`).

    Returns
    -------
    list of dict
        Per run: ``name``, ``corpus``, ``cell``, ``hidden``, ``layers``, ``epochs``,
        ``state`` and ``epochs_done``, ``params``, ``checkpoint_bytes``, ``kept``
        (checkpoints left at the end), ``best_bytes`` (``checkpoints/best.keras``, when the
        profile keeps the best epoch's), ``final_bytes``, ``disk_bytes`` (at the end),
        ``transient_bytes`` (more for a moment, while a checkpoint is written beside the
        kept ones), ``existing_bytes`` (in the run folder now), ``need_bytes`` (still to
        write), ``steps_per_epoch`` and ``dev_batches``.
    """
    from gruvsynth.backends import select_backend

    select_backend(None)
    from gruvsynth.models import param_count

    by_name = {c["name"]: c for c in corpora}
    t = settings["train"]
    every, keep = int(t["checkpoint_every"]), int(t["keep_checkpoints"])
    batch = int(t["batch_size"])
    out = []
    for corpus, cell, hidden, layers, epochs, seed in runs:
        c = by_name[corpus]
        params = param_count(cell=cell, hidden=int(hidden), features=int(c["features"]),
                             layers=int(layers))
        ckpt = checkpoint_bytes(params)
        written = checkpoints_written(int(epochs), every)
        kept = written if keep == 0 else min(keep, written)
        final = 0 if hard_links else ckpt
        # checkpoints/best.keras (keep_best): once a dev loss is measured, a full checkpoint
        evaluated = c["dev_clips"] > 0 and int(t.get("eval_every", 1)) <= int(epochs)
        best = ckpt if (t.get("keep_best", True) and evaluated) else 0
        folder = paths.run(corpus, cell, hidden, layers, epochs, seed)
        state, done = _run_state(folder, int(epochs))
        disk = kept * ckpt + best + final
        existing = _file_bytes(folder)
        transient = ckpt if (keep == 0 or written > keep) else 0
        out.append({"name": folder.name, "corpus": corpus, "cell": cell, "hidden": int(hidden),
                    "layers": int(layers), "epochs": int(epochs), "seed": int(seed),
                    "state": state,
                    "epochs_done": done, "params": params, "checkpoint_bytes": ckpt,
                    "kept": kept, "best_bytes": best, "final_bytes": final, "disk_bytes": disk,
                    "transient_bytes": 0 if state == "finished" else transient,
                    "existing_bytes": existing,
                    "need_bytes": 0 if state == "finished" else max(disk - existing, 0),
                    "steps_per_epoch": math.ceil(c["train_clips"] / batch),
                    "dev_batches": math.ceil(c["dev_clips"] / batch)})
    return out


def samples_bytes(settings: dict) -> int:
    """Bytes of Figure 3's generated samples and their seeds (16-bit mono WAV files)."""
    c, s = settings["corpus"], settings["samples"]
    seed = int(s["seed_blocks"])
    blocks = math.ceil(float(s["times"]) * seed) + seed  # the sample, then its seed's file
    per_sample = blocks * int(c["block"]) * 2
    return len(c["names"]) * len(settings["fig1"]["cells"]) * int(s["n_seeds"]) * per_sample


# --------------------------------------------------------------------------------------------
# measuring steps


_MEASURE_CHILD = """
import json, sys
from experiments import planning
print(planning.MEASURE_PREFIX + json.dumps(planning.measure_here(**json.loads(sys.argv[1]))))
"""
#: The line of the measuring process's output that holds its figures.
MEASURE_PREFIX = "gruvsynth-plan-measure "


def measure(settings: dict, runs: list[dict], *, clip_blocks: int, features: int) -> list[dict]:
    """Time the smallest and the largest of ``runs`` on this device, as training would.

    Each model is built and stepped (:func:`gruvsynth.train.loop.time_steps`) where the runs
    will train: in this process, or, when the profile trains each run in a process of its own
    (:func:`common.isolated`), in a fresh process, so that this one does not keep the memory
    TensorFlow holds on to after training.  The process's peak memory is measured around each
    model, so the figure includes what the process holds besides (the libraries).

    Returns
    -------
    list of dict
        One or two entries (smallest first): :func:`gruvsynth.train.loop.time_steps`'s figures
        plus ``run`` (its name), ``rss_bytes`` (the process's peak resident memory while
        building and stepping that model; since the process started where the high-water
        mark cannot be reset), ``base_rss_bytes`` (the process before) and ``device_bytes``
        (peak device memory on a GPU, else None).
    """
    pending = [r for r in runs if r["state"] != "finished"] or runs
    small = min(pending, key=lambda r: r["params"])
    large = max(pending, key=lambda r: r["params"])
    chosen = [small] if small["params"] == large["params"] else [small, large]
    spec = {"configs": [common.train_config(settings, r["cell"], hidden=r["hidden"],
                                            layers=r["layers"], epochs=r["epochs"],
                                            seed=r["seed"]).to_dict()
                        for r in chosen],
            "features": features, "clip_blocks": clip_blocks}
    if not common.isolated(settings):
        out = measure_here(**spec)
    else:
        import json
        import subprocess
        import sys

        from gruvsynth.backends import current_backend

        env = {**os.environ, "PYTHONPATH": os.pathsep.join(
            p for p in (str(common.ROOT), os.environ.get("PYTHONPATH")) if p)}
        env["KERAS_BACKEND"] = current_backend() or env.get("KERAS_BACKEND", "")
        done = subprocess.run([sys.executable, "-c", _MEASURE_CHILD, json.dumps(spec)],
                              capture_output=True, text=True, env=env)
        found = [line for line in done.stdout.splitlines() if line.startswith(MEASURE_PREFIX)]
        if done.returncode != 0 or not found:
            tail = " | ".join((done.stderr or done.stdout).strip().splitlines()[-3:])
            raise common.ProfileError(f"measuring the training step failed (exit "
                                      f"{done.returncode}): {tail}")
        out = json.loads(found[-1][len(MEASURE_PREFIX):])
    for entry, r in zip(out, chosen, strict=True):
        entry["run"] = r["name"]
    return out


def measure_here(*, configs: list[dict], features: int, clip_blocks: int) -> list[dict]:
    """:func:`measure`'s work in this process: each configuration (a
    :meth:`gruvsynth.train.config.TrainConfig.to_dict`) timed, with the peak memory around it."""
    import gc

    from gruvsynth.backends import peak_memory, reset_peak_memory, select_backend

    select_backend(None)
    import keras

    from gruvsynth.training import TrainConfig, time_steps

    out = []
    for config in configs:
        gc.collect()
        reset_peak_memory()
        base = peak_memory()["rss_bytes"]
        entry = time_steps(TrainConfig.from_dict(config), features=features,
                           clip_blocks=clip_blocks, steps=MEASURE_STEPS, warmup=MEASURE_WARMUP)
        memory = peak_memory()
        entry.update(rss_bytes=memory["rss_bytes"], base_rss_bytes=base,
                     device_bytes=memory["device_bytes"])
        out.append(entry)
        keras.backend.clear_session()
        gc.collect()
    return out


def _interpolate(measured: list[dict], key: str, params: int) -> float | None:
    """``key`` at ``params`` parameters, linear between the measured sizes (clamped)."""
    points = [(m["params"], m.get(key)) for m in measured if m.get(key) is not None]
    if not points:
        return None
    if len(points) == 1 or points[0][0] == points[-1][0]:
        return float(points[-1][1])
    (p0, v0), (p1, v1) = points[0], points[-1]
    share = min(max((params - p0) / (p1 - p0), 0.0), 1.0)
    return float(v0 + share * (v1 - v0))


def estimate(runs: list[dict], measured: list[dict], settings: dict) -> None:
    """Add ``seconds``, ``step_seconds``, ``peak_rss_bytes`` and ``peak_device_bytes`` to each
    run (in place) from the measured sizes."""
    eval_every = int(settings["train"].get("eval_every", 1))
    for r in runs:
        p = r["params"]
        step = _interpolate(measured, "step_seconds", p)
        ev = _interpolate(measured, "eval_seconds", p)
        setup = sum(_interpolate(measured, k, p) or 0.0 for k in
                    ("build_seconds", "first_step_seconds", "first_eval_seconds"))
        left = 0 if r["state"] == "finished" else r["epochs"] - r["epochs_done"]
        epoch = r["steps_per_epoch"] * step + r["dev_batches"] * ev / eval_every
        r.update(step_seconds=step, seconds=(setup + left * epoch) if left else 0.0,
                 peak_rss_bytes=_interpolate(measured, "rss_bytes", p),
                 peak_device_bytes=_interpolate(measured, "device_bytes", p))


# --------------------------------------------------------------------------------------------
# the plan


def make_plan(settings: dict, paths: common.Paths, runs, *, measure_steps: bool = True) -> dict:
    """Disk, memory and time the profile's runs will need (see the module docstring).

    Parameters
    ----------
    settings : dict
        The profile, with any dry-run overrides applied.
    paths : common.Paths
    runs : sequence of (corpus, cell, hidden, layers, epochs, seed)
        From :func:`common.training_plan`.
    measure_steps : bool
        Measure the step speed and memory on this device (:func:`measure`: seconds for small
        models, about a minute at the paper's size on 2 CPU cores); without it, or when
        every run is finished already, the plan has no time or memory figures.

    Returns
    -------
    dict
        ``corpora`` (:func:`corpus_sizes`), ``runs`` (:func:`run_sizes` with
        :func:`estimate`'s figures), ``measured``, ``hard_links``, ``samples_bytes``,
        ``disk`` (per file system: ``path``, ``holds``, ``need_bytes``, ``total_bytes``),
        ``seconds`` (training, estimated), ``peak_rss_bytes`` and ``peak_device_bytes`` (the
        largest run's), ``memory_bytes`` (this machine's), ``device``.
    """
    from gruvsynth.backends import accelerator, current_backend

    corpora = corpus_sizes(settings, paths)
    hard = hard_links_work(paths.runs)
    sized = run_sizes(settings, paths, runs, corpora, hard_links=hard)
    c = settings["corpus"]
    measured = []
    # every run finished: nothing will train, so nothing is worth timing (a minute on 2 CPU
    # cores at the paper's size)
    if measure_steps and any(r["state"] != "finished" for r in sized):
        measured = measure(settings, sized, clip_blocks=int(c["clip_blocks"]),
                           features=int(corpora[0]["features"]))
        estimate(sized, measured, settings)
    samples = samples_bytes(settings)
    corpus_need = sum(0 if x["prepared"] else x["bytes"] for x in corpora)
    run_need = sum(r["need_bytes"] for r in sized)
    transient = max((r["transient_bytes"] for r in sized), default=0)
    needs = [("corpora", paths.data, corpus_need, sum(x["bytes"] for x in corpora)),
             ("checkpoints and final models", paths.runs, run_need + transient,
              sum(r["disk_bytes"] for r in sized)),
             ("samples", paths.out, samples, samples)]
    disk: dict = {}
    for what, where, need, total in needs:
        root = existing_parent(where)
        key = os.stat(root).st_dev
        entry = disk.setdefault(key, {"path": str(root), "holds": [], "need_bytes": 0,
                                      "total_bytes": 0})
        entry["holds"].append(what)
        entry["need_bytes"] += need
        entry["total_bytes"] += total
    seconds = sum(r.get("seconds") or 0.0 for r in sized) if measured else None
    rss = [r["peak_rss_bytes"] for r in sized if r.get("peak_rss_bytes") is not None]
    dev = [r["peak_device_bytes"] for r in sized if r.get("peak_device_bytes") is not None]
    try:
        memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        memory = None
    return {"corpora": corpora, "runs": sized, "measured": measured, "hard_links": hard,
            "samples_bytes": samples, "disk": list(disk.values()), "seconds": seconds,
            "peak_rss_bytes": max(rss) if rss else None,
            "peak_device_bytes": max(dev) if dev else None, "memory_bytes": memory,
            "device": f"{current_backend() or 'no backend'} on the {accelerator()}",
            common.DRY_RUN: common.dry_run_of(settings)}


def free_bytes(path: Path) -> int:
    """Free bytes for this user on the file system of ``path`` (``shutil.disk_usage``)."""
    return shutil.disk_usage(path).free


def check_disk(plan: dict, *, disk_free: Callable[[Path], int] | None = None) -> str | None:
    """One line saying where the disk is short for the plan, or None when everything fits.

    Parameters
    ----------
    plan : dict
        From :func:`make_plan`.
    disk_free : callable, optional
        ``disk_free(path) -> bytes`` free on the file system of ``path`` (default
        :func:`free_bytes`; tests pass a function that fakes it).

    Returns
    -------
    str or None
    """
    disk_free = disk_free or free_bytes
    short = []
    for entry in plan["disk"]:
        free = int(disk_free(Path(entry["path"])))
        entry["free_bytes"] = free
        if entry["need_bytes"] > free:
            short.append(f"{human_bytes(entry['need_bytes'])} needed on {entry['path']} "
                         f"({', '.join(entry['holds'])}), {human_bytes(free)} free")
    if not short:
        return None
    return "the disk is short: " + "; ".join(short)


def format_plan(plan: dict, *, runs: bool = False) -> list[str]:
    """The plan as lines to print (``runs``: one line per run too)."""
    lines = ["plan, from the sizes of the runs about to be made:"]
    if plan.get(common.DRY_RUN):
        lines.append("  DRY RUN: not a reproduction (every run capped; every claim will be "
                     "inconclusive)")
    for x in plan["corpora"]:
        how = "prepared" if x["prepared"] else "to prepare (from the track lengths)"
        lines.append(f"  corpus {x['name']}: {x['songs']} songs, {x['train_clips']} train / "
                     f"{x['dev_clips']} dev clips of {x['features']} features, "
                     f"{human_bytes(x['bytes'])}, {how}")
    sized = plan["runs"]
    if sized:
        big = max(sized, key=lambda r: r["params"])
        link = ("a hard link to the last checkpoint (0 B)" if plan["hard_links"] else
                f"a copy of the last checkpoint (hard links fail here): {human_bytes(big['final_bytes'])}")
        lines.append(f"  runs: {len(sized)} ({sum(r['state'] == 'finished' for r in sized)} "
                     f"finished, {sum(r['state'] == 'partial' for r in sized)} to resume), "
                     f"{sum(r['epochs'] for r in sized):,} epochs; parameters "
                     f"{min(r['params'] for r in sized) / 1e6:.2f}–{big['params'] / 1e6:.1f} M")
        lines.append(f"  checkpoint (weights + RMSprop state): {human_bytes(big['checkpoint_bytes'])} "
                     f"for the largest ({big['name']}); {big['kept']} kept per run"
                     f"{' and the best epoch' + chr(39) + 's' if big['best_bytes'] else ''}, "
                     f"one more while the next is written; final model {link}")
    for entry in plan["disk"]:
        free = entry.get("free_bytes")
        lines.append(f"  disk on {entry['path']} ({', '.join(entry['holds'])}): "
                     f"{human_bytes(entry['need_bytes'])} needed (still to write, with one "
                     f"checkpoint more while it is written; {human_bytes(entry['total_bytes'])} "
                     "at the end)" + (f", {human_bytes(free)} free" if free is not None else ""))
    measured = plan.get("measured") or []
    if measured:
        parts = [f"{m['params'] / 1e6:.2f} M parameters: {m['step_seconds'] * 1e3:,.0f} ms a step, "
                 f"peak {human_bytes(m['rss_bytes'])}"
                 + (f", device {human_bytes(m['device_bytes'])}" if m.get("device_bytes") else "")
                 for m in measured]
        lines.append(f"  measured here ({plan['device']}; {MEASURE_STEPS} steps after "
                     f"{MEASURE_WARMUP} warm-up): " + "; ".join(parts))
        memory = plan.get("memory_bytes")
        peak = plan.get("peak_rss_bytes")
        warn = (" — MORE THAN THIS MACHINE HAS" if memory and peak and peak > memory else "")
        lines.append(f"  peak memory per run: up to {human_bytes(peak)} (the largest run)"
                     + (f"; device up to {human_bytes(plan['peak_device_bytes'])}"
                        if plan.get("peak_device_bytes") else "")
                     + (f"; this machine has {human_bytes(memory)}" if memory else "") + warn)
        lines.append(f"  time: about {human_seconds(plan['seconds'])} of training at the "
                     "measured step speed (interpolated by parameter count; generation, "
                     "evaluation and checkpoint writes not included)")
    elif sized and all(r["state"] == "finished" for r in sized):
        lines.append("  memory and time: nothing left to train (every run is finished)")
    else:
        lines.append("  memory and time: not measured")
    if runs:
        for r in sized:
            lines.append(
                f"    run {r['name']}: {r['state']}, {r['params'] / 1e6:.2f} M parameters, "
                f"checkpoint {human_bytes(r['checkpoint_bytes'])}, disk "
                f"{human_bytes(r['disk_bytes'])}, {r['steps_per_epoch']} steps + "
                f"{r['dev_batches']} dev batches an epoch"
                + (f", peak {human_bytes(r['peak_rss_bytes'])}, about "
                   f"{human_seconds(r['seconds'])}" if r.get("peak_rss_bytes") else ""))
    return lines
