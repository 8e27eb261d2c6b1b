"""The cell registry: recurrent cells chosen by name, class or instance.

:data:`CELLS` maps each name that :func:`gruvsynth.models.build_model` (and ``gruvsynth train
--cell``) accepts to a factory; :func:`register_cell` adds names.  The functions below turn what
a user gave as ``cell=`` into a factory (:func:`resolve_factory`), tell an RNN cell from other
layers (:func:`is_rnn_cell`), read a cell's size (:func:`cell_size`) and name the cell of a
recurrent layer (:func:`cell_name`, the inverse, for :func:`gruvsynth.models.describe`).

``gruvsynth.models`` re-exports :data:`CELLS` and :func:`register_cell`, their documented home.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable

import keras

from gruvsynth.cells import (
    Keras01GRUCell,
    Keras01LSTMCell,
    PaperGRUCell,
    PeepholeLSTMCell,
)
from gruvsynth.errors import ParameterError

__all__ = [
    "CELLS",
    "BUILTIN_CELLS",
    "register_cell",
    "resolve_factory",
    "is_rnn_cell",
    "cell_size",
    "cell_name",
    "cell_choices",
]

#: Cell names accepted by :func:`~gruvsynth.models.build_model`, each mapped to a factory called
#: as ``factory(units=hidden)`` that returns either an RNN cell (wrapped in ``keras.layers.RNN``)
#: or a ``keras.layers.RNN`` layer (re-made with ``return_sequences=True`` and its layer name).
#: Add entries with :func:`register_cell`.
CELLS: dict[str, Callable] = {
    "lstm": keras.layers.LSTM,
    "gru": keras.layers.GRU,
    "keras01_lstm": Keras01LSTMCell,
    "keras01_gru": Keras01GRUCell,
    "peephole_lstm": PeepholeLSTMCell,
    "paper_gru": PaperGRUCell,
}

#: The built-in names, which :func:`register_cell` never replaces.
BUILTIN_CELLS = tuple(CELLS)


def register_cell(name: str, factory: Callable, *, overwrite: bool = False) -> None:
    """Make a cell available to :func:`~gruvsynth.models.build_model` (and ``gruvsynth train
    --cell``) by name.

    Parameters
    ----------
    name : str
        The name, e.g. ``"mgu"``.
    factory : callable
        Called as ``factory(units=hidden)``; returns an RNN cell (a ``keras.layers.Layer`` with
        ``state_size``) or a ``keras.layers.RNN`` layer.  Usually the cell class itself.  For
        saved models to load, the cell class must be registered with
        ``keras.saving.register_keras_serializable``.
    overwrite : bool
        Allow replacing an existing name (the built-in names can never be replaced).

    Raises
    ------
    ParameterError
        If ``name`` is not a non-empty string, ``factory`` is not callable, or the name is taken.
    """
    if not isinstance(name, str) or not name.strip():
        raise ParameterError(f"cell name must be a non-empty string, got {name!r}")
    if not callable(factory):
        raise ParameterError(f"cell factory for {name!r} must be callable, got {factory!r}")
    if name in BUILTIN_CELLS or (name in CELLS and not overwrite):
        raise ParameterError(f"cell name {name!r} is already registered")
    CELLS[name] = factory


def cell_choices() -> str:
    """What ``cell=`` may be, for error messages: the registered names and the other forms."""
    names = ", ".join(repr(n) for n in CELLS)
    return f"{names}, a registered Keras name 'package>Class', a cell class or a cell instance"


def is_rnn_cell(obj) -> bool:
    """Whether ``obj`` is an RNN cell: a ``keras.layers.Layer`` with a ``state_size``."""
    return isinstance(obj, keras.layers.Layer) and hasattr(obj, "state_size")


def resolve_factory(cell) -> Callable:
    """The factory for a cell given by name, class or factory function.

    Parameters
    ----------
    cell : str, type or callable
        A name in :data:`CELLS`, a registered Keras name ``"package>Class"``, a
        ``keras.layers.Layer`` subclass, or a function returning a cell.

    Returns
    -------
    factory : callable
        Called as ``factory(units=hidden)``.

    Raises
    ------
    ParameterError
        For an unknown name, a class that is not a Keras layer, or anything else.
    """
    if isinstance(cell, str):
        if cell in CELLS:
            return CELLS[cell]
        found = keras.saving.get_registered_object(cell) if ">" in cell else None
        if inspect.isclass(found) and issubclass(found, keras.layers.Layer):
            return found
        raise ParameterError(f"unknown cell {cell!r}: choose one of {cell_choices()}")
    if inspect.isclass(cell):
        if not issubclass(cell, keras.layers.Layer):
            raise ParameterError(
                f"cell class {cell.__name__} is not a keras.layers.Layer: "
                f"choose one of {cell_choices()}"
            )
        return cell
    if callable(cell) and not isinstance(cell, keras.layers.Layer):
        return cell
    raise ParameterError(f"invalid cell {cell!r}: choose one of {cell_choices()}")


def cell_size(cell):
    """A cell's output size: ``output_size``, else the first ``state_size`` (as Keras's RNN).

    Parameters
    ----------
    cell : keras.layers.Layer
        An RNN cell.

    Returns
    -------
    size : int or object
        Usually an int; whatever the cell declares otherwise.
    """
    size = getattr(cell, "output_size", None)
    if size is None:
        state_size = cell.state_size
        size = state_size[0] if isinstance(state_size, (list, tuple)) else state_size
    return size


def cell_name(layer: keras.layers.RNN) -> str:
    """The name a recurrent layer's cell goes by: its name in :data:`CELLS`, else its
    registered Keras name ``"package>Class"``.

    Parameters
    ----------
    layer : keras.layers.RNN

    Returns
    -------
    name : str
    """
    if type(layer) is keras.layers.LSTM:
        return "lstm"
    if type(layer) is keras.layers.GRU:
        return "gru"
    cell_type = type(layer.cell)
    for name, factory in CELLS.items():
        if factory is cell_type:
            return name
    return keras.saving.get_registered_name(cell_type)
