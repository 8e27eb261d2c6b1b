"""The fused training twin of a GRUV model: the same variables and function, trained faster.

:func:`fused_model` makes, for a model of :func:`gruvsynth.models.build_model` with Keras's LSTM
or GRU layers or the Keras 0.1 cells (:func:`supports_fused`), a :class:`FusedTwin`: a
``keras.Model`` that owns no variables and computes the model's function with the recurrent
input product hoisted out of the time loop and a hand-written backward pass through time
(:mod:`gruvsynth.fused_sequences`), the whole step compiled with XLA.  Training the twin trains
the model.  ``gruvsynth train`` uses it (``docs/performance.rst``).

``gruvsynth.models`` re-exports :func:`fused_model`, :func:`supports_fused` and
:class:`FusedTwin`, their documented home.
"""

from __future__ import annotations

import keras
from keras import ops

from gruvsynth.backends.torch import jit_compile_by_default
from gruvsynth.cells import Keras01GRUCell, Keras01LSTMCell, theano_hard_sigmoid
from gruvsynth.errors import ParameterError
from gruvsynth.fused_sequences import sequence_function

__all__ = ["supports_fused", "fused_model", "FusedTwin"]


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
    hand-written backward pass through time (:mod:`gruvsynth.fused_sequences`).  Under
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
            sequence = sequence_function(kind, self.unroll)
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
        jit_compile = jit_compile_by_default()  # not on PyTorch: torch.compile, not measured
    twin = FusedTwin(model, unroll=unroll)
    twin.compile(optimizer=model.optimizer, loss=model.loss, jit_compile=bool(jit_compile))
    return twin
