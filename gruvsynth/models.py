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

This module builds, describes and counts models and holds the recipes; it is also the public
home of the names that live elsewhere, which it re-exports: the cell registry (:data:`CELLS`,
:func:`register_cell`) from :mod:`gruvsynth.cell_registry`, the fused twin
(:func:`fused_model`, :func:`supports_fused`, :class:`FusedTwin`) from :mod:`gruvsynth.fused`
(its sequence functions in :mod:`gruvsynth.fused_sequences`), and the Keras-free defaults
(``DEFAULT_CELL``, ``DEFAULT_HIDDEN``, ``DEFAULT_FEATURES``, ``DEFAULT_LEARNING_RATE``,
``DEFAULT_RECIPE``, ``RECIPES``, ``CELL_FAMILIES``) from :mod:`gruvsynth.defaults`.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable

import keras
import numpy as np

from gruvsynth.backends import seed_everything
from gruvsynth.cell_registry import (
    BUILTIN_CELLS,
    CELLS,
    cell_name,
    cell_size,
    is_rnn_cell,
    register_cell,
    resolve_factory,
)
from gruvsynth.cells import (
    GatewiseGlorotUniform,
    GatewiseOrthogonal,
    Keras01GRUCell,
    Keras01LSTMCell,
)
from gruvsynth.checks import check_choice, check_float, check_int
from gruvsynth.defaults import (
    CELL_FAMILIES,
    DEFAULT_CELL,
    DEFAULT_FEATURES,
    DEFAULT_HIDDEN,
    DEFAULT_LEARNING_RATE,
    DEFAULT_RECIPE,
    KERAS01_ORTHOGONAL_SCALE,
    RECIPES,
    RMSPROP_EPSILON,
)
from gruvsynth.errors import ParameterError
from gruvsynth.fused import FusedTwin, fused_model, supports_fused

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

INPUT_PROJECTION = "input_projection"
OUTPUT_PROJECTION = "output_projection"

#: Gate blocks of the cells whose initialisers the "keras01" recipe sets.
_RECIPE_GATES = {keras.layers.LSTM: 4, Keras01LSTMCell: 4, keras.layers.GRU: 3,
                 Keras01GRUCell: 3}


# ---------------------------------------------------------------------------------------------
# the recipes


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
                 "recurrent_initializer": GatewiseOrthogonal(
                     gates, scale=KERAS01_ORTHOGONAL_SCALE)}
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
    recipe = check_choice("recipe", recipe, RECIPES)
    return keras.optimizers.RMSprop(learning_rate=learning_rate, rho=0.9,
                                    epsilon=RMSPROP_EPSILON[recipe])


# ---------------------------------------------------------------------------------------------
# building


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
    elif is_rnn_cell(obj):
        layer = keras.layers.RNN(obj, return_sequences=True, name=name)
    else:
        raise ParameterError(
            f"cell factory returned {obj!r}, which is neither an RNN cell (a keras.layers.Layer "
            "with a state_size) nor a keras.layers.RNN layer"
        )
    size = cell_size(layer.cell)
    if isinstance(size, numbers.Integral) and size != hidden:
        raise ParameterError(
            f"the cell has {size} units but hidden={hidden}: pass hidden={size} or a matching cell"
        )
    return layer


def _copies_of_instance(cell: keras.layers.Layer, *, layers: int, recipe: str) -> list:
    """A cell instance for the first layer and fresh copies of it for the others."""
    if recipe != "keras3":
        raise ParameterError(f"recipe {recipe!r} needs a cell name or class, not a cell "
                             "instance (whose initialisers are already chosen)")
    if not is_rnn_cell(cell) or isinstance(cell, keras.layers.RNN):
        raise ParameterError(
            f"cell {cell.name!r} ({type(cell).__name__}) is not an RNN cell (a Layer with a "
            "state_size): pass the cell itself, not a recurrent layer"
        )
    return [cell] + [
        type(cell).from_config({**cell.get_config(), "name": f"{cell.name}_{i}"})
        for i in range(2, layers + 1)
    ]


def _layer_cells(cell, *, hidden: int, layers: int, recipe: str) -> list:
    """The cell (or recurrent layer) of each recurrent layer, from :func:`build_model`'s
    ``cell``: copies of an instance, or one made by the cell's factory per layer."""
    if isinstance(cell, keras.layers.Layer):
        return _copies_of_instance(cell, layers=layers, recipe=recipe)
    factory = resolve_factory(cell)
    extra = _recipe_arguments(factory, recipe)
    return [_make_cell(factory, hidden, extra) for _ in range(layers)]


def _assemble(cells: list, *, hidden: int, features: int, input_projection: bool
              ) -> keras.Sequential:
    """The named stack: features → [input projection] → rnn_1 … rnn_n → output projection."""
    stack: list = [keras.Input(shape=(None, features), name="features")]
    if input_projection:
        stack.append(keras.layers.Dense(hidden, name=INPUT_PROJECTION))
    stack += [_recurrent_layer(c, f"rnn_{i}", hidden) for i, c in enumerate(cells, start=1)]
    stack.append(keras.layers.Dense(features, name=OUTPUT_PROJECTION))
    return keras.Sequential(stack, name="gruv")


def build_model(
    *,
    cell=DEFAULT_CELL,
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
    hidden = check_int("hidden", hidden)
    features = check_int("features", features)
    layers = check_int("layers", layers)
    check_float("learning_rate", learning_rate, positive=True)
    recipe = check_choice("recipe", recipe, RECIPES)
    if seed is not None:
        if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
            raise ParameterError(f"seed must be an integer or None, got {seed!r}")
        seed_everything(int(seed))
    cells = _layer_cells(cell, hidden=hidden, layers=layers, recipe=recipe)
    model = _assemble(cells, hidden=hidden, features=features, input_projection=input_projection)
    if compile:
        model.compile(loss="mse", optimizer=make_optimizer(learning_rate, recipe=recipe))
    return model


# ---------------------------------------------------------------------------------------------
# reading a model: its layers, its build_model arguments, its size, its precision


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
    names = {cell_name(layer) for layer in recurrent}
    if len(names) != 1:
        raise ParameterError(f"model {model.name!r} mixes recurrent cells: {sorted(names)}")
    config = {
        "cell": names.pop(),
        "hidden": int(cell_size(recurrent[0].cell)),
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
    hidden = check_int("hidden", hidden)
    features = check_int("features", features)
    layers = check_int("layers", layers)
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
            f"param_count knows the built-in cells {', '.join(BUILTIN_CELLS)}, not {cell!r}"
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
