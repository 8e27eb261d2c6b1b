"""The ``gruvsynth`` command: one subcommand per pipeline stage.

``gruvsynth inspect``, ``gruvsynth prepare``, ``gruvsynth train``, ... Each subcommand lives in
``gruvsynth/commands/<name>.py`` and can also be run alone through its ``main(argv=None)``.
Errors caused by bad input (:class:`gruvsynth.errors.GruvError`) are printed as one line,
without a traceback, and give exit status 1; an interrupted command exits with 130.  When the
reader of the output goes away (``gruvsynth prepare ... | head -1``) the command stops writing
and exits with 141 (128 + SIGPIPE, what a program killed by the broken pipe would give), without
a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys

from gruvsynth import __version__
from gruvsynth.errors import GruvError

#: Subcommands in pipeline order: name -> module under ``gruvsynth.commands``.
COMMANDS: tuple[str, ...] = ("inspect", "prepare", "train", "generate", "evaluate", "report")

#: Exit status when the output's reader has gone away (128 + SIGPIPE).
EXIT_BROKEN_PIPE = 141

log = logging.getLogger("gruvsynth")


def setup_logging(verbosity: int = 0) -> None:
    """Send gruvsynth's log records to stderr.

    Parameters
    ----------
    verbosity : int
        ``-1`` quiet (errors only), ``0`` warnings and progress notes, ``1`` debug.
    """
    level = {-1: logging.ERROR, 0: logging.INFO, 1: logging.DEBUG}[max(-1, min(1, verbosity))]
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s: %(message)s"))
    root = logging.getLogger("gruvsynth")
    root.handlers[:] = [handler]
    root.setLevel(level)


def add_common_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``-q/--quiet`` and ``-v/--verbose`` to a subcommand's parser."""
    group = parser.add_mutually_exclusive_group()
    group.add_argument(
        "-q", "--quiet", action="store_const", const=-1, dest="verbosity", default=0,
        help="print only errors (no progress bars, no notes)",
    )
    group.add_argument(
        "-v", "--verbose", action="store_const", const=1, dest="verbosity",
        help="print debugging details",
    )


def command_module(name: str):
    """Import and return ``gruvsynth.commands.<name>``."""
    return importlib.import_module(f"gruvsynth.commands.{name}")


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser with one subparser per command in :data:`COMMANDS`."""
    parser = argparse.ArgumentParser(
        prog="gruvsynth",
        description="GRUV music generation from raw audio: prepare corpora, train LSTM/GRU "
        "models, generate and evaluate audio.",
    )
    parser.add_argument("--version", action="version", version=f"gruvsynth {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        module = command_module(name)
        p = sub.add_parser(
            name, help=module.HELP, description=module.DESCRIPTION,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        module.add_arguments(p)
        add_common_arguments(p)
        p.set_defaults(_module=module)
    return parser


def run_command(module, args: argparse.Namespace) -> int:
    """Run a parsed subcommand, turning package errors into one-line messages."""
    setup_logging(getattr(args, "verbosity", 0))
    try:
        code = int(module.run(args) or 0)
        sys.stdout.flush()  # a closed pipe shows here rather than at exit
        return code
    except GruvError as exc:
        print(f"gruvsynth {args.command}: error: {exc.cli_message()}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"gruvsynth {args.command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        _silence_stdout()
        return EXIT_BROKEN_PIPE


def _silence_stdout() -> None:
    """Point stdout at /dev/null, so the interpreter's last flush does not fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):  # no real file descriptor (e.g. captured)
        pass


def subcommand_main(name: str, argv: list[str] | None = None) -> int:
    """Entry point for one subcommand alone (what each command module's ``main`` calls)."""
    module = command_module(name)
    parser = argparse.ArgumentParser(
        prog=f"gruvsynth {name}", description=module.DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    module.add_arguments(parser)
    add_common_arguments(parser)
    args = parser.parse_args(argv)
    args.command = name
    return run_command(module, args)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``gruvsynth`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    return run_command(args._module, args)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
