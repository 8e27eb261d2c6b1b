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

:func:`fused_model` makes the *fused training twin* of a model with Keras's LSTM or GRU layers:
the same variables, optimizer and function, trained faster (the recurrent input product hoisted
out of the time loop, a hand-written backward pass through time, the whole step compiled with
XLA); ``gruvsynth train`` uses it (``docs/performance.rst``).

Recurrent cells are chosen by name (see :data:`CELLS`: ``"lstm"``, ``"gru"`` (Keras 3's
layers), ``"keras01_lstm"``, ``"keras01_gru"`` (the Keras 0.1 cells the authors' code ran),
``"peephole_lstm"``, ``"paper_gru"`` (the paper's equations)), by a registered Keras name
(``"package>Class"``), or given as a cell class or instance; ``docs/cells.rst`` shows how to
write one.  ``recipe="keras01"`` adds the rest of what the authors' code ran under Keras 0.1.0:
its initialisation and RMSprop's epsilon (:data:`RECIPES`).
"""

from __future__ import annotations

import inspect
import math
import numbers
from collections.abc import Callable

import keras
import numpy as np
from keras import ops

from gruvsynth.cells import (
    GatewiseGlorotUniform,
    GatewiseOrthogonal,
    Keras01GRUCell,
    Keras01LSTMCell,
    PaperGRUCell,
    PeepholeLSTMCell,
    theano_hard_sigmoid,
)
from gruvsynth.defaults import CELL_FAMILIES, DEFAULT_RECIPE, RECIPES
from gruvsynth.errors import ParameterError

__all__ = [
    "CELLS",
    "DEFAULT_CELL",
    "DEFAULT_HIDDEN",
    "DEFAULT_FEATURES",
    "DEFAULT_LEARNING_RATE",
    "DEFAULT_RECIPE",
    "RECIPES",
    "CELL_FAMILIES",
    "INPUT_PROJECTION",
    "OUTPUT_PROJECTION",
    "build_model",
    "make_optimizer",
    "register_cell",
    "rnn_layers",
    "describe",
    "param_count",
    "float32_model",
    "supports_fused",
    "fused_model",
    "FusedTwin",
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
    "keras01_lstm": Keras01LSTMCell,
    "keras01_gru": Keras01GRUCell,
    "peephole_lstm": PeepholeLSTMCell,
    "paper_gru": PaperGRUCell,
}

#: RMSprop's epsilon per recipe (rho is 0.9 in both).
_RMSPROP_EPSILON = {"keras3": 1e-7, "keras01": 1e-6}
#: Gate blocks of the cells whose initialisers the "keras01" recipe sets.
_RECIPE_GATES = {keras.layers.LSTM: 4, Keras01LSTMCell: 4, keras.layers.GRU: 3,
                 Keras01GRUCell: 3}

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


def _recipe_arguments(factory: Callable, recipe: str) -> dict:
    """The cell arguments a recipe sets (none for ``"keras3"``)."""
    if recipe == "keras3":
        return {}
    gates = _RECIPE_GATES.get(factory)
    if gates is None:
        raise ParameterError(
            f"recipe {recipe!r} sets the initialisers of the cells lstm, gru, keras01_lstm and "
            f"keras01_gru only, not of {getattr(factory, '__name__', repr(factory))}: use "
            "recipe='keras3' with this cell")
    arguments = {"kernel_initializer": GatewiseGlorotUniform(gates),
                 "recurrent_initializer": GatewiseOrthogonal(gates, scale=1.1)}
    if gates == 4:
        arguments["unit_forget_bias"] = False
    return arguments


def make_optimizer(learning_rate: float = DEFAULT_LEARNING_RATE, *,
                   recipe: str = DEFAULT_RECIPE) -> keras.optimizers.Optimizer:
    """The RMSprop optimizer of a recipe (see :data:`RECIPES`).

    Parameters
    ----------
    learning_rate : float
        1e-3 in the authors' code.
    recipe : {"keras3", "keras01"}

    Returns
    -------
    optimizer : keras.optimizers.RMSprop
    """
    recipe = _check_recipe(recipe)
    return keras.optimizers.RMSprop(learning_rate=learning_rate, rho=0.9,
                                    epsilon=_RMSPROP_EPSILON[recipe])


def _check_recipe(recipe) -> str:
    if recipe not in RECIPES:
        raise ParameterError(f"recipe must be one of {', '.join(RECIPES)}, got {recipe!r}")
    return recipe


def _make_cell(factory: Callable, hidden: int, extra: dict | None = None):
    try:
        return factory(units=hidden, **(extra or {}))
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
    recipe: str = DEFAULT_RECIPE,
) -> keras.Sequential:
    """Build (and compile) the GRUV model.

    Parameters
    ----------
    cell : str, type, callable or keras.layers.Layer
        The recurrent cell: a name in :data:`CELLS` (``"lstm"`` = ``keras.layers.LSTM``,
        ``"gru"`` = ``keras.layers.GRU``, ``"keras01_lstm"`` =
        :class:`~gruvsynth.cells.Keras01LSTMCell`, ``"keras01_gru"`` =
        :class:`~gruvsynth.cells.Keras01GRUCell`, ``"peephole_lstm"`` =
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
    recipe : {"keras3", "keras01"}
        The optimizer and initialisation around the cells (:data:`RECIPES`): ``"keras3"``
        (default) is today's Keras; ``"keras01"`` is what the authors' code ran under Keras
        0.1.0 (RMSprop epsilon 1e-6, each gate's weights drawn on its own, orthogonal ×1.1,
        LSTM forget bias 0), for the Keras-layout cells only.

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
        ``hidden``, a non-positive size, layer count or learning rate, or an unknown recipe
        (or ``"keras01"`` with a cell it has no initialisers for).

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
    recipe = _check_recipe(recipe)
    if seed is not None:
        if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
            raise ParameterError(f"seed must be an integer or None, got {seed!r}")
        keras.utils.set_random_seed(int(seed))

    if isinstance(cell, keras.layers.Layer):
        if recipe != "keras3":
            raise ParameterError(f"recipe {recipe!r} needs a cell name or class, not a cell "
                                 "instance (whose initialisers are already chosen)")
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
        extra = _recipe_arguments(factory, recipe)
        cells = [_make_cell(factory, hidden, extra) for _ in range(layers)]

    stack: list = [keras.Input(shape=(None, features), name="features")]
    if input_projection:
        stack.append(keras.layers.Dense(hidden, name=INPUT_PROJECTION))
    stack += [_recurrent_layer(c, f"rnn_{i}", hidden) for i, c in enumerate(cells, start=1)]
    stack.append(keras.layers.Dense(features, name=OUTPUT_PROJECTION))
    model = keras.Sequential(stack, name="gruv")
    if compile:
        model.compile(loss="mse", optimizer=make_optimizer(learning_rate, recipe=recipe))
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
    cell : {"lstm", "gru", "keras01_lstm", "keras01_gru", "peephole_lstm", "paper_gru"}
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
        if cell in ("lstm", "keras01_lstm"):  # 4 gates, one bias each
            return 4 * (n * h + h * h + h)
        if cell == "peephole_lstm":  # plus three diagonal peepholes
            return 4 * (n * h + h * h + h) + 3 * h
        if cell == "gru":  # reset_after=True: an input and a recurrent bias per gate
            return 3 * (n * h + h * h) + 6 * h
        if cell in ("paper_gru", "keras01_gru"):  # one bias per gate
            return 3 * (n * h + h * h + h)
        raise ParameterError(
            f"param_count knows the built-in cells {', '.join(_BUILTIN_CELLS)}, not {cell!r}"
        )

    total = features * h + h if input_projection else 0
    first_input = h if input_projection else features
    total += recurrent(first_input) + (layers - 1) * recurrent(h)
    total += h * features + features
    return total


def _float32_config(value):
    """A model config with every layer's dtype policy replaced by ``"float32"``."""
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if key == "dtype" and _is_policy(item):
                out[key] = "float32"
            else:
                out[key] = _float32_config(item)
        return out
    if isinstance(value, list):
        return [_float32_config(item) for item in value]
    return value


def _is_policy(item) -> bool:
    """Whether a config's ``dtype`` entry is a layer dtype policy (serialised or by name)."""
    if isinstance(item, dict):
        return "Policy" in str(item.get("class_name", ""))
    return isinstance(item, str) and item.startswith("mixed_")


def _compute_dtypes(model: keras.Model) -> list[str]:
    """The compute dtype of every layer, every recurrent layer's cell(s) and wrapped layer."""
    out = []
    stack = list(model.layers)
    while stack:
        layer = stack.pop()
        out.append(layer.compute_dtype)
        for inner in (getattr(layer, "cell", None), getattr(layer, "layer", None)):
            if isinstance(inner, keras.layers.Layer):
                stack.append(inner)
        stack.extend(getattr(getattr(layer, "cell", None), "cells", None) or [])
    return out


def float32_model(model: keras.Model) -> keras.Model:
    """The model computing in float32, whatever precision it was trained in.

    A model trained with ``precision="bfloat16"`` (Keras's ``mixed_bfloat16`` policy) keeps
    that policy in its layers, and so in its ``.keras`` files: loaded back it computes in
    bfloat16.  Generation and evaluation run in float32 instead (on a GPU, Keras's LSTM and
    GRU layers route float32 sequences through cuDNN, whose JAX lowering rejects bfloat16
    outputs), so they call this on every model they load.

    Parameters
    ----------
    model : keras.Model
        A built model (from :func:`build_model` or a ``.keras`` file).

    Returns
    -------
    model : keras.Model
        ``model`` itself when every layer already computes in float32; otherwise a new model
        of the same architecture built with the float32 policy, holding copies of the same
        (float32) weights, without an optimizer.

    Raises
    ------
    ParameterError
        If the model cannot be rebuilt from its config.
    """
    if all(dtype == "float32" for dtype in _compute_dtypes(model)):
        return model
    try:
        copy = type(model).from_config(_float32_config(model.get_config()))
        if not copy.built:
            copy.build(model.input_shape)
        copy.set_weights(model.get_weights())
    except Exception as exc:  # Keras raises many types when a config does not round-trip
        raise ParameterError(
            f"model {model.name!r} cannot be rebuilt in float32 from its config ({exc})"
        ) from exc
    return copy


# --- the fused training step ------------------------------------------------------------------
#
# Keras's LSTM and GRU layers run their cell once per time step: on the CPU each step multiplies
# the step's input by the input kernel (40 small matrix products instead of one large one), and
# automatic differentiation of the loop adds one (hidden × 4 hidden) weight gradient per step
# (at the paper's size, 64 MB written and re-read 40 times per training step).  The fused twin
# below computes exactly the same function with the same variables, but
#
# * the recurrent layer's input kernel is applied to all time steps at once, before the loop;
# * the loop (``keras.ops.scan``) holds only the recurrent product and the gates;
# * the backward pass through time is written out (the equations of the forward pass,
#   differentiated by hand), and the recurrent kernel's gradient is one matrix product over all
#   steps, as in cuDNN and oneDNN.
#
# Everything is written with ``keras.ops`` and ``keras.ops.custom_gradient``, so it runs on each
# backend; tests compare its loss trajectory with the plain model's.


def _split(z, parts: int):
    return ops.split(z, parts, axis=-1)


def _times_transposed(a, b):
    """``a @ b.T`` for a small ``a`` (batch, n) and a large ``b`` (m, n), as ``(b @ a.T).T``.

    TensorFlow's CPU kernels are ~15x slower for ``matmul(a, b, transpose_b=True)`` with a
    large ``b`` than for ``matmul(b, a, transpose_b=True)`` (measured: 134 ms against 8 ms for
    (5, 8192) by (2048, 8192)), and its graph optimizer folds an explicit transpose of ``b``
    into the slow form.  XLA treats both forms alike.
    """
    return ops.transpose(ops.matmul(b, ops.transpose(a)))


def _time_major(x):
    return ops.transpose(x, (1, 0, 2))


def _weight_gradient(h_seq, d_seq, units: int, width: int):
    """Sum over time steps 1 … T-1 of ``h_{t-1}.T @ d_t``, as one matrix product.

    ``h_seq`` (time, batch, units) are the hidden states, ``d_seq`` (time, batch, width) the
    gradients of the recurrent products; step 0 is left out (its previous state is zero).
    """
    h_prev = ops.reshape(h_seq[:-1], (-1, units))
    d = ops.reshape(d_seq[1:], (-1, width))
    return ops.matmul(ops.transpose(h_prev), d)


def _sequence_function(kind: str, unroll: int):
    """A sequence function (``"lstm"``, ``"hard_lstm"``, ``"gru"``, ``"gru01"``) with the time
    loops unrolled ``unroll`` steps."""
    key = (kind, type(unroll), unroll)  # True == 1 as a dict key
    if key not in _SEQUENCES:
        if kind == "gru":
            _SEQUENCES[key] = _make_gru_sequence(unroll)
        elif kind == "gru01":
            _SEQUENCES[key] = _make_gru01_sequence(unroll)
        else:
            _SEQUENCES[key] = _make_lstm_sequence(unroll, hard=kind == "hard_lstm")
    return _SEQUENCES[key]


def _hard_sigmoid_slope(y):
    """The derivative of Theano's hard sigmoid at the point where it gave ``y``: 0.2 inside
    (0, 1), 0 where it is clipped."""
    return ops.where(ops.logical_and(y > 0.0, y < 1.0), 0.2, 0.0)


def _sigmoid_slope(y):
    return y * (1.0 - y)


_SEQUENCES: dict = {}


def _make_lstm_sequence(unroll: int, *, hard: bool = False):
    gate = theano_hard_sigmoid if hard else ops.sigmoid
    slope = _hard_sigmoid_slope if hard else _sigmoid_slope

    @ops.custom_gradient
    def _lstm_sequence(zx, recurrent_kernel):
        """Keras LSTM over a sequence whose input part ``x W + b`` is already computed.

        ``zx`` is (batch, time, 4 H) in Keras's gate order i, f, c, o; returns all hidden states
        (batch, time, H) from zero initial states.  Gates are sigmoids, or Theano's hard
        sigmoid for ``hard`` (the Keras 0.1 LSTM).
        """
        units = recurrent_kernel.shape[0]
        zeros = ops.zeros((ops.shape(zx)[0], units), dtype=zx.dtype)

        # Keras's scan wants each step's output to have the carry's structure, so the carry holds
        # everything the backward pass needs: h, c, then the gates i, f, g, o, c_{t-1}, tanh(c).
        def forward(carry, z_x):
            h, c = carry[0], carry[1]
            z = z_x + ops.matmul(h, recurrent_kernel)
            zi, zf, zg, zo = _split(z, 4)
            i, f, g, o = gate(zi), gate(zf), ops.tanh(zg), gate(zo)
            c_new = f * c + i * g
            tc = ops.tanh(c_new)
            new = (o * tc, c_new, i, f, g, o, c, tc)
            return new, new

        _, seq = ops.scan(forward, (zeros,) * 8, _time_major(zx), unroll=unroll)
        h_seq, saved = seq[0], seq[2:]

        def grad(*args, upstream=None):
            if upstream is None:
                (upstream,) = args
            zeros4 = ops.zeros((ops.shape(zx)[0], 4 * units), dtype=zx.dtype)

            def backward(carry, inputs):
                dh_next, dc_next = carry[0], carry[1]
                up, i, f, g, o, c_prev, tc = _split(inputs, 7)
                dh = up + dh_next
                dc = dh * o * (1.0 - tc * tc) + dc_next
                dz = ops.concatenate(
                    [dc * g * slope(i), dc * c_prev * slope(f), dc * i * (1.0 - g * g),
                     dh * tc * slope(o)], axis=-1)
                new = (_times_transposed(dz, recurrent_kernel), dc * f, dz)
                return new, new

            # one sequence to scan over: Keras's TensorFlow scan fails on several when the
            # number of time steps is not static
            inputs = ops.concatenate([_time_major(upstream), *saved], axis=-1)
            _, (_, _, dz_seq) = ops.scan(backward, (zeros, zeros, zeros4), inputs,
                                          reverse=True, unroll=unroll)
            d_recurrent = _weight_gradient(h_seq, dz_seq, units, 4 * units)
            return _time_major(dz_seq), d_recurrent

        return _time_major(h_seq), grad

    return _lstm_sequence


def _make_gru_sequence(unroll: int):
    @ops.custom_gradient
    def _gru_sequence(zx, recurrent_kernel, recurrent_bias):
        """Keras GRU (``reset_after=True``) over a sequence whose input part ``x W + b_in`` is done.

        ``zx`` is (batch, time, 3 H) in Keras's gate order z, r, h; returns all hidden states
        (batch, time, H) from a zero initial state.
        """
        units = recurrent_kernel.shape[0]
        zeros = ops.zeros((ops.shape(zx)[0], units), dtype=zx.dtype)

        # carry: h, then z, r, the candidate hh, the recurrent candidate part mh, h_{t-1}
        def forward(carry, z_x):
            h = carry[0]
            xz, xr, xh = _split(z_x, 3)
            mz, mr, mh = _split(ops.matmul(h, recurrent_kernel) + recurrent_bias, 3)
            z = ops.sigmoid(xz + mz)
            r = ops.sigmoid(xr + mr)
            hh = ops.tanh(xh + r * mh)
            new = (z * h + (1.0 - z) * hh, z, r, hh, mh, h)
            return new, new

        _, seq = ops.scan(forward, (zeros,) * 6, _time_major(zx), unroll=unroll)
        h_seq, saved = seq[0], seq[1:]

        def grad(*args, upstream=None):
            if upstream is None:
                (upstream,) = args
            zeros3 = ops.zeros((ops.shape(zx)[0], 3 * units), dtype=zx.dtype)

            def backward(carry, inputs):
                dh_next = carry[0]
                up, z, r, hh, mh, h_prev = _split(inputs, 6)
                dh = up + dh_next
                da = dh * (1.0 - z) * (1.0 - hh * hh)  # pre-activation of the candidate
                dpz = dh * (h_prev - hh) * z * (1.0 - z)
                dpr = da * mh * r * (1.0 - r)
                dx = ops.concatenate([dpz, dpr, da], axis=-1)
                dm = ops.concatenate([dpz, dpr, da * r], axis=-1)
                new = (dh * z + _times_transposed(dm, recurrent_kernel), dx, dm)
                return new, new

            inputs = ops.concatenate([_time_major(upstream), *saved], axis=-1)
            _, (_, dx_seq, dm_seq) = ops.scan(backward, (zeros, zeros3, zeros3), inputs,
                                              reverse=True, unroll=unroll)
            d_recurrent = _weight_gradient(h_seq, dm_seq, units, 3 * units)
            d_bias = ops.sum(ops.reshape(dm_seq, (-1, 3 * units)), axis=0)
            return _time_major(dx_seq), d_recurrent, d_bias

        return _time_major(h_seq), grad

    return _gru_sequence


def _make_gru01_sequence(unroll: int):
    @ops.custom_gradient
    def _gru01_sequence(zx, recurrent_kernel):
        """The Keras 0.1 GRU (``reset_after=False``, hard-sigmoid gates, sigmoid candidate) over a
        sequence whose input part ``x W + b`` is already computed.

        ``zx`` is (batch, time, 3 H) in gate order z, r, h; returns all hidden states (batch,
        time, H) from a zero initial state.  Each step makes two recurrent products: ``h U_zr``
        for the gates, then ``(r * h) U_h`` for the candidate.
        """
        units = recurrent_kernel.shape[0]
        u_gates, u_cand = recurrent_kernel[:, :2 * units], recurrent_kernel[:, 2 * units:]
        zeros = ops.zeros((ops.shape(zx)[0], units), dtype=zx.dtype)

        # carry: h, then z, r, the candidate hh, h_{t-1}
        def forward(carry, z_x):
            h = carry[0]
            xz, xr, xh = _split(z_x, 3)
            mz, mr = _split(ops.matmul(h, u_gates), 2)
            z = theano_hard_sigmoid(xz + mz)
            r = theano_hard_sigmoid(xr + mr)
            hh = ops.sigmoid(xh + ops.matmul(r * h, u_cand))
            new = (z * h + (1.0 - z) * hh, z, r, hh, h)
            return new, new

        _, seq = ops.scan(forward, (zeros,) * 5, _time_major(zx), unroll=unroll)
        h_seq, saved = seq[0], seq[1:]

        def grad(*args, upstream=None):
            if upstream is None:
                (upstream,) = args
            zeros2 = ops.zeros((ops.shape(zx)[0], 2 * units), dtype=zx.dtype)

            def backward(carry, inputs):
                dh_next = carry[0]
                up, z, r, hh, h_prev = _split(inputs, 5)
                dh = up + dh_next
                dpz = dh * (h_prev - hh) * _hard_sigmoid_slope(z)
                dph = dh * (1.0 - z) * hh * (1.0 - hh)  # pre-activation of the candidate
                drh = _times_transposed(dph, u_cand)    # gradient of r * h_{t-1}
                dpr = drh * h_prev * _hard_sigmoid_slope(r)
                dgates = ops.concatenate([dpz, dpr], axis=-1)
                dh_prev = dh * z + drh * r + _times_transposed(dgates, u_gates)
                new = (dh_prev, dgates, dph, r * h_prev)
                return new, new

            inputs = ops.concatenate([_time_major(upstream), *saved], axis=-1)
            _, (_, dg_seq, dph_seq, rh_seq) = ops.scan(
                backward, (zeros, zeros2, zeros, zeros), inputs, reverse=True, unroll=unroll)
            # U_zr's gradient: sum_t h_{t-1}.T dgates_t (step 0's h_{t-1} is zero); U_h's:
            # sum_t (r_t * h_{t-1}).T dph_t over all steps (rh_seq holds r_t * h_{t-1})
            d_gates = _weight_gradient(h_seq, dg_seq, units, 2 * units)
            d_cand = ops.matmul(ops.transpose(ops.reshape(rh_seq, (-1, units))),
                                ops.reshape(dph_seq, (-1, units)))
            dx = ops.concatenate([dg_seq, dph_seq], axis=-1)
            return _time_major(dx), ops.concatenate([d_gates, d_cand], axis=-1)

        return _time_major(h_seq), grad

    return _gru01_sequence


def _value(variable, dtype):
    """A variable's value as a tensor of ``dtype`` (a read: a custom gradient sees a tensor)."""
    return ops.cast(variable, dtype)


def _fusable_dense(layer) -> bool:
    return (type(layer) is keras.layers.Dense and layer.use_bias
            and layer.get_config().get("activation") == "linear"
            and layer.kernel_constraint is None and layer.bias_constraint is None
            and not getattr(layer, "lora_enabled", False)
            and getattr(layer, "quantization_mode", None) is None)


#: The fused sequence function of each fusable recurrent layer or cell type, with the cell
#: settings it computes.
_TANH, _SIGMOID = keras.activations.tanh, keras.activations.sigmoid
_FUSED_KINDS = {
    keras.layers.LSTM: ("lstm", {"activation": _TANH, "recurrent_activation": _SIGMOID}),
    keras.layers.GRU: ("gru", {"activation": _TANH, "recurrent_activation": _SIGMOID,
                               "reset_after": True}),
    Keras01LSTMCell: ("hard_lstm", {"activation": _TANH,
                                    "recurrent_activation": theano_hard_sigmoid}),
    Keras01GRUCell: ("gru01", {"activation": _SIGMOID,
                               "recurrent_activation": theano_hard_sigmoid,
                               "reset_after": False}),
}


def _same_function(a, b) -> bool:
    """Whether two activations are the same function (Keras's names or the ops themselves)."""
    if a is b:
        return True
    try:
        return keras.activations.serialize(a) == keras.activations.serialize(b)
    except ValueError:  # an unnamed function
        return False


def _fused_kind(layer) -> str | None:
    """The fused sequence function that computes ``layer``, or None."""
    if type(layer) in (keras.layers.LSTM, keras.layers.GRU):
        kind, wanted = _FUSED_KINDS[type(layer)]
    elif type(layer) is keras.layers.RNN and type(layer.cell) in _FUSED_KINDS:
        kind, wanted = _FUSED_KINDS[type(layer.cell)]
    else:
        return None
    if (not layer.return_sequences or layer.return_state or layer.go_backwards
            or layer.stateful):
        return None
    cell = layer.cell
    for name, value in wanted.items():
        have = getattr(cell, name, None)
        if not (have == value if isinstance(value, bool) else _same_function(have, value)):
            return None
    if not cell.use_bias or cell.dropout or cell.recurrent_dropout:
        return None
    if any(getattr(cell, name, None) is not None for name in
           ("kernel_constraint", "recurrent_constraint", "bias_constraint")):
        return None
    return kind


def _fusable_rnn(layer) -> bool:
    return _fused_kind(layer) is not None


def supports_fused(model: keras.Model) -> bool:
    """Whether :func:`fused_model` can make a fused training twin of ``model``.

    True for the models :func:`build_model` makes with the ``"lstm"``, ``"gru"``,
    ``"keras01_lstm"`` and ``"keras01_gru"`` cells (with their default activations, bias and
    no dropout), any number of layers, with or without the input projection.  Other cells
    (``"peephole_lstm"``, ``"paper_gru"``, user cells) train through the plain model.

    Parameters
    ----------
    model : keras.Model
        A model from :func:`build_model` (or loaded from its ``.keras`` file).

    Returns
    -------
    supported : bool
    """
    layers = list(getattr(model, "layers", []))
    if len(layers) < 2 or not _fusable_dense(layers[-1]):
        return False
    body = layers[:-1]
    if body and type(body[0]) is keras.layers.Dense:
        if not _fusable_dense(body[0]):
            return False
        body = body[1:]
    return bool(body) and all(_fusable_rnn(layer) for layer in body)


class FusedTwin(keras.Model):
    """The training twin of a :func:`build_model` model: same variables, same function.

    ``twin(x)`` equals ``model(x)`` (to float rounding; x : [shape=(batch, time, features)]);
    the recurrent layers run with their input kernels hoisted out of the time loop and a
    hand-written backward pass through time (see the comment above ``_make_lstm_sequence``).  Under
    a ``mixed_bfloat16`` dtype policy the layers compute in bfloat16 and the output is float32.
    It owns no variables: training
    the twin trains ``model``, whose optimizer it uses, so checkpoints are written from
    ``model`` as usual.  Make one with :func:`fused_model`.

    Parameters
    ----------
    model : keras.Model
        The model to train (:func:`supports_fused` must be true).
    unroll : int or bool
        Time steps per iteration of the time loops (``keras.ops.scan``'s ``unroll``; ``True``
        unrolls them entirely).  1 (a loop) by default.
    """

    def __init__(self, model, *, unroll=1, **kwargs):
        super().__init__(name=f"{model.name}_fused", **kwargs)
        if not supports_fused(model):
            raise ParameterError(f"model {model.name!r} has no fused training path; "
                                 "train the model itself")
        if not (isinstance(unroll, bool) or (isinstance(unroll, int) and unroll >= 1)):
            raise ParameterError(f"unroll must be a positive integer or a bool, got {unroll!r}")
        self.model = model
        self.unroll = unroll

    # Keras's TensorFlow trainer turns XLA off whenever TensorFlow's op determinism is on (which
    # gruvsynth's training enables), because some ops have no deterministic XLA kernel.  The
    # twin's step uses none of them (matrix products, element-wise maths, slicing, stacking),
    # and the tests check that two XLA runs give bit-identical weights, so the twin keeps the
    # setting it was compiled with.
    @property
    def jit_compile(self):
        return getattr(self, "_twin_jit_compile", False)

    @jit_compile.setter
    def jit_compile(self, value):
        self._twin_jit_compile = bool(value)

    def build(self, input_shape):
        if not self.model.built:
            self.model.build(input_shape)
        self.built = True

    def compute_output_spec(self, x, training=False):
        return self.model.compute_output_spec(x)

    def call(self, x, training=False):
        y = x
        for layer in self.model.layers:
            # Each layer computes in its dtype policy's compute dtype, as Keras does (float32
            # by default; bfloat16 under ``mixed_bfloat16``, with float32 weights).
            dtype = layer.compute_dtype
            y = ops.cast(y, dtype)
            if isinstance(layer, keras.layers.Dense):
                y = ops.add(ops.matmul(y, _value(layer.kernel, dtype)),
                            _value(layer.bias, dtype))
                continue
            kind = _fused_kind(layer)
            sequence = _sequence_function(kind, self.unroll)
            cell = layer.cell
            kernel = _value(cell.kernel, dtype)
            recurrent = _value(cell.recurrent_kernel, dtype)
            if kind == "gru":  # Keras 3's GRU, reset_after=True: bias rows = (input, recurrent)
                bias = _value(cell.bias, dtype)
                y = sequence(ops.add(ops.matmul(y, kernel), bias[0]), recurrent, bias[1])
            else:  # LSTMs and the Keras 0.1 GRU: one bias, all in the input part
                y = sequence(ops.add(ops.matmul(y, kernel), _value(cell.bias, dtype)), recurrent)
        # the loss in float32 even when the layers compute in bfloat16
        return ops.cast(y, self.model.layers[-1].variable_dtype)


def fused_model(model: keras.Model, *, jit_compile="auto", unroll=1) -> FusedTwin | None:
    """A compiled fused training twin of ``model``, or None where there is none.

    Train with ``twin.train_on_batch(x, y)`` (or ``fit``/``test_on_batch``) instead of
    ``model.train_on_batch``: the loss, the optimizer (``model.optimizer``, shared, so its
    state is saved with ``model``) and the weights are the model's; only the computation is
    faster.

    Parameters
    ----------
    model : keras.Model
        A compiled model from :func:`build_model` (or loaded from its ``.keras`` file).
    jit_compile : bool or "auto"
        Compile the whole training step with XLA.  ``"auto"``: on the TensorFlow and JAX
        backends (on a CPU, TensorFlow's XLA step was faster and smaller than its plain graph:
        ``docs/performance.rst``), not on PyTorch (``torch.compile``, not measured).
    unroll : int or bool
        Time steps per iteration of the time loops (see :class:`FusedTwin`).

    Returns
    -------
    twin : FusedTwin or None
        None when :func:`supports_fused` is false or the model is not compiled.
    """
    if not supports_fused(model) or getattr(model, "optimizer", None) is None:
        return None
    if jit_compile == "auto":
        jit_compile = keras.backend.backend() != "torch"  # torch.compile: not measured
    twin = FusedTwin(model, unroll=unroll)
    twin.compile(optimizer=model.optimizer, loss=model.loss, jit_compile=bool(jit_compile))
    return twin
