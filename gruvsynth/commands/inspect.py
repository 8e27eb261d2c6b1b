"""``gruvsynth inspect``: check audio files before training on them (see :func:`gruvsynth.audio.inspect_file`)."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from gruvsynth.cli import subcommand_main
from gruvsynth.commands import argtypes
from gruvsynth.fileio import check_writable_folder, write_json_atomic

HELP = "check audio files: format, rate, bit depth, peak, silence, clipping, problems"
DESCRIPTION = """\
Decode every audio file given (folders are searched for audio files by extension) and print
one row per file: container format, sample rate (Hz), bit depth (bits; '-' for lossy codecs),
channels, duration (seconds), peak (largest |sample| of any channel, full scale 1.0),
silence (share of 0.25 s blocks of the mono mix whose peak is below one 16-bit step,
2**-15), clipped (share of samples at or above 0.999 of full scale), and status: OK, or the
problem that would make training skip or reject the file (missing, empty, not audio,
truncated or corrupt, zero-length, NaN/Inf samples, all silent).  A summary line follows.

Files are decoded at their own sample rate unless --sr is given.  Characters that would break
the table (a newline, a tab, terminal escapes) are shown escaped (\\n, \\t, \\x1b); --json keeps
the names as they are.  A folder that cannot be read is a row of its own.

exit status:
  0  every file is OK
  1  at least one file has a problem (or no audio file was found)

examples:
  gruvsynth inspect ~/Music/x
  gruvsynth inspect song.wav other.mp3 --json report.json
"""

#: Defaults.
JSON = None
SR = None
#: A progress bar is shown (on stderr) when there are at least this many files.
PROGRESS_MIN_FILES = 5

_COLUMNS = ("file", "format", "rate", "bits", "ch", "seconds", "peak", "silence", "clipped",
            "status")
_RIGHT = {"rate", "bits", "ch", "seconds", "peak", "silence", "clipped"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``inspect``'s arguments to ``parser``."""
    parser.add_argument("paths", nargs="+", metavar="PATH", help="audio files or folders")
    parser.add_argument(
        "--json", metavar="FILE", default=JSON,
        help="also write the rows and the summary to FILE as JSON",
    )
    parser.add_argument(
        "--sr", type=argtypes.positive_int, metavar="HZ", default=SR,
        help="decode at this sample rate (default: each file's own rate)",
    )
    parser.add_argument(
        "--no-recursive", dest="recursive", action="store_false",
        help="do not search sub-folders of the folders given",
    )


def _files(paths: list[str], recursive: bool):
    """(files to inspect, reports for paths that do not exist or cannot be read)."""
    from gruvsynth.audio import FileReport, scan_audio_files

    files, problems = [], []
    for p in paths:
        found, bad = scan_audio_files([p], recursive=recursive)
        files.extend(found)
        problems.extend(FileReport(path=Path(exc.path), status=exc.reason,
                                   error=type(exc).__name__) for exc in bad)
    return list(dict.fromkeys(files)), problems


def _printable(text: str) -> str:
    """``text`` with every non-printable character (newline, tab, escape, ...) escaped."""
    return "".join(ch if ch.isprintable() else ch.encode("unicode_escape").decode("ascii")
                   for ch in text)


def _cells(report) -> list[str]:
    def num(value, fmt):
        return "-" if value is None else format(value, fmt)

    def pct(value, fmt):
        return "-" if value is None else format(100 * value, fmt) + "%"

    return [_printable(cell) for cell in (
        os.fspath(report.path),
        report.format or "-",
        num(report.sample_rate, "d"),
        num(report.bit_depth, "d"),
        num(report.channels, "d"),
        num(report.duration, ".2f"),
        num(report.peak, ".3f"),
        pct(report.silence, ".1f"),
        pct(report.clipped, ".2f"),
        report.status,
    )]


def format_table(reports) -> str:
    """The reports as an aligned text table with a header line.

    Parameters
    ----------
    reports : list of gruvsynth.audio.FileReport
        One per file.

    Returns
    -------
    table : str
        Lines joined by newlines, no trailing newline.
    """
    rows = [list(_COLUMNS)] + [_cells(r) for r in reports]
    widths = [max(len(row[i]) for row in rows) for i in range(len(_COLUMNS))]
    lines = []
    for row in rows:
        cells = [
            cell.rjust(w) if name in _RIGHT else cell.ljust(w)
            for name, cell, w in zip(_COLUMNS, row, widths, strict=True)
        ]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)



def run(args: argparse.Namespace) -> int:
    """Inspect the files and print the table; 0 if all are OK, 1 otherwise."""
    from tqdm.auto import tqdm

    from gruvsynth.audio import inspect_file
    from gruvsynth.errors import GruvError

    if args.json:  # refuse an unwritable --json before the work
        check_writable_folder(Path(args.json).parent)
    files, missing = _files(args.paths, args.recursive)
    if not files and not missing:
        raise GruvError(f"no audio files found in {_printable(', '.join(args.paths))}")
    quiet = getattr(args, "verbosity", 0) < 0
    reports = []
    for f in tqdm(files, desc="inspecting", unit="file", file=sys.stderr, leave=False,
                  disable=quiet or len(files) < PROGRESS_MIN_FILES):
        reports.append(inspect_file(f, sr=args.sr))
    reports.extend(missing)
    n_ok = sum(r.ok for r in reports)
    n_bad = len(reports) - n_ok
    print(format_table(reports))
    print(f"{len(reports)} files, {n_ok} OK, {n_bad} with problems")
    if args.json:
        write_json_atomic(Path(args.json), {
            "files": [r.as_dict() for r in reports],
            "summary": {"files": len(reports), "ok": n_ok, "problems": n_bad},
        })
    return 0 if n_bad == 0 else 1


def main(argv: list[str] | None = None) -> int:
    """Run ``gruvsynth inspect`` with ``argv`` (default: the command line)."""
    return subcommand_main("inspect", argv)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
