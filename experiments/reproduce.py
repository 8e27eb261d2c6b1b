"""Run the reproduction of the paper for one profile (what ``make reproduce`` calls).

Usage::

    python experiments/reproduce.py --profile quick --out results/quick --data data

Stages already finished are not redone when it is run again.  Today it prepares the two
stand-in corpora of the profile (``experiments/configs/<profile>.toml``); the experiment
scripts (Figures 1-3, generation length, depth), the claims table and the HTML page are
not written yet, and it says so at the end.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

HERE = Path(__file__).resolve().parent
PROFILES = ("smoke", "quick", "paper")
DEFAULT_PROFILE = "quick"


def load_profile(profile: str) -> dict:
    """Read ``experiments/configs/<profile>.toml``."""
    path = HERE / "configs" / f"{profile}.toml"
    with open(path, "rb") as fh:
        return tomllib.load(fh)


def prepare_corpora(settings: dict, data_dir: Path, *, progress: bool = True) -> list[Path]:
    """Prepare each corpus of the profile into ``data_dir/<name>`` unless already there."""
    from gruvsynth.corpus import open_corpus, prepare_corpus

    c = settings["corpus"]
    out = []
    for name in c["names"]:
        target = data_dir / name
        if (target / "manifest.json").exists():
            open_corpus(target).close()
            print(f"[corpus] {name}: already prepared in {target}")
        else:
            print(f"[corpus] {name}: preparing {c['songs']} songs into {target}")
            start = time.perf_counter()
            prepare_corpus(
                name, target,
                songs=c["songs"], max_seconds=c["max_seconds"] or None,
                representation=c["representation"], block=c["block"],
                clip_blocks=c["clip_blocks"], dev_fraction=c["dev_fraction"],
                progress=progress,
            ).close()
            print(f"[corpus] {name}: done in {time.perf_counter() - start:.0f} s")
        out.append(target)
    return out


def main(argv: list[str] | None = None) -> int:
    """Run the reproduction stages for one profile."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--profile", choices=PROFILES, default=DEFAULT_PROFILE,
                        help=f"settings profile (default: {DEFAULT_PROFILE})")
    parser.add_argument("--out", type=Path, default=None,
                        help="results folder (default: results/<profile>)")
    parser.add_argument("--data", type=Path, default=Path("data"),
                        help="where prepared corpora go, in <data>/<profile>/ (default: data)")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    args = parser.parse_args(argv)
    out = args.out or Path("results") / args.profile
    settings = load_profile(args.profile)
    print(f"gruvsynth reproduction: profile {args.profile!r}, results in {out}")
    prepare_corpora(settings, args.data / args.profile, progress=not args.quiet)
    print(
        "Not there yet: the experiment scripts (Figures 1-3, generation length, depth), the "
        "claims table and the HTML page of the reproduction. The corpora above are ready for "
        "`gruvsynth train`."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
