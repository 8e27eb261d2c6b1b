"""``gruvsynth report``: recompute the claims table and the page of a results folder."""

from __future__ import annotations

import argparse
from pathlib import Path

from gruvsynth.cli import subcommand_main
from gruvsynth.reproduction.results import SCREENSHOT

HELP = "recompute the claims table (verdicts) and the HTML page of a results folder"

DESCRIPTION = """\
Read the data the experiment scripts wrote into a results folder (figures/*.json,
samples/samples.json, reproduction.json) and write, into the same folder:

  * claims.md and claims.json: the paper's seven claims, each with the measured figures behind
    it and a verdict (reproduced / not reproduced / inconclusive) computed by the rule written
    beside it;
  * index.html: one self-contained page (relative links, no network, no script) with the
    figures, the claims table, audio players for the seed and the generated samples of every
    cell and corpus, with their metrics, and links to the data files.

With --check the page is then opened in headless Chromium: every image and audio element must
load, and a screenshot is saved (screenshot.png, or --screenshot).

examples:
  gruvsynth report results/quick
  gruvsynth report results/smoke --check
"""

#: Defaults.
DEFAULT_SCREENSHOT = SCREENSHOT


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``gruvsynth report``'s arguments to ``parser``."""
    parser.add_argument("results_dir", metavar="DIR", type=Path,
                        help="results folder written by experiments/reproduce.py or the "
                        "experiment scripts (e.g. results/quick)")
    parser.add_argument("--check", action="store_true",
                        help="open the page in headless Chromium and check that every image "
                        "and audio element loads (exit status 1 if not)")
    parser.add_argument("--screenshot", type=Path, metavar="PNG", default=None,
                        help=f"with --check: where to save the screenshot "
                        f"(default: DIR/{DEFAULT_SCREENSHOT})")
    parser.add_argument("--browser", metavar="PATH", default=None,
                        help="with --check: the Chromium executable (default: chromium on PATH, "
                        "or $GRUVSYNTH_BROWSER)")


def run(args: argparse.Namespace) -> int:
    """Write the claims and the page; optionally check the page in a browser."""
    from gruvsynth.reproduction.browser import check_page
    from gruvsynth.reproduction.build import build_report

    built = build_report(args.results_dir)
    quiet = getattr(args, "verbosity", 0) < 0
    if not quiet:
        for c in built["claims"]:
            why = f" ({c['reason']})" if c.get("reason") else ""
            print(f"{c['id']}  {c.get('family_label', ''):27} {c['verdict'] + why:42} "
                  f"{c['claim']}")
        print(f"wrote {built['claims_md']}, {built['claims_json']}, {built['page']}")
    if not args.check:
        return 0
    shot = args.screenshot or Path(args.results_dir) / DEFAULT_SCREENSHOT
    result = check_page(built["page"], screenshot=shot, browser=args.browser)
    if result["ok"]:
        if not quiet:
            print(f"page check: {len(result['images'])} images and {len(result['audio'])} audio "
                  f"elements load; screenshot {result['screenshot']}")
        return 0
    for problem in result["problems"]:
        print(f"gruvsynth report: page problem: {problem}")
    return 1


def main(argv: list[str] | None = None) -> int:
    """Run ``gruvsynth report`` alone."""
    return subcommand_main("report", argv)


if __name__ == "__main__":
    import sys

    sys.exit(main())
