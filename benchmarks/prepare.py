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
import json
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


def main(argv: list[str] | None = None) -> int:
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
    args = parser.parse_args(argv)

    base = Path(tempfile.mkdtemp(prefix="gruv-bench-", dir=args.out))
    load_before = os.getloadavg()
    baseline = _maxrss(resource.RUSAGE_SELF)
    sampler = ChildSampler()
    try:
        sampler.start()
        start = time.perf_counter()
        corpus = prepare_corpus(args.corpus, base / args.corpus, songs=args.songs,
                                representation=args.representation, progress=False)
        seconds = time.perf_counter() - start
        sampler.stop()
        self_peak = _maxrss(resource.RUSAGE_SELF)
        child_peak = sampler.peak
        counts = corpus.manifest["counts"]
        width = corpus.features
        all_blocks = sum(s["n_blocks"] for s in corpus.manifest["songs"])
        disk = (corpus.path / "corpus.h5").stat().st_size
        # random training batches (5 clips, with targets) as a training loop reads them
        n_train = len(corpus.clips("train")[0])
        rng = np.random.default_rng(0)
        t0 = time.perf_counter()
        for _ in range(BATCHES):
            x, _ = corpus.batch("train", rng.integers(0, n_train, BATCH))
        batch_ms = (time.perf_counter() - t0) / BATCHES * 1000
        batch_mb = 2 * x.nbytes / 1e6
        corpus.close()
    finally:
        shutil.rmtree(base, ignore_errors=True)
    load_after = os.getloadavg()
    feature_bytes = counts["rows"] * width * 4
    peak = self_peak + child_peak
    figures = {
        "corpus": args.corpus,
        "representation": args.representation,
        "songs": counts["songs"],
        "train_songs": counts["train_songs"],
        "dev_songs": counts["dev_songs"],
        "clips": counts["train_clips"] + counts["dev_clips"],
        "stored_blocks": counts["rows"],
        "song_blocks": all_blocks,
        "features": width,
        "feature_bytes": feature_bytes,
        "file_bytes": disk,
        "seconds": round(seconds, 2),
        "cpu_seconds_self": round(_cpu(resource.RUSAGE_SELF), 2),
        "cpu_seconds_children": round(_cpu(resource.RUSAGE_CHILDREN), 2),
        "peak_rss_self_bytes": self_peak,
        "peak_rss_children_bytes": child_peak,
        "baseline_rss_bytes": baseline,
        "peak_bytes": peak,
        "peak_ratio": round(peak / feature_bytes, 3),
        "target_seconds": MAX_SECONDS,
        "target_ratio": MAX_RATIO,
        "meets_time": seconds <= MAX_SECONDS,
        "meets_memory": peak / feature_bytes <= MAX_RATIO,
        "random_batch_ms": round(batch_ms, 2),
        "random_batch_mb": round(batch_mb, 2),
        "cpus": os.cpu_count(),
        "loadavg_before": [round(x, 2) for x in load_before],
        "loadavg_after": [round(x, 2) for x in load_after],
        "python": platform.python_version(),
        "gruvsynth": __version__,
        "child_rss_samples": sampler.samples,
        "memory_method": "ru_maxrss(self) + peak of sampled /proc RSS of descendants "
                         "(every 20 ms), an upper bound",
    }
    mb = 1e6
    rows = [
        ("corpus", f"{args.corpus} ({args.representation}, D = {width})"),
        ("songs", f"{counts['songs']} ({counts['train_songs']} train, {counts['dev_songs']} dev)"),
        ("blocks", f"{counts['rows']} stored of {all_blocks}; {figures['clips']} clips"),
        ("feature bytes", f"{feature_bytes / mb:,.0f} MB (corpus.h5: {disk / mb:,.0f} MB)"),
        ("seconds", f"{seconds:.1f} s (target <= {MAX_SECONDS:g} s): "
                    f"{'OK' if figures['meets_time'] else 'MISSED'}"),
        ("cpu", f"{figures['cpu_seconds_self']:.1f} s here + "
                f"{figures['cpu_seconds_children']:.1f} s in ffmpeg/ffprobe"),
        ("peak memory", f"{peak / mb:,.0f} MB = {self_peak / mb:,.0f} MB here (imports: "
                        f"{baseline / mb:,.0f} MB) + {child_peak / mb:,.0f} MB decoders (sampled)"),
        ("peak / features", f"{peak / feature_bytes:.3f} (target <= {MAX_RATIO:g}): "
                            f"{'OK' if figures['meets_memory'] else 'MISSED'}"),
        ("random batch", f"{batch_ms:.1f} ms per batch of {BATCH} clips + targets "
                         f"({batch_mb:.0f} MB, file in the page cache)"),
        ("machine", f"{os.cpu_count()} CPUs, load average {load_before[0]:.2f} before, "
                    f"{load_after[0]:.2f} after"),
    ]
    width_key = max(len(k) for k, _ in rows)
    for key, value in rows:
        print(f"{key:<{width_key}}  {value}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(figures, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
