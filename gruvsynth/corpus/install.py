"""Installing a corpus folder: built beside its place, then renamed into it.

A prepare writes its corpus into ``.<name>.partial-<pid>`` beside ``out`` (:func:`partial_folder`)
and renames it into place only when complete (:func:`install`), so a reader never sees half a
corpus.  This works on the whole folder, so it is not :func:`gruvsynth.fileio.atomic_path` (a
file's scheme), but it moves folders with :func:`gruvsynth.fileio.rename_no_replace`.  A
prepare refuses to start while another live one is writing the same folder
(:func:`clean_partials`), and installing never replaces or deletes a folder that appeared
meanwhile unless ``overwrite`` is given and it is recognisably a corpus
(:func:`check_replaceable`).
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
from pathlib import Path

from gruvsynth.corpus.layout import DATA_NAME, FORMAT, LEFTOVER_PATTERN, MANIFEST_NAME
from gruvsynth.errors import CorpusError, GruvError, OutputError
from gruvsynth.fileio import read_json, rename_no_replace, writing

__all__ = ["partial_folder", "clean_partials", "check_out", "check_replaceable", "install"]

log = logging.getLogger("gruvsynth.corpus")


def partial_folder(out: Path) -> Path:
    """The folder this process builds ``out`` in: ``.<name>.partial-<pid>`` beside it."""
    return out.parent / f".{out.name}.partial-{os.getpid()}"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def clean_partials(out: Path) -> None:
    """Remove the partial (and replaced) folders left by earlier, interrupted prepares of ``out``.

    Raises
    ------
    CorpusError
        Another prepare that is still running is writing ``out``.
    """
    if not out.parent.is_dir():
        return
    for entry in out.parent.iterdir():
        m = LEFTOVER_PATTERN.match(entry.name)
        if not m or m["name"] != out.name or not entry.is_dir():
            continue
        pid = int(m["pid"])
        if pid != os.getpid() and _pid_alive(pid):
            raise CorpusError(
                f"{out}: another gruvsynth prepare (pid {pid}) is writing this corpus "
                f"({entry.name}); wait for it to finish or choose another folder")
        log.info("removing %s, left by an interrupted prepare", entry)
        shutil.rmtree(entry, ignore_errors=True)


def _already_exists(out: Path) -> CorpusError:
    return CorpusError(f"{out}: already exists",
                       hint="choose another folder, or pass overwrite=True to replace it",
                       cli_hint="choose another folder, or use --force to replace it")


def check_out(out: Path, overwrite: bool) -> None:
    """Refuse an existing ``out`` unless ``overwrite`` and it is recognisably a corpus.

    Raises
    ------
    CorpusError
        ``out`` exists and ``overwrite`` is false, or it is not a corpus.
    """
    try:
        exists = out.exists() or out.is_symlink()
    except OSError as exc:
        raise CorpusError(f"{out}: cannot be looked at ({exc.strerror})") from None
    if not exists:
        return
    if not overwrite:
        raise _already_exists(out)
    check_replaceable(out, out)


def check_replaceable(folder: Path, out: Path) -> None:
    """Raise unless ``folder`` (``out``, or where it was moved) is a gruvsynth corpus: a real
    folder holding nothing but ``manifest.json`` (of this format) and ``corpus.h5``."""
    refuse = "refusing to replace it"
    if folder.is_symlink() or not folder.is_dir():
        raise CorpusError(f"{out}: exists and is not a folder; {refuse}")
    try:
        names = sorted(p.name for p in folder.iterdir())
    except OSError as exc:
        raise CorpusError(f"{out}: cannot be read ({exc.strerror}); {refuse}") from None
    extra = [n for n in names if n not in (MANIFEST_NAME, DATA_NAME)]
    if extra:
        raise CorpusError(f"{out}: exists and is not a gruvsynth corpus (it holds {extra[0]!r}); "
                          f"{refuse}")
    if MANIFEST_NAME in names:
        try:
            manifest = read_json(folder / MANIFEST_NAME, "corpus manifest")
        except GruvError:
            manifest = None
        if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
            raise CorpusError(f"{out}: exists and its {MANIFEST_NAME} is not a gruvsynth "
                              f"corpus manifest; {refuse}")


def install(partial: Path, out: Path, *, overwrite: bool) -> None:
    """Rename the finished ``partial`` folder to ``out``.

    Nothing this prepare did not make is ever deleted: a folder that appeared at ``out``
    meanwhile (another prepare's corpus, a user's folder) makes it fail, unless
    ``overwrite`` is given and the folder is recognisably a corpus (checked again here, and
    once more after it is moved aside); then it is replaced.
    """
    def appeared() -> CorpusError:
        return CorpusError(f"{out}: a folder appeared there while this prepare was running "
                           "(another prepare, or made by hand); it is left as it is and this "
                           "prepare's corpus is discarded")

    try:
        rename_no_replace(partial, out)
        return
    except FileExistsError:
        if not overwrite:
            raise appeared() from None
    except OSError as exc:
        raise OutputError(out, exc.strerror or str(exc)) from None
    # --force: replace the corpus that is there, if it is one
    check_replaceable(out, out)
    old = out.parent / f".{out.name}.old-{os.getpid()}"
    with writing(out):
        os.rename(out, old)
    try:
        check_replaceable(old, out)  # it may have been swapped since the check above
    except CorpusError:
        with contextlib.suppress(OSError):
            rename_no_replace(old, out)
        raise
    try:
        rename_no_replace(partial, out)
    except OSError:
        with contextlib.suppress(OSError):
            rename_no_replace(old, out)
        raise appeared() from None
    shutil.rmtree(old, ignore_errors=True)

