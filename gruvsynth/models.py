"""The GRUV network: input projection → recurrent layer(s) → output projection.

:func:`build_model` makes the model of the authors' released code (the paper's text omits the
input projection)::

    Input (batch, time, features)
      → Dense(hidden)          "input_projection"   (per time step; optional)
      → RNN(hidden) × layers    "rnn_1", "rnn_2", …  (return_sequences=True)
      → Dense(features)        "output_projection"  (per time step)

trained with the mean squared error (the paper's eq. 1) and RMSprop.

The two projections are the authors' ``TimeDistributed(Dense(...))``.  A Keras ``Dense`` applied
to a 3-D input multiplies the last axis only, which is the same mathematics; it is used here
because Keras 3's ``TimeDistributed`` runs a Python loop over a fixed number of time steps
(``keras/src/layers/rnn/time_distributed.py``), which is 2–5× slower and uses three times the
memory at the paper's size.  The tests check that both give the same numbers.

Recurrent cells are chosen by name (see :data:`CELLS`: ``"lstm"``, ``"gru"``,
``"peephole_lstm"``, ``"paper_gru"``), by a registered Keras name (``"package>Class"``), or given
as a cell class or instance; ``docs/cells.rst`` shows how to write one.
"""

from __future__ import annotations

import inspect
import math
import numbers
from collections.abc import Callable

import keras
import numpy as np

from gruvsynth.cells import PaperGRUCell, PeepholeLSTMCell
from gruvsynth.errors import ParameterError

__all__ = [
    "CELLS",
    "DEFAULT_CELL",
    "DEFAULT_HIDDEN",
    "DEFAULT_FEATURES",
    "DEFAULT_LEARNING_RATE",
    "INPUT_PROJECTION",
    "OUTPUT_PROJECTION",
    "build_model",
    "register_cell",
    "rnn_layers",
    "describe",
    "param_count",
]

DEFAULT_CELL = "lstm"
DEFAULT_HIDDEN = 2048  # the paper's hidden size (the released code used 1024)
DEFAULT_FEATURES = 22050  # 2 N for blocks of N = 11,025 samples (a quarter second at 44.1 kHz)
DEFAULT_LEARNING_RATE = 1e-3  # RMSprop, as in the released code
INPUT_PROJECTION = "input_projection"
OUTPUT_PROJECTION = "output_projection"

#: Cell names accepted by :func:`build_model`, each mapped to a factory called as
#: ``factory(units=hidden)`` that returns either an RNN cell (wrapped in ``keras.layers.RNN``)
#: or a ``keras.layers.RNN`` layer (re-made with ``return_sequences=True`` and its layer name).
#: Add entries with :func:`register_cell`.
CELLS: dict[str, Callable] = {
    "lstm": keras.layers.LSTM,
    "gru": keras.layers.GRU,
    "peephole_lstm": PeepholeLSTMCell,
    "paper_gru": PaperGRUCell,
}

_BUILTIN_CELLS = tuple(CELLS)


def register_cell(name: str, factory: Callable, *, overwrite: bool = False) -> None:
    """Make a cell available to :func:`build_model` (and ``gruvsynth train --cell``) by name.

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
        Allow replacing an existing name (the four built-in names can never be replaced).

    Raises
    ------
    ParameterError
        If ``name`` is not a non-empty string, ``factory`` is not callable, or the name is taken.
    """
    if not isinstance(name, str) or not name.strip():
        raise ParameterError(f"cell name must be a non-empty string, got {name!r}")
    if not callable(factory):
        raise ParameterError(f"cell factory for {name!r} must be callable, got {factory!r}")
    if name in _BUILTIN_CELLS or (name in CELLS and not overwrite):
        raise ParameterError(f"cell name {name!r} is already registered")
    CELLS[name] = factory


def _positive_int(value, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value <= 0:
        raise ParameterError(f"{what} must be a positive integer, got {value!r}")
    return int(value)


def _cell_choices() -> str:
    names = ", ".join(repr(n) for n in CELLS)
    return f"{names}, a registered Keras name 'package>Class', a cell class or a cell instance"


def _is_cell(obj) -> bool:
    return isinstance(obj, keras.layers.Layer) and hasattr(obj, "state_size")


def _resolve_factory(cell) -> Callable:
    """The factory for a cell given by name, class or factory function."""
    if isinstance(cell, str):
        if cell in CELLS:
            return CELLS[cell]
        found = keras.saving.get_registered_object(cell) if ">" in cell else None
        if inspect.isclass(found) and issubclass(found, keras.layers.Layer):
            return found
        raise ParameterError(f"unknown cell {cell!r}: choose one of {_cell_choices()}")
    if inspect.isclass(cell):
        if not issubclass(cell, keras.layers.Layer):
            raise ParameterError(
                f"cell class {cell.__name__} is not a keras.layers.Layer: "
                f"choose one of {_cell_choices()}"
            )
        return cell
    if callable(cell) and not isinstance(cell, keras.layers.Layer):
        return cell
    raise ParameterError(f"invalid cell {cell!r}: choose one of {_cell_choices()}")


def _cell_size(cell):
    """A cell's output size: ``output_size``, else the first ``state_size`` (as Keras's RNN)."""
    size = getattr(cell, "output_size", None)
    if size is None:
        state_size = cell.state_size
        size = state_size[0] if isinstance(state_size, (list, tuple)) else state_size
    return size


def _make_cell(factory: Callable, hidden: int):
    try:
        return factory(units=hidden)
    except TypeError as error:
        name = getattr(factory, "__name__", repr(factory))
        raise ParameterError(f"could not make a cell with {name}(units={hidden}): {error}") from error


def _recurrent_layer(obj, name: str, hidden: int) -> keras.layers.RNN:
    """Wrap a cell (or re-make an RNN layer) as a named, sequence-returning recurrent layer."""
    if isinstance(obj, keras.layers.RNN):
        config = {**obj.get_config(), "name": name, "return_sequences": True}
        layer = type(obj).from_config(config)
    elif _is_cell(obj):
        layer = keras.layers.RNN(obj, return_sequences=True, name=name)
    else:
        raise ParameterError(
            f"cell factory returned {obj!r}, which is neither an RNN cell (a keras.layers.Layer "
            "with a state_size) nor a keras.layers.RNN layer"
        )
    size = _cell_size(layer.cell)
    if isinstance(size, numbers.Integral) and size != hidden:
        raise ParameterError(
            f"the cell has {size} units but hidden={hidden}: pass hidden={size} or a matching cell"
        )
    return layer


def build_model(
    *,
    cell="lstm",
    hidden: int = DEFAULT_HIDDEN,
    features: int = DEFAULT_FEATURES,
    layers: int = 1,
    input_projection: bool = True,
    learning_rate: float = DEFAULT_LEARNING_RATE,
    compile: bool = True,
    seed: int | None = None,
) -> keras.Sequential:
    """Build (and compile) the GRUV model.

    Parameters
    ----------
    cell : str, type, callable or keras.layers.Layer
        The recurrent cell: a name in :data:`CELLS` (``"lstm"`` = ``keras.layers.LSTM``,
        ``"gru"`` = ``keras.layers.GRU``, ``"peephole_lstm"`` =
        :class:`~gruvsynth.cells.PeepholeLSTMCell`, ``"paper_gru"`` =
        :class:`~gruvsynth.cells.PaperGRUCell`, or any added with :func:`register_cell`), a
        registered Keras name ``"package>Class"``, a cell class (instantiated as
        ``cell(units=hidden)`` for each layer), or a cell instance (used for the first layer;
        further layers get fresh copies made with ``from_config(get_config())``).
    hidden : int
        Units of the input projection and of each recurrent layer (2048 in the paper).
    features : int
        Size D of each input and output vector (22,050 = 2 N for N = 11,025).
    layers : int
        Number of stacked recurrent layers (1 in the paper).
    input_projection : bool
        Include the per-time-step ``Dense(hidden)`` of the authors' code before the recurrent
        layers.  ``False`` gives the paper's text, where the recurrent layer reads the features.
    learning_rate : float
        RMSprop learning rate.
    compile : bool
        Compile with loss ``"mse"`` and ``keras.optimizers.RMSprop(learning_rate)``.
    seed : int or None
        If given, calls ``keras.utils.set_random_seed(seed)`` first (a global setting: Python,
        NumPy and backend seeds) so that the initial weights are reproducible.

    Returns
    -------
    model : keras.Sequential
        Input ``(batch, time, features)`` → output ``(batch, time, features)``; ``time`` may
        vary.  Layers are named ``"input_projection"``, ``"rnn_1"`` … ``"rnn_<layers>"``,
        ``"output_projection"``.

    Raises
    ------
    ParameterError
        For an unknown cell name, a cell that is not an RNN cell, a cell whose size differs from
        ``hidden``, or a non-positive size, layer count or learning rate.

    Examples
    --------
    >>> model = build_model(cell="paper_gru", hidden=16, features=32, compile=False)
    >>> [layer.name for layer in model.layers]
    ['input_projection', 'rnn_1', 'output_projection']
    >>> model.output_shape
    (None, None, 32)
    """
    hidden = _positive_int(hidden, "hidden")
    features = _positive_int(features, "features")
    layers = _positive_int(layers, "layers")
    if (
        isinstance(learning_rate, bool)
        or not isinstance(learning_rate, numbers.Real)
        or not math.isfinite(learning_rate)
        or learning_rate <= 0
    ):
        raise ParameterError(f"learning_rate must be a positive number, got {learning_rate!r}")
    if seed is not None:
        if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
            raise ParameterError(f"seed must be an integer or None, got {seed!r}")
        keras.utils.set_random_seed(int(seed))

    if isinstance(cell, keras.layers.Layer):
        if not _is_cell(cell) or isinstance(cell, keras.layers.RNN):
            raise ParameterError(
                f"cell {cell.name!r} ({type(cell).__name__}) is not an RNN cell (a Layer with a "
                "state_size): pass the cell itself, not a recurrent layer"
            )
        cells = [cell] + [
            type(cell).from_config({**cell.get_config(), "name": f"{cell.name}_{i}"})
            for i in range(2, layers + 1)
        ]
    else:
        factory = _resolve_factory(cell)
        cells = [_make_cell(factory, hidden) for _ in range(layers)]

    stack: list = [keras.Input(shape=(None, features), name="features")]
    if input_projection:
        stack.append(keras.layers.Dense(hidden, name=INPUT_PROJECTION))
    stack += [_recurrent_layer(c, f"rnn_{i}", hidden) for i, c in enumerate(cells, start=1)]
    stack.append(keras.layers.Dense(features, name=OUTPUT_PROJECTION))
    model = keras.Sequential(stack, name="gruv")
    if compile:
        model.compile(loss="mse", optimizer=keras.optimizers.RMSprop(learning_rate=learning_rate))
    return model


def rnn_layers(model: keras.Model) -> list:
    """The recurrent layers of a model, input side first.

    Parameters
    ----------
    model : keras.Model
        A model from :func:`build_model` (or loaded from a ``.keras`` file).

    Returns
    -------
    layers : list of keras.layers.RNN
        Step through one with ``h, states = layer.cell(x_t, states)``, starting from
        ``layer.cell.get_initial_state(batch_size)``.
    """
    return [layer for layer in model.layers if isinstance(layer, keras.layers.RNN)]


def _cell_name(layer: keras.layers.RNN) -> str:
    if type(layer) is keras.layers.LSTM:
        return "lstm"
    if type(layer) is keras.layers.GRU:
        return "gru"
    cell_type = type(layer.cell)
    for name, factory in CELLS.items():
        if factory is cell_type:
            return name
    return keras.saving.get_registered_name(cell_type)


def describe(model: keras.Model) -> dict:
    """The :func:`build_model` arguments that rebuild a model's architecture.

    Works on a freshly built model and on one loaded from a ``.keras`` file, by reading the
    model's layers: ``build_model(**describe(model))`` gives the same architecture.

    Parameters
    ----------
    model : keras.Model
        A model made by :func:`build_model`.

    Returns
    -------
    config : dict
        ``cell`` (its name in :data:`CELLS`, else its registered Keras name
        ``"package>Class"``), ``hidden``, ``features``, ``layers``, ``input_projection`` and,
        when the model is compiled, ``learning_rate``.

    Raises
    ------
    ParameterError
        If the model has no recurrent layer or mixes different cells.
    """
    recurrent = rnn_layers(model)
    if not recurrent:
        raise ParameterError(f"model {model.name!r} has no recurrent layer")
    names = {_cell_name(layer) for layer in recurrent}
    if len(names) != 1:
        raise ParameterError(f"model {model.name!r} mixes recurrent cells: {sorted(names)}")
    config = {
        "cell": names.pop(),
        "hidden": int(_cell_size(recurrent[0].cell)),
        "features": int(model.input_shape[-1]),
        "layers": len(recurrent),
        "input_projection": any(layer.name == INPUT_PROJECTION for layer in model.layers),
    }
    optimizer = getattr(model, "optimizer", None)
    if optimizer is not None:
        rate = keras.ops.convert_to_numpy(optimizer.learning_rate)
        # The shortest decimal that is the same float32: 1e-3 rather than 0.0010000000474974513.
        config["learning_rate"] = float(str(np.float32(rate)))
    return config


def param_count(
    *,
    cell: str = DEFAULT_CELL,
    hidden: int = DEFAULT_HIDDEN,
    features: int = DEFAULT_FEATURES,
    layers: int = 1,
    input_projection: bool = True,
) -> int:
    """Number of trainable parameters of :func:`build_model`'s model, without building it.

    Parameters
    ----------
    cell : {"lstm", "gru", "peephole_lstm", "paper_gru"}
        One of the built-in cells (with their default ``use_bias=True``).
    hidden, features, layers, input_projection
        As for :func:`build_model`.

    Returns
    -------
    count : int
        E.g. 123,903,522 for the paper's LSTM (hidden 2048, features 22,050).

    Raises
    ------
    ParameterError
        For a cell other than the four built-in ones, or non-positive sizes.
    """
    hidden = _positive_int(hidden, "hidden")
    features = _positive_int(features, "features")
    layers = _positive_int(layers, "layers")
    h = hidden

    def recurrent(n: int) -> int:
        if cell == "lstm":  # 4 gates, one bias each
            return 4 * (n * h + h * h + h)
        if cell == "peephole_lstm":  # plus three diagonal peepholes
            return 4 * (n * h + h * h + h) + 3 * h
        if cell == "gru":  # reset_after=True: an input and a recurrent bias per gate
            return 3 * (n * h + h * h) + 6 * h
        if cell == "paper_gru":
            return 3 * (n * h + h * h + h)
        raise ParameterError(
            f"param_count knows the built-in cells {', '.join(_BUILTIN_CELLS)}, not {cell!r}"
        )

    total = features * h + h if input_projection else 0
    first_input = h if input_projection else features
    total += recurrent(first_input) + (layers - 1) * recurrent(h)
    total += h * features + features
    return total
