"""Run by tests/test_train_cli.py: ``gruvsynth train`` that kills itself in the middle of a save.

Usage: ``python tests/helpers/kill_during_save.py CHECKPOINT_NAME TRAIN_ARGS...``.

The process runs ``gruvsynth train TRAIN_ARGS...`` exactly as the command does, except that
when the file ``CHECKPOINT_NAME`` (e.g. ``epoch-000006.keras``) is about to be renamed into
place, i.e. after the temporary checkpoint file has been fully written and stamped, but before
``os.replace`` makes it the checkpoint, the process sends itself SIGKILL.  The test then resumes
the run and checks that nothing of the interrupted save is used.  Nothing of gruvsynth is
replaced: only ``os.replace`` is wrapped, to choose the moment of death.
"""

from __future__ import annotations

import os
import signal
import sys


def main(target: str, argv: list[str]) -> int:
    real_replace = os.replace

    def replace(src, dst, *args, **kwargs):
        if os.path.basename(os.fspath(dst)) == target:
            os.kill(os.getpid(), signal.SIGKILL)
        return real_replace(src, dst, *args, **kwargs)

    os.replace = replace
    from gruvsynth.commands.train import main as train_main

    return train_main(argv)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2:]))
