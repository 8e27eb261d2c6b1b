"""The paper profile at full size, capped: every stage's time and memory, and the file sizes.

Runs ``experiments/reproduce.py --profile paper --max-epochs 1 --songs 2`` on this machine, on
whatever device the Keras backend sees (full songs, ``fft`` features D = 22,050, hidden 2048,
batch 5: only the epochs and the songs are capped), then prints a table:

* for every stage (start and plan, corpora, the five experiments, claims and page): its wall
  time, the peak resident memory of the process tree (``reproduce.py`` and its children:
  ffmpeg, Chromium), sampled every ``--interval`` seconds from ``/proc``, the peak of the
  ``reproduce.py`` process alone (its ``VmHWM``, reset at each stage, from
  ``reproduction.json``) and, on a GPU, the backend's peak device memory (and
  ``nvidia-smi``'s, sampled);
* the checkpoint and final-model file sizes of each model size, whether ``model.keras`` is a
  hard link, and the disk each run takes (every file once), beside the plan's prediction;
* the disk the corpora take;
* the generation time per block at full size (stateful, one 40-block seed, each of Figure
  1's cells on ``wesnoth``; after a 2-block warm-up that compiles), in a fresh process;
* with ``--rerun``, the same command again: every stage must be "already done" and no run
  retrained (how long a restart takes to get back to where it was).

``--limit SECONDS`` stops the reproduction after that long (SIGINT, as Ctrl-C would) and
reports what was measured so far: the stages that finished, the interrupted one marked as
such, the runs trained until then, and the generation timing when a full-size run exists.

Usage::

    python benchmarks/paper_dry_run.py --out /work/dry-results --data /work/dry-data \\
        --json dry-run.json [--clean]

On 2 CPU cores this takes tens of minutes and about 25 GB of disk (48 runs, 16 of them of
hidden 2048 with checkpoints of about 1 GB): it is a benchmark, not a test.  ``--clean``
removes the results and corpora at the end (after measuring them).
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REPRODUCE = ROOT / "experiments" / "reproduce.py"
STAGE_LINE = re.compile(r"^=== \[(\d+)/(\d+)\] (.+?)(?: \(\d+ s so far\))? ===$")
FIRST_STAGE = "start and plan"
PAGE = os.sysconf("SC_PAGE_SIZE")
GENERATION_CELLS = ("keras01_lstm", "keras01_gru", "lstm", "gru")
GENERATION_BLOCKS = 40


def _mib(n) -> str:
    return "—" if n is None else f"{n / 2**20:,.0f}"


def _gib(n) -> str:
    return "—" if n is None else f"{n / 2**30:,.2f}"


# --------------------------------------------------------------------------------------------
# memory of a process tree


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="ascii", errors="replace") as f:
                text = f.read()
            ppid = int(text.rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        tree.setdefault(ppid, []).append(int(entry))
    return tree


def tree_pids(root: int) -> list[int]:
    """``root`` and all its descendants."""
    tree, out, todo = _children(), [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(tree.get(pid, []))
    return out


def _rss(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/statm", encoding="ascii") as f:
            return int(f.read().split()[1]) * PAGE
    except (OSError, ValueError, IndexError):
        return 0


def _gpu_memory(pids: list[int]) -> int | None:
    """Device memory nvidia-smi reports for these processes (None without nvidia-smi)."""
    if shutil.which("nvidia-smi") is None:
        return None
    try:
        done = subprocess.run(["nvidia-smi", "--query-compute-apps=pid,used_memory",
                               "--format=csv,noheader,nounits"], capture_output=True, text=True,
                              timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    total, wanted = 0, set(pids)
    for line in done.stdout.splitlines():
        try:
            pid, mib = (int(x) for x in line.split(","))
        except ValueError:
            continue
        if pid in wanted:
            total += mib * 2**20
    return total


class Sampler(threading.Thread):
    """Samples the RSS of a process tree (and its GPU memory) and keeps the peak per stage."""

    def __init__(self, pid: int, interval: float):
        super().__init__(daemon=True)
        self.pid, self.interval = pid, interval
        self.stage = FIRST_STAGE
        self.peaks: dict[str, dict] = {}
        self.stop = threading.Event()

    def run(self):
        while not self.stop.is_set():
            pids = tree_pids(self.pid)
            rss = sum(_rss(p) for p in pids)
            gpu = _gpu_memory(pids)
            peak = self.peaks.setdefault(self.stage, {"tree_rss_bytes": 0, "gpu_bytes": None})
            peak["tree_rss_bytes"] = max(peak["tree_rss_bytes"], rss)
            if gpu is not None:
                peak["gpu_bytes"] = max(peak["gpu_bytes"] or 0, gpu)
            self.stop.wait(self.interval)


def run_reproduce(args_list: list[str], *, interval: float, echo: bool,
                  limit: float | None = None) -> dict:
    """Run reproduce.py, following its stage lines; wall time and sampled peaks per stage.

    After ``limit`` seconds the run is interrupted (SIGINT) and ``interrupted`` names the
    stage it was in."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p), "PYTHONUNBUFFERED": "1",
        "TF_CPP_MIN_LOG_LEVEL": "2"}
    cmd = [sys.executable, str(REPRODUCE), *args_list]
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            cwd=ROOT, env=env, bufsize=1, start_new_session=True)
    sampler = Sampler(proc.pid, interval)
    sampler.start()
    order, started, log = [FIRST_STAGE], {FIRST_STAGE: start}, []
    stopped = threading.Event()
    if limit:
        def stop():
            if proc.poll() is None:
                stopped.set()
                os.killpg(proc.pid, signal.SIGINT)  # as Ctrl-C: reproduce.py and its runs
        timer = threading.Timer(limit, stop)
        timer.daemon = True
        timer.start()
    for line in proc.stdout:
        log.append(line)
        if echo:
            print(line, end="", flush=True)
        m = STAGE_LINE.match(line.strip())
        if m:
            name = m.group(3)
            sampler.stage = name
            order.append(name)
            started[name] = time.perf_counter()
    status = proc.wait()
    end = time.perf_counter()
    sampler.stop.set()
    sampler.join()
    walls = {}
    for i, name in enumerate(order):
        walls[name] = (started[order[i + 1]] if i + 1 < len(order) else end) - started[name]
    return {"command": cmd, "status": status, "seconds": end - start, "order": order,
            "wall_seconds": walls, "sampled": sampler.peaks, "log_tail": "".join(log[-60:]),
            "interrupted": order[-1] if stopped.is_set() else None}


# --------------------------------------------------------------------------------------------
# files


def _files(folder: Path):
    seen = set()
    for root, _, names in os.walk(folder):
        for name in names:
            path = Path(root) / name
            try:
                st = path.lstat()
            except OSError:
                continue
            key = (st.st_dev, st.st_ino)
            yield path, st, key in seen
            seen.add(key)


def disk_bytes(folder: Path) -> int:
    """Bytes of the files under ``folder``, a hard-linked file once."""
    return sum(st.st_size for _, st, again in _files(folder) if not again)


def run_files(runs_dir: Path, plan: dict | None) -> list[dict]:
    """Per run folder: checkpoint and model sizes, hard link or copy, disk, the plan's guess."""
    predicted = {r["name"]: r for r in (plan or {}).get("runs", [])}
    out = []
    for run in sorted(p for p in runs_dir.iterdir() if p.is_dir()):
        if not (run / "config.json").is_file():
            continue
        config = json.loads((run / "config.json").read_text())
        ckpts = sorted((run / "checkpoints").glob("*.keras"))
        final = run / "model.keras"
        same = (final.exists() and ckpts and os.path.samefile(final, ckpts[-1]))
        guess = predicted.get(run.name, {})
        out.append({"run": run.name, "cell": config["cell"], "hidden": config["hidden"],
                    "layers": config["layers"], "checkpoints": len(ckpts),
                    "checkpoint_bytes": ckpts[-1].stat().st_size if ckpts else None,
                    "model_bytes": final.stat().st_size if final.exists() else None,
                    "model_is_hard_link": bool(same), "disk_bytes": disk_bytes(run),
                    "planned_checkpoint_bytes": guess.get("checkpoint_bytes"),
                    "planned_disk_bytes": guess.get("disk_bytes"),
                    "params": guess.get("params")})
    return out


# --------------------------------------------------------------------------------------------
# generation at full size (a fresh process)

GENERATION_CHILD = r"""
import json, sys, time, resource
from gruvsynth.backends import peak_memory, select_backend
select_backend(None)
from gruvsynth.generation import generate_from_run
from gruvsynth.training import open_run
out = []
for path in sys.argv[1:]:
    run = open_run(path)
    t0 = time.perf_counter()
    generate_from_run(run, seed_from="train", seed_index=0, seed_blocks=40, iterations=2,
                      progress=False)
    warm = time.perf_counter() - t0
    t0 = time.perf_counter()
    result = generate_from_run(run, seed_from="train", seed_index=0, seed_blocks=40,
                               iterations=%(blocks)d, progress=False)
    seconds = time.perf_counter() - t0
    out.append({"run": run.path.name, "cell": run.config["cell"],
                "warmup_seconds": warm, "seconds": seconds, "iterations": %(blocks)d,
                "seconds_per_block": seconds / %(blocks)d,
                "finite": bool(abs(result.blocks).max() < float("inf"))})
memory = peak_memory()
print("GENERATION " + json.dumps({"runs": out, "peak_rss_bytes": memory["rss_bytes"],
                                  "peak_device_bytes": memory["device_bytes"]}))
"""


def generation_times(runs_dir: Path, corpus: str, hidden: int, *, interval: float) -> dict:
    """Stateful generation per block with each of Figure 1's cells at full size."""
    paths = [str(p) for cell in GENERATION_CELLS
             for p in sorted(runs_dir.glob(f"{corpus}-{cell}-h{hidden}-l1-e*"))[:1]]
    if not paths:
        return {"runs": [], "error": "no full-size run to generate from"}
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p), "TF_CPP_MIN_LOG_LEVEL": "2"}
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-c", GENERATION_CHILD % {"blocks": GENERATION_BLOCKS},
                             *paths], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            cwd=ROOT, env=env)
    sampler = Sampler(proc.pid, interval)
    sampler.start()
    stdout, stderr = proc.communicate()
    sampler.stop.set()
    sampler.join()
    found = [line for line in stdout.splitlines() if line.startswith("GENERATION ")]
    if proc.returncode != 0 or not found:
        return {"runs": [], "error": (stderr or stdout).strip().splitlines()[-3:]}
    data = json.loads(found[-1][len("GENERATION "):])
    data["seconds"] = time.perf_counter() - start
    data["tree_rss_bytes"] = sampler.peaks.get(FIRST_STAGE, {}).get("tree_rss_bytes")
    return data


# --------------------------------------------------------------------------------------------
# the table


def stage_rows(result: dict, record: dict) -> list[dict]:
    """One row per stage: wall time, sampled tree peak, the process's own peak, device."""
    stages = {s["name"]: s for s in record.get("stages", [])}
    if record.get("report_stage"):
        stages["claims and page"] = record["report_stage"]
    rows = []
    for name in result["order"]:
        own = stages.get(name, {})
        sampled = result["sampled"].get(name, {})
        status = own.get("status", "done" if name in stages else "")
        if name == result.get("interrupted"):
            status = f"interrupted after {result['wall_seconds'][name]:.0f} s"
        if name == FIRST_STAGE:  # the plan's measurement, in the same process
            measured = (record.get("plan") or {}).get("measured") or []
            own = {"peak_rss_bytes": max((m["rss_bytes"] for m in measured), default=None),
                   "peak_device_bytes": max((m["device_bytes"] or 0 for m in measured),
                                            default=None) or None}
        rows.append({"stage": name, "wall_seconds": result["wall_seconds"][name],
                     "status": status,
                     "tree_rss_bytes": sampled.get("tree_rss_bytes"),
                     "process_rss_bytes": own.get("peak_rss_bytes"),
                     "device_bytes": own.get("peak_device_bytes"),
                     "gpu_sampled_bytes": sampled.get("gpu_bytes")})
    return rows


def format_tables(report: dict) -> str:
    """The benchmark's tables as reStructuredText."""
    lines = []

    def table(head, rows):
        widths = [max(len(str(h)), *(len(str(r[i])) for r in rows)) for i, h in enumerate(head)]
        rule = "  ".join("=" * w for w in widths)
        lines.extend([rule, "  ".join(str(h).ljust(w) for h, w in zip(head, widths, strict=True)),
                      rule])
        lines.extend("  ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True))
                     for r in rows)
        lines.extend([rule, ""])

    gpu = any(r["device_bytes"] or r["gpu_sampled_bytes"] for r in report["stages"])
    head = ["stage", "wall time (s)", "peak RSS, tree (MiB)", "peak RSS, process (MiB)",
            "device peak (MiB)"]
    rows = [[r["stage"] + (" (interrupted)" if r["status"].startswith("interrupted") else ""),
             f"{r['wall_seconds']:,.0f}", _mib(r["tree_rss_bytes"]),
             _mib(r["process_rss_bytes"]),
             _mib(r["device_bytes"] or r["gpu_sampled_bytes"]) if gpu else "unmeasured"]
            for r in report["stages"]]
    rows.append(["total", f"{report['reproduce']['seconds']:,.0f}",
                 _mib(max((r["tree_rss_bytes"] or 0) for r in report["stages"])),
                 _mib(max((r["process_rss_bytes"] or 0) for r in report["stages"])),
                 "" if gpu else "unmeasured"])
    table(head, rows)

    groups: dict = {}
    for r in report["runs"]:
        groups.setdefault((r["hidden"], r["layers"]), []).append(r)
    head = ["hidden × layers", "runs", "parameters (M)", "checkpoint (MiB)", "planned (MiB)",
            "model.keras", "disk per run (MiB)"]
    rows = []
    for (hidden, layers), mine in sorted(groups.items()):
        ck = sorted({r["checkpoint_bytes"] for r in mine if r["checkpoint_bytes"]})
        pl = sorted({r["planned_checkpoint_bytes"] for r in mine if r["planned_checkpoint_bytes"]})
        disk = sorted(r["disk_bytes"] for r in mine)
        params = sorted({r["params"] for r in mine if r["params"]})
        links = {r["model_is_hard_link"] for r in mine}
        rows.append([f"{hidden} × {layers}", len(mine),
                     "–".join(f"{p / 1e6:.1f}" for p in (params[0], params[-1])) if params else "—",
                     "–".join(_mib(b) for b in dict.fromkeys((ck[0], ck[-1]))) if ck else "—",
                     "–".join(_mib(b) for b in dict.fromkeys((pl[0], pl[-1]))) if pl else "—",
                     "hard link" if links == {True} else "copy" if links == {False} else "mixed",
                     "–".join(_mib(b) for b in dict.fromkeys((disk[0], disk[-1])))])
    table(head, rows)

    gen = report.get("generation") or {}
    if gen.get("runs"):
        head = ["generation (stateful, 1 seed of 40 blocks)", "warm-up (s)",
                f"{GENERATION_BLOCKS} blocks (s)", "per block (ms)"]
        rows = [[r["run"], f"{r['warmup_seconds']:.1f}", f"{r['seconds']:.2f}",
                 f"{r['seconds_per_block'] * 1e3:,.0f}"] for r in gen["runs"]]
        table(head, rows)
        lines.append(f"generation process: peak RSS {_mib(gen.get('peak_rss_bytes'))} MiB"
                     + (f", device {_mib(gen['peak_device_bytes'])} MiB"
                        if gen.get("peak_device_bytes") else ""))
    elif gen:
        lines.append(f"generation: not measured ({gen.get('error')})")
    d = report["disk"]
    lines.append(f"disk: corpora {_gib(d['corpora_bytes'])} GiB, runs {_gib(d['runs_bytes'])} "
                 f"GiB, other results {_gib(d['other_results_bytes'])} GiB; planned "
                 f"{_gib(d['planned_bytes'])} GiB")
    if report.get("rerun"):
        r = report["rerun"]
        lines.append(f"rerun (everything done): {r['seconds']:.0f} s, stages "
                     f"{', '.join(r['statuses'])}; runs retrained: {r['retrained']}")
    return "\n".join(lines)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("results/paper-dry-run"),
                        help="results folder (default: results/paper-dry-run)")
    parser.add_argument("--data", type=Path, default=Path("data"),
                        help="corpora go to DATA/paper-s<K>/ (default: data)")
    parser.add_argument("--profile", default="paper",
                        help="profile (default paper; smoke checks this script quickly)")
    parser.add_argument("--max-epochs", type=int, default=1)
    parser.add_argument("--songs", type=int, default=2)
    parser.add_argument("--json", type=Path, default=None, help="write every figure here")
    parser.add_argument("--interval", type=float, default=0.5,
                        help="seconds between memory samples (default 0.5)")
    parser.add_argument("--limit", type=float, default=None, metavar="SECONDS",
                        help="interrupt the reproduction after this long and report what "
                        "was measured")
    parser.add_argument("--rerun", action="store_true",
                        help="run the same command again at the end (nothing may be redone)")
    parser.add_argument("--no-generation", action="store_true",
                        help="do not time generation at full size")
    parser.add_argument("--clean", action="store_true",
                        help="remove the results and corpora after measuring them")
    parser.add_argument("--echo", action="store_true", help="show reproduce.py's output")
    return parser


def _machine(record: dict) -> dict:
    """This machine, and the backend the reproduction recorded."""
    host = record.get("host") or {}
    return {"platform": platform.platform(), "cpus": os.cpu_count(),
            "processor": host.get("processor"),
            "memory_bytes": os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"),
            "python": platform.python_version(), "backend": host.get("backend"),
            "backend_version": host.get("backend_version"), "keras": host.get("keras"),
            "devices": host.get("devices")}


def _disk(out: Path, runs_dir: Path, data_dir: Path, plan: dict | None) -> dict:
    """Disk used by the corpora, the runs and the other results, beside the plan's."""
    runs_bytes = disk_bytes(runs_dir)
    return {"corpora_bytes": disk_bytes(data_dir), "runs_bytes": runs_bytes,
            "other_results_bytes": disk_bytes(out) - runs_bytes,
            "planned_bytes": sum(d["total_bytes"] for d in (plan or {}).get("disk", []))
            or None, "plan": plan and {k: plan.get(k) for k in (
                "corpora", "disk", "seconds", "peak_rss_bytes", "measured",
                "hard_links", "seconds_to_plan")}}


def _rerun(options: list[str], args, runs_dir: Path, record_path: Path) -> dict:
    """Run the same reproduction again: how long it took and how many runs it retrained."""
    print("rerunning (everything is done) ...", flush=True)
    before = {p: p.stat().st_mtime_ns for p in runs_dir.glob("*/history.json")}
    again = run_reproduce([*options, "--no-measure", "--no-browser-check"],
                          interval=args.interval, echo=args.echo)
    statuses = [s["status"] for s in json.loads(record_path.read_text())["stages"]]
    return {"seconds": again["seconds"], "status": again["status"], "statuses": statuses,
            "retrained": sum(p.stat().st_mtime_ns != t for p, t in before.items())}


def main(argv: list[str] | None = None) -> int:
    """Run the dry run, measure it, print the tables, write ``--json``."""
    args = _parser().parse_args(argv)
    args.out, args.data = args.out.absolute(), args.data.absolute()
    sys.path.insert(0, str(ROOT))
    from experiments.common import load_profile
    from gruvsynth.fileio import write_text_atomic

    fig1 = load_profile(args.profile)["fig1"]

    common = ["--profile", args.profile, "--max-epochs", str(args.max_epochs), "--songs",
              str(args.songs), "--out", str(args.out), "--data", str(args.data), "--quiet"]
    when = _dt.datetime.now().astimezone().isoformat(timespec="seconds")
    print(f"paper dry run: python experiments/reproduce.py {' '.join(common)}", flush=True)
    result = run_reproduce(common, interval=args.interval, echo=args.echo, limit=args.limit)
    record_path = args.out / "reproduction.json"
    record = json.loads(record_path.read_text()) if record_path.exists() else {}
    if result["status"] != 0:
        print(result["log_tail"], file=sys.stderr)
    report = {"command": f"python experiments/reproduce.py {' '.join(common)}",
              "date": when, "status": result["status"],
              "interrupted": result["interrupted"], "machine": _machine(record),
              "reproduce": {k: result[k] for k in ("seconds", "status", "order", "wall_seconds")},
              "stages": stage_rows(result, record)}
    plan = record.get("plan")
    runs_dir = args.out / "runs"
    report["runs"] = run_files(runs_dir, plan) if runs_dir.is_dir() else []
    data_dir = args.data / f"{args.profile}-s{args.songs}"
    report["disk"] = _disk(args.out, runs_dir, data_dir, plan)
    if not args.no_generation and runs_dir.is_dir():
        print("timing generation at full size ...", flush=True)
        report["generation"] = generation_times(runs_dir, "wesnoth", int(fig1["hidden"]),
                                                interval=args.interval)
    if args.rerun and result["status"] == 0 and not result["interrupted"]:
        report["rerun"] = _rerun(common, args, runs_dir, record_path)
    text = format_tables(report)
    report["table"] = text
    print(f"\n{report['command']}\n{when}; {report['machine']['platform']}, "
          f"{report['machine']['cpus']} cores, {report['machine']['processor']}, "
          f"{report['machine']['backend']} {report['machine']['backend_version']}, devices "
          f"{report['machine']['devices']}\n")
    print(text)
    if args.json:
        write_text_atomic(args.json, json.dumps(report, indent=2, default=str) + "\n")
    if args.clean:
        shutil.rmtree(args.out, ignore_errors=True)
        shutil.rmtree(data_dir, ignore_errors=True)
    return 0 if result["interrupted"] else result["status"]


if __name__ == "__main__":
    sys.exit(main())
