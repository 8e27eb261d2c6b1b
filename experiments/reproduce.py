"""Run the whole reproduction of the paper for one profile (what ``make reproduce`` calls).

Usage::

    python experiments/reproduce.py [--profile auto|smoke|quick|paper|FILE.toml]
                                    [--out DIR] [--data DIR]

Stages, in order: prepare the two stand-in corpora, Figure 1 (GRU vs LSTM loss curves),
Figure 2 (hidden size), Figure 3 (mean spectrograms; also the generated samples and their
metrics), generation length, depth, then the claims table (``claims.md``, ``claims.json``)
and the page (``index.html``), checked in headless Chromium when it is installed (with a
screenshot, ``screenshot.png``).  Each stage is one of the scripts beside this one, run in
this process; a finished stage is not redone when this is run again, and training runs resume
where they stopped.  ``--profile auto`` (the default) takes ``paper`` when the Keras backend
sees a GPU, else ``quick``.

Before the first run it prints a plan computed from the runs it is about to make
(:mod:`experiments.planning`: disk for the corpora, checkpoints and final models, peak memory
per run and the time at the step speed measured on this device) and refuses to start, with a
one-line reason, when a file system is short of the disk the plan needs (``--force`` starts
anyway); ``--plan`` prints the plan, one line per run, and stops.  ``--max-epochs N`` and
``--songs K`` make a dry run (see :func:`experiments.common.apply_overrides`).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from experiments import common, planning  # noqa: E402

DEFAULT_PROFILE = "auto"
#: The experiment stages: (name, module under experiments/).
STAGES = (
    ("fig1_loss_curves", "fig1_loss_curves"),
    ("fig2_hidden_size", "fig2_hidden_size"),
    ("fig3_spectrograms", "fig3_spectrograms"),
    ("generation_length", "generation_length"),
    ("depth", "depth"),
)


#: Every distinct training run of a profile (kept here under its old name).
training_plan = common.training_plan


def _processor() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def host_info() -> dict:
    """The machine and the Keras backend (name, version, devices)."""
    info = {"platform": platform.platform(), "cpu_count": os.cpu_count(),
            "processor": _processor(), "python": platform.python_version()}
    try:
        from gruvsynth.backends import select_backend, versions

        select_backend(None)
        v = versions()
        info.update(backend=v["backend"], backend_version=v["backend_version"],
                    keras=v["keras"], devices=v["devices"])
    except Exception as exc:  # the record must never stop the run
        info["backend_error"] = str(exc)
    return info


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    common.add_arguments(parser, auto=True)
    parser.add_argument("--no-browser-check", action="store_true",
                        help="do not open the page in headless Chromium")
    parser.add_argument("--plan", action="store_true",
                        help="print the profile and the plan (disk, memory, time; one line per "
                        "run) and stop")
    parser.add_argument("--no-measure", action="store_true",
                        help="plan without timing training steps on this device (quicker; "
                        "the plan then has no memory or time figures)")
    return parser


def _announce(settings: dict, paths, plan: list, profile: str, reason: str,
              config_file: Path, dry_run: dict | None) -> None:
    """Say which profile runs, where, and how much training it holds."""
    common.say(f"gruvsynth reproduction: profile {profile!r} ({reason})")
    if dry_run:
        from gruvsynth.reproduction.results import DRY_RUN_BANNER, describe_dry_run

        common.say(f"  *** {DRY_RUN_BANNER.upper()} ({describe_dry_run(dry_run)}): every run "
                   "capped, every claim will be inconclusive ***")
    common.say(f"  {settings['profile']['description']}; settings {config_file}")
    common.say(f"  {len(plan)} training runs, {sum(r[4] for r in plan)} epochs in all; "
               f"estimate: {settings['profile']['estimate']}")
    common.say(f"  results in {paths.out}, corpora in {paths.data}, runs in {paths.runs}")


def _plan(args, settings: dict, paths, plan: list, disk_free) -> tuple[dict | None, int | None]:
    """Print the plan and check the disk: the plan, and the exit status when this stops here
    (``None`` when the stages are to run)."""
    t_plan = time.perf_counter()
    try:
        needs = planning.make_plan(settings, paths, plan, measure_steps=not args.no_measure)
    except (common.ProfileError, OSError) as exc:
        print(f"reproduce: error: cannot plan the profile: {exc}", file=sys.stderr)
        return None, 2
    short = planning.check_disk(needs, disk_free=disk_free)
    needs["seconds_to_plan"] = time.perf_counter() - t_plan
    for line in planning.format_plan(needs, runs=args.plan):
        common.say(line)
    if short:
        if args.plan or not args.force:
            print(f"reproduce: {'would refuse' if args.plan else 'refused'}: {short} "
                  "(--force starts anyway)", file=sys.stderr)
        if not args.plan and not args.force:
            return needs, 1
        if args.force and not args.plan:
            common.say(f"  --force: starting although {short}")
    return needs, (0 if args.plan else None)


def _run_stage(name: str, settings: dict, paths, args, entry: dict, save) -> bool:
    """Run one stage and record its status, time and peak memory in ``entry``; False when it
    failed."""
    from gruvsynth.backends import peak_memory, reset_peak_memory
    from gruvsynth.errors import GruvError

    save()
    reset_peak_memory()
    t0 = time.perf_counter()
    try:
        if name == "corpora":
            common.prepare_corpora(settings, paths, progress=not args.quiet)
            result = True
        else:
            module = __import__(f"experiments.{dict(STAGES)[name]}", fromlist=["run"])
            result = module.run(settings, paths, progress=not args.quiet, force=args.force)
    except (GruvError, common.ProfileError) as exc:
        entry.update(status=f"failed: {exc}", seconds=time.perf_counter() - t0)
        save()
        print(f"reproduce: stage {name} failed: {exc}", file=sys.stderr)
        return False
    entry.update(status="done" if result is not None else "already done",
                 seconds=time.perf_counter() - t0)
    memory = peak_memory()
    entry.update(peak_rss_bytes=memory["rss_bytes"],
                 peak_children_rss_bytes=memory["children_rss_bytes"],
                 peak_device_bytes=memory["device_bytes"])
    stamp = paths.out / common.STAGES_DIR / f"{name}.json"
    if result is None and stamp.is_file():  # the time it took when it was done
        entry["done_seconds"] = json.loads(stamp.read_text()).get("seconds")
    save()
    return True


def _check_page(page: Path, paths, record: dict, save) -> int:
    """Check the page in headless Chromium when one is installed; 1 when it has problems."""
    from gruvsynth.errors import GruvError
    from gruvsynth.reproduction.browser import check_page, find_browser
    from gruvsynth.reproduction.results import SCREENSHOT

    if find_browser() is None:
        common.say("  (no Chromium installed: the page was not checked in a browser)")
        return 0
    try:
        check = check_page(page, screenshot=paths.out / SCREENSHOT)
    except GruvError as exc:
        check = {"ok": False, "problems": [str(exc)], "screenshot": None}
    record["page_check"] = {k: check.get(k) for k in ("ok", "problems", "screenshot")}
    save()
    if not check["ok"]:
        common.say("  page check found problems:\n    " + "\n    ".join(check["problems"]))
        return 1
    common.say(f"  page checked in Chromium: {len(check.get('images', []))} images "
               f"and {len(check.get('audio', []))} audio players load; screenshot "
               f"{check['screenshot']}")
    return 0


def _report(paths, args, record: dict, save) -> int:
    """The claims and the page (then the page check); 1 when the page check found problems."""
    from gruvsynth.backends import peak_memory, reset_peak_memory
    from gruvsynth.reproduction.build import build_report
    from gruvsynth.reproduction.claims import findings

    reset_peak_memory()
    t0 = time.perf_counter()
    built = build_report(paths.out)
    for c in built["claims"]:
        why = f" ({c['reason']})" if c.get("reason") else ""
        common.say(f"  {c['id']} {c.get('family_label', ''):27} {c['verdict'] + why:42} "
                   f"{c['claim']}")
    for finding in findings(built["claims"]):
        common.say(f"  finding: {finding}")
    common.say(f"  {built['claims_md']}\n  {built['page']}")
    status = 0 if args.no_browser_check else _check_page(built["page"], paths, record, save)
    memory = peak_memory()
    record["report_stage"] = {"name": "claims and page", "seconds": time.perf_counter() - t0,
                              "peak_rss_bytes": memory["rss_bytes"],
                              "peak_children_rss_bytes": memory["children_rss_bytes"],
                              "peak_device_bytes": memory["device_bytes"]}
    save()
    return status


def main(argv: list[str] | None = None, *, disk_free=None) -> int:
    """Run the reproduction stages for one profile.

    Parameters
    ----------
    argv : list of str, optional
        The options (default: ``sys.argv[1:]``).
    disk_free : callable, optional
        ``disk_free(path) -> bytes`` free on the file system of ``path``, for the disk check
        (default :func:`experiments.planning.free_bytes`; tests fake it).

    Returns
    -------
    int
        0 when done (or planned), 1 when a stage failed, the page check found problems or the
        disk is short, 2 for a bad profile.
    """
    args = _parser().parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    started = time.time()

    if args.profile == "auto":
        profile, reason = common.auto_profile()
    else:
        profile, reason = args.profile, "given with --profile"
    try:
        settings = common.profile_settings(args, profile)
    except common.ProfileError as exc:
        print(f"reproduce: error: {exc}", file=sys.stderr)
        return 2
    paths = common.paths_for(args, profile)
    plan = training_plan(settings)
    config_file = common.config_path(profile)
    profile = settings["profile"]["name"]  # a profile file's stem
    dry_run = common.dry_run_of(settings)
    _announce(settings, paths, plan, profile, reason, config_file, dry_run)
    needs, stop = _plan(args, settings, paths, plan, disk_free)
    if stop is not None:
        return stop

    from gruvsynth.fileio import write_json_atomic
    from gruvsynth.reproduction.results import REPRODUCTION_JSON

    paths.out.mkdir(parents=True, exist_ok=True)
    record = {"profile": profile, "profile_reason": reason, "config": str(config_file),
              "settings_toml": config_file.read_text(encoding="utf-8"),
              "started": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(started)),
              "finished": None, "total_seconds": None, "stages": [], "host": host_info(),
              "training_runs": [common.run_name(*r, tag=paths.tag) for r in plan],
              common.DRY_RUN: dry_run, "plan": needs}

    def save():
        write_json_atomic(paths.out / REPRODUCTION_JSON, record, clean=True)

    names = ["corpora", *(name for name, _ in STAGES)]
    total = len(names) + 1
    status = 0
    for k, name in enumerate(names, 1):
        common.say(f"\n=== [{k}/{total}] {name} ({time.time() - started:.0f} s so far) ===")
        entry = {"name": name, "status": "running", "seconds": None}
        record["stages"].append(entry)
        if not _run_stage(name, settings, paths, args, entry, save):
            status = 1
            break

    record["finished"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    record["total_seconds"] = time.time() - started
    save()
    common.say(f"\n=== [{total}/{total}] claims and page ===")
    status = _report(paths, args, record, save) or status
    common.say(f"done in {(time.time() - started) / 60:.1f} min (profile {profile})")
    if status:
        common.say(json.dumps([s for s in record["stages"] if s["status"].startswith("failed")]))
    return status


if __name__ == "__main__":
    sys.exit(main())
