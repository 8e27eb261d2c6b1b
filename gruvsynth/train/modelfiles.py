"""Model files (``.keras``): checks that a file is one, its checkpoint stamp, and loading it in
Keras's safe mode with gruvsynth's cells registered.

Loading never runs code a file or a run names: Keras's own and gruvsynth's cells load by their
registered names, and a cell of the user's own only once the user has imported the module that
registers it (:func:`gruvsynth.train.config.import_cell_modules`).  Keras is imported only inside
:func:`load_model_file`, once :func:`gruvsynth.backends.select_backend` has fixed the backend.
"""

from __future__ import annotations

import json
import re
import zipfile
from pathlib import Path

from gruvsynth.errors import CheckpointError
from gruvsynth.train.config import cell_module_hint, spec_module

__all__ = ["STAMP_NAME", "check_model_file", "read_stamp", "load_model_file"]

#: Member added to every checkpoint's zip file: which run and epoch it belongs to.
STAMP_NAME = "gruvsynth-checkpoint.json"


def _import_cells() -> None:
    """Register gruvsynth's cells with Keras, so model files that use them load in safe mode."""
    import gruvsynth.cells  # noqa: F401


def read_stamp(path: Path) -> dict | None:
    """The stamp (run and epoch) of a checkpoint file, or None if it has none.

    Raises
    ------
    CheckpointError
        The file is not a readable zip archive.
    """
    try:
        with zipfile.ZipFile(path) as z:
            if STAMP_NAME not in z.namelist():
                return None
            return json.loads(z.read(STAMP_NAME).decode("utf-8"))
    except (zipfile.BadZipFile, OSError, ValueError, KeyError) as exc:
        raise CheckpointError(f"{path}: truncated or corrupt model file ({exc})") from None


def check_model_file(path: Path) -> None:
    """Refuse a model file that is missing, empty, not a zip archive, corrupt, or not Keras's.

    Raises
    ------
    CheckpointError
        Saying which.
    """
    if not path.exists():
        raise CheckpointError(f"{path}: no such model file")
    if not path.is_file():
        raise CheckpointError(f"{path}: not a file")
    if path.stat().st_size == 0:
        raise CheckpointError(f"{path}: empty model file (0 bytes)")
    try:
        with zipfile.ZipFile(path) as z:
            names = set(z.namelist())
            bad = z.testzip()
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise CheckpointError(
            f"{path}: truncated or corrupt model file, not a readable .keras archive ({exc})"
        ) from None
    if bad is not None:
        raise CheckpointError(f"{path}: corrupt model file (bad checksum in {bad})")
    if not {"config.json", "model.weights.h5"} <= names:
        raise CheckpointError(f"{path}: not a Keras model file (no config.json/model.weights.h5)")


def load_model_file(path, *, cell=None, compile: bool = True):
    """Load a ``.keras`` model file in Keras's safe mode, with gruvsynth's cells registered.

    No module is imported because of the file or the run: Keras's own and gruvsynth's cells
    load by their registered names, and a cell of the user's own loads only once the user has
    imported the module that registers it (:func:`import_cell_modules`).

    Parameters
    ----------
    path : str or os.PathLike
        A ``.keras`` file (a checkpoint or a final model).
    cell : str or dict, optional
        The run's cell spec (:func:`cell_spec`), used only to say which module to import when
        the model's cell is not registered.
    compile : bool
        Restore the optimizer and its state (to train on).  ``False`` loads the weights only:
        half the memory at the paper's size (no RMSprop velocities), for generation and
        evaluation.

    Returns
    -------
    model : keras.Model
        With its optimizer state, when the file has one and ``compile`` is true.

    Raises
    ------
    CheckpointError
        The file is missing, empty, truncated, corrupt or not a Keras model, or its cell is
        not registered (the message says which module to import).
    """
    from gruvsynth.backends import select_backend

    path = Path(path)
    check_model_file(path)
    select_backend(None)
    import keras

    _import_cells()
    try:
        return keras.saving.load_model(path, safe_mode=True, compile=compile)
    except Exception as exc:  # Keras raises many types (ValueError, OSError, TypeError, ...)
        text = str(exc).strip()
        reason = text.splitlines()[0] if text else type(exc).__name__
        found = re.search(r"Could not locate class '([^']+)'", text)
        if found:
            raise CheckpointError(
                f"{path}: the model's cell class {found[1]!r} is not registered (the run's "
                f"cell is {cell!r}; gruvsynth does not import a module because a run names it)",
                **cell_module_hint(spec_module(cell))) from None
        raise CheckpointError(f"{path}: cannot load the model ({reason[:300]})") from None
