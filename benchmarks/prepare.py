"""Benchmark: prepare a whole built-in corpus and measure wall time and peak memory.

Targets (issue 2): the full ``wesnoth`` corpus (20 songs, ``fft``) on 2 cores in at most
90 s, with peak memory at most 1.5 x the float32 size of its features.

How memory is measured: this process's peak resident set size is ``getrusage(RUSAGE_SELF)
.ru_maxrss`` (exact; Python, numpy, h5py, the decode thread, the import baseline included,
which is also reported alone).  The ffprobe/ffmpeg decoders that :func:`gruvsynth.audio.load`
starts are child processes; their RSS is sampled every 20 ms from ``/proc/<pid>/status``
(all descendants, summed).  ``RUSAGE_CHILDREN.ru_maxrss`` is *not* used for them: Linux
charges a child with its parent's RSS at the moment it is spawned (the old address space's
high-water mark at ``exec``), which would count this process twice.  The reported peak is
``peak(self) + peak(children)``, an upper bound, as if the largest decoder ran at the moment
this process peaked.

"Feature bytes" is the float32 size of the features the corpus holds (``rows x D x 4``, the
blocks the clips use plus one block per song), which is what ``corpus.h5`` stores.

Usage::

    python benchmarks/prepare.py                      # wesnoth, fft, into a temporary folder
    python benchmarks/prepare.py --json results/bench-prepare.json
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

from gruvsynth import __version__
from gruvsynth.corpus import prepare_corpus
from gruvsynth.fileio import write_json_atomic
from gruvsynth.sources import BUILTIN_CORPORA

#: Targets from the issue.
MAX_SECONDS = 90.0
MAX_RATIO = 1.5
#: Random batches read after preparing (the paper's batch size).
BATCHES = 40
BATCH = 5


def _maxrss(who: int) -> int:
    """Peak RSS in bytes (Linux reports KiB)."""
    return resource.getrusage(who).ru_maxrss * 1024


def _rss(pid: int | str) -> int:
    """Current RSS in bytes of one process (0 if it is gone)."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii", errors="replace") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        pass
    return 0


def _descendants(root: int) -> list[int]:
    parents = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat", encoding="ascii", errors="replace") as f:
                    parents[int(entry)] = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
    found, frontier = [], [root]
    while frontier:
        pid = frontier.pop()
        kids = [p for p, pp in parents.items() if pp == pid]
        found += kids
        frontier += kids
    return found


class ChildSampler(threading.Thread):
    """Samples the summed RSS of this process's descendants until stopped."""

    def __init__(self, interval: float = 0.02):
        super().__init__(daemon=True)
        self.interval = interval
        self.peak = 0
        self.samples = 0
        self._done = threading.Event()

    def run(self) -> None:
        me = os.getpid()
        while not self._done.is_set():
            self.peak = max(self.peak, sum(_rss(p) for p in _descendants(me)))
            self.samples += 1
            self._done.wait(self.interval)

    def stop(self) -> None:
        self._done.set()
        self.join()


def _cpu(who: int) -> float:
    r = resource.getrusage(who)
    return r.ru_utime + r.ru_stime


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", choices=BUILTIN_CORPORA, default="wesnoth",
                        help="built-in corpus to prepare (default: wesnoth)")
    parser.add_argument("--representation", choices=("fft", "rfft"), default="fft",
                        help="feature representation (default: fft, the paper's)")
    parser.add_argument("--songs", type=int, default=None,
                        help="only the first K songs (default: all 20)")
    parser.add_argument("--out", type=Path, default=None,
                        help="parent folder for the corpus (default: a temporary folder, "
                        "deleted afterwards)")
    parser.add_argument("--json", type=Path, default=None, metavar="FILE",
                        help="also write the figures to FILE as JSON")
    return parser


def _measure(args) -> dict:
    """Prepare the corpus in a temporary folder, timing it and sampling the memory, then read
    random training batches from it; the raw measurements."""
    base = Path(tempfile.mkdtemp(prefix="gruv-bench-", dir=args.out))
    m = {"load_before": os.getloadavg(), "baseline": _maxrss(resource.RUSAGE_SELF)}
    sampler = ChildSampler()
    try:
        sampler.start()
        start = time.perf_counter()
        corpus = prepare_corpus(args.corpus, base / args.corpus, songs=args.songs,
                                representation=args.representation, progress=False)
        m["seconds"] = time.perf_counter() - start
        sampler.stop()
        m["self_peak"] = _maxrss(resource.RUSAGE_SELF)
        m["child_peak"] = sampler.peak
        m["samples"] = sampler.samples
        m["counts"] = corpus.manifest["counts"]
        m["width"] = corpus.features
        m["all_blocks"] = sum(s["n_blocks"] for s in corpus.manifest["songs"])
        m["disk"] = (corpus.path / "corpus.h5").stat().st_size
        # random training batches (5 clips, with targets) as a training loop reads them
        n_train = len(corpus.clips("train")[0])
        rng = np.random.default_rng(0)
        t0 = time.perf_counter()
        for _ in range(BATCHES):
            x, _ = corpus.batch("train", rng.integers(0, n_train, BATCH))
        m["batch_ms"] = (time.perf_counter() - t0) / BATCHES * 1000
        m["batch_mb"] = 2 * x.nbytes / 1e6
        corpus.close()
    finally:
        shutil.rmtree(base, ignore_errors=True)
    m["load_after"] = os.getloadavg()
    m["feature_bytes"] = m["counts"]["rows"] * m["width"] * 4
    m["peak"] = m["self_peak"] + m["child_peak"]
    return m


def _figures(args, m: dict) -> dict:
    """The figures the benchmark reports (and writes with ``--json``)."""
    counts, peak, feature_bytes = m["counts"], m["peak"], m["feature_bytes"]
    return {
        "corpus": args.corpus,
        "representation": args.representation,
        "songs": counts["songs"],
        "train_songs": counts["train_songs"],
        "dev_songs": counts["dev_songs"],
        "clips": counts["train_clips"] + counts["dev_clips"],
        "stored_blocks": counts["rows"],
        "song_blocks": m["all_blocks"],
        "features": m["width"],
        "feature_bytes": feature_bytes,
        "file_bytes": m["disk"],
        "seconds": round(m["seconds"], 2),
        "cpu_seconds_self": round(_cpu(resource.RUSAGE_SELF), 2),
        "cpu_seconds_children": round(_cpu(resource.RUSAGE_CHILDREN), 2),
        "peak_rss_self_bytes": m["self_peak"],
        "peak_rss_children_bytes": m["child_peak"],
        "baseline_rss_bytes": m["baseline"],
        "peak_bytes": peak,
        "peak_ratio": round(peak / feature_bytes, 3),
        "target_seconds": MAX_SECONDS,
        "target_ratio": MAX_RATIO,
        "meets_time": m["seconds"] <= MAX_SECONDS,
        "meets_memory": peak / feature_bytes <= MAX_RATIO,
        "random_batch_ms": round(m["batch_ms"], 2),
        "random_batch_mb": round(m["batch_mb"], 2),
        "cpus": os.cpu_count(),
        "loadavg_before": [round(x, 2) for x in m["load_before"]],
        "loadavg_after": [round(x, 2) for x in m["load_after"]],
        "python": platform.python_version(),
        "gruvsynth": __version__,
        "child_rss_samples": m["samples"],
        "memory_method": "ru_maxrss(self) + peak of sampled /proc RSS of descendants "
                         "(every 20 ms), an upper bound",
    }


def _print_table(args, m: dict, figures: dict) -> None:
    counts, peak, feature_bytes = m["counts"], m["peak"], m["feature_bytes"]
    mb = 1e6
    rows = [
        ("corpus", f"{args.corpus} ({args.representation}, D = {m['width']})"),
        ("songs", f"{counts['songs']} ({counts['train_songs']} train, {counts['dev_songs']} dev)"),
        ("blocks", f"{counts['rows']} stored of {m['all_blocks']}; {figures['clips']} clips"),
        ("feature bytes", f"{feature_bytes / mb:,.0f} MB (corpus.h5: {m['disk'] / mb:,.0f} MB)"),
        ("seconds", f"{m['seconds']:.1f} s (target <= {MAX_SECONDS:g} s): "
                    f"{'OK' if figures['meets_time'] else 'MISSED'}"),
        ("cpu", f"{figures['cpu_seconds_self']:.1f} s here + "
                f"{figures['cpu_seconds_children']:.1f} s in ffmpeg/ffprobe"),
        ("peak memory", f"{peak / mb:,.0f} MB = {m['self_peak'] / mb:,.0f} MB here (imports: "
                        f"{m['baseline'] / mb:,.0f} MB) + {m['child_peak'] / mb:,.0f} MB "
                        "decoders (sampled)"),
        ("peak / features", f"{peak / feature_bytes:.3f} (target <= {MAX_RATIO:g}): "
                            f"{'OK' if figures['meets_memory'] else 'MISSED'}"),
        ("random batch", f"{m['batch_ms']:.1f} ms per batch of {BATCH} clips + targets "
                         f"({m['batch_mb']:.0f} MB, file in the page cache)"),
        ("machine", f"{os.cpu_count()} CPUs, load average {m['load_before'][0]:.2f} before, "
                    f"{m['load_after'][0]:.2f} after"),
    ]
    width_key = max(len(k) for k, _ in rows)
    for key, value in rows:
        print(f"{key:<{width_key}}  {value}")


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    m = _measure(args)
    figures = _figures(args, m)
    _print_table(args, m, figures)
    if args.json:
        write_json_atomic(args.json, figures, indent=1, allow_nan=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
