"""Run the whole reproduction of the paper for one profile (what ``make reproduce`` calls).

Usage::

    python experiments/reproduce.py [--profile auto|smoke|quick|paper] [--out DIR] [--data DIR]

Stages, in order: prepare the two stand-in corpora, Figure 1 (GRU vs LSTM loss curves),
Figure 2 (hidden size), Figure 3 (mean spectrograms; also the generated samples and their
metrics), generation length, depth, then the claims table (``claims.md``, ``claims.json``)
and the page (``index.html``), checked in headless Chromium when it is installed (with a
screenshot, ``screenshot.png``).  Each stage is one of the scripts beside this one, run in
this process; a finished stage is not redone when this is run again, and training runs resume
where they stopped.  ``--profile auto`` (the default) takes ``paper`` when the Keras backend
sees a GPU, else ``quick``.
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

from experiments import common  # noqa: E402

DEFAULT_PROFILE = "auto"
#: The experiment stages: (name, module under experiments/).
STAGES = (
    ("fig1_loss_curves", "fig1_loss_curves"),
    ("fig2_hidden_size", "fig2_hidden_size"),
    ("fig3_spectrograms", "fig3_spectrograms"),
    ("generation_length", "generation_length"),
    ("depth", "depth"),
)


def training_plan(settings: dict) -> list[tuple[str, str, int, int, int, int]]:
    """Every distinct training run the profile needs: (corpus, cell, hidden, layers, epochs,
    seed), each configuration once per replicate seed."""
    f1, f2, d = settings["fig1"], settings["fig2"], settings["depth"]
    s1, s2, sd = (common.replicate_seeds(settings, k) for k in ("fig1", "fig2", "depth"))
    runs = []
    for corpus in settings["corpus"]["names"]:
        runs += [(corpus, cell, f1["hidden"], 1, f1["epochs"], s) for cell in f1["cells"]
                 for s in s1]
    for corpus in f2["corpora"]:
        runs += [(corpus, cell, h, 1, f2["epochs"], s) for cell in f2["cells"]
                 for h in f2["hidden"] for s in s2]
    for corpus in d["corpora"]:
        runs += [(corpus, cell, d["hidden"], n, d["epochs"], s) for cell in d["cells"]
                 for n in d["layers"] for s in sd]
    return list(dict.fromkeys(runs))


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
        from gruvsynth.backend import select_backend, versions

        select_backend(None)
        v = versions()
        info.update(backend=v["backend"], backend_version=v["backend_version"],
                    keras=v["keras"], devices=v["devices"])
    except Exception as exc:  # the record must never stop the run
        info["backend_error"] = str(exc)
    return info


def main(argv: list[str] | None = None) -> int:
    """Run the reproduction stages for one profile."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    common.add_arguments(parser, auto=True)
    parser.add_argument("--no-browser-check", action="store_true",
                        help="do not open the page in headless Chromium")
    parser.add_argument("--plan", action="store_true",
                        help="print the profile, the plan and the estimate, then stop")
    args = parser.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    started = time.time()

    if args.profile == "auto":
        profile, reason = common.auto_profile()
    else:
        profile, reason = args.profile, "given with --profile"
    try:
        settings = common.load_profile(profile)
    except common.ProfileError as exc:
        print(f"reproduce: error: {exc}", file=sys.stderr)
        return 2
    paths = common.paths_for(args, profile)
    plan = training_plan(settings)
    config_file = common.config_path(profile)
    common.say(f"gruvsynth reproduction: profile {profile!r} ({reason})")
    common.say(f"  {settings['profile']['description']}; settings {config_file}")
    common.say(f"  {len(plan)} training runs, {sum(r[4] for r in plan)} epochs in all; "
               f"estimate: {settings['profile']['estimate']}")
    common.say(f"  results in {paths.out}, corpora in {paths.data}, runs in {paths.runs}")
    if args.plan:
        for r in plan:
            common.say(f"    run {common.run_name(*r)}")
        return 0

    from gruvsynth import report
    from gruvsynth.errors import GruvError

    paths.out.mkdir(parents=True, exist_ok=True)
    record = {"profile": profile, "profile_reason": reason, "config": str(config_file),
              "settings_toml": config_file.read_text(encoding="utf-8"),
              "started": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(started)),
              "finished": None, "total_seconds": None, "stages": [], "host": host_info(),
              "training_runs": [common.run_name(*r) for r in plan]}
    progress = not args.quiet

    def save():
        report.write_json(paths.out / report.REPRODUCTION_JSON, record)

    names = ["corpora", *(name for name, _ in STAGES)]
    total = len(names) + 1
    status = 0
    for k, name in enumerate(names, 1):
        common.say(f"\n=== [{k}/{total}] {name} ({time.time() - started:.0f} s so far) ===")
        entry = {"name": name, "status": "running", "seconds": None}
        record["stages"].append(entry)
        save()
        t0 = time.perf_counter()
        try:
            if name == "corpora":
                common.prepare_corpora(settings, paths, progress=progress)
                result = True
            else:
                module = __import__(f"experiments.{dict(STAGES)[name]}", fromlist=["run"])
                result = module.run(settings, paths, progress=progress, force=args.force)
        except (GruvError, common.ProfileError) as exc:
            entry.update(status=f"failed: {exc}", seconds=time.perf_counter() - t0)
            save()
            print(f"reproduce: stage {name} failed: {exc}", file=sys.stderr)
            status = 1
            break
        entry.update(status="done" if result is not None else "already done",
                     seconds=time.perf_counter() - t0)
        stamp = paths.out / common.STAGES_DIR / f"{name}.json"
        if result is None and stamp.is_file():  # the time it took when it was done
            entry["done_seconds"] = json.loads(stamp.read_text()).get("seconds")
        save()

    record["finished"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    record["total_seconds"] = time.time() - started
    save()
    common.say(f"\n=== [{total}/{total}] claims and page ===")
    built = report.build_report(paths.out)
    for c in built["claims"]:
        why = f" ({c['reason']})" if c.get("reason") else ""
        common.say(f"  {c['id']} {c.get('family_label', ''):27} {c['verdict'] + why:42} "
                   f"{c['claim']}")
    for finding in report.findings(built["claims"]):
        common.say(f"  finding: {finding}")
    common.say(f"  {built['claims_md']}\n  {built['page']}")
    if not args.no_browser_check:
        if report.find_browser() is None:
            common.say("  (no Chromium installed: the page was not checked in a browser)")
        else:
            try:
                check = report.check_page(built["page"],
                                          screenshot=paths.out / report.SCREENSHOT)
            except GruvError as exc:
                check = {"ok": False, "problems": [str(exc)], "screenshot": None}
            record["page_check"] = {k: check.get(k) for k in ("ok", "problems", "screenshot")}
            save()
            if check["ok"]:
                common.say(f"  page checked in Chromium: {len(check.get('images', []))} images "
                           f"and {len(check.get('audio', []))} audio players load; screenshot "
                           f"{check['screenshot']}")
            else:
                common.say("  page check found problems:\n    " + "\n    ".join(check["problems"]))
                status = status or 1
    common.say(f"done in {(time.time() - started) / 60:.1f} min (profile {profile})")
    if status:
        common.say(json.dumps([s for s in record["stages"] if s["status"].startswith("failed")]))
    return status


if __name__ == "__main__":
    sys.exit(main())
