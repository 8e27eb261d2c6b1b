"""The paper's two recurrent cells, written exactly as its equations, for ``keras.layers.RNN``.

Keras's built-in ``LSTM`` and ``GRU`` are close to, but not the same as, the cells the paper
writes down (Nayebi & Vitelli 2015, §3, eq. 2–11, after Chung et al. 2014):

* :class:`PeepholeLSTMCell` is the paper's LSTM (eq. 6–11).  Its forget and input gates look at
  the previous memory ``c_{t-1}`` and its output gate at the *new* memory ``c_t``, each through a
  diagonal ("peephole") weight, i.e. one weight per unit.  Keras's ``LSTM`` has no peepholes.
* :class:`Keras01LSTMCell` and :class:`Keras01GRUCell` are the cells the authors' code actually
  ran: Keras 0.1's ``LSTM`` and ``GRU`` with their defaults (the code passes no activation).
  Gates use Theano's hard sigmoid :func:`theano_hard_sigmoid` (slope 0.2); the GRU's candidate
  is a *sigmoid* and its reset gate multiplies ``h_{t-1}`` before the recurrent product.  They
  are Keras 3's own ``LSTMCell`` / ``GRUCell`` with those settings, so their weights have
  Keras's layouts.  :class:`GatewiseGlorotUniform` and :class:`GatewiseOrthogonal` are Keras
  0.1's initialisation (each gate's matrix drawn on its own, orthogonal ×1.1).
* :class:`PaperGRUCell` is the paper's GRU (eq. 2–5): ``h_t = (1 - z) * h_{t-1} + z * h~`` and
  ``h~ = tanh(W x + r * (U h_{t-1}) + b)``.  Keras's ``GRU`` uses the opposite convention for the
  update gate (``h_t = z * h_{t-1} + (1 - z) * h~``) and, with ``reset_after=True``, adds a second
  ("recurrent") bias inside the reset product.

Both follow the pattern of Keras's own ``LSTMCell``: ``state_size``/``output_size`` attributes,
weights made in :meth:`build`, ``call(inputs, states, training=None)`` returning
``(h, new_states)``, ``get_config`` chaining ``super().get_config()``, registration with
``keras.saving.register_keras_serializable(package="gruvsynth")`` so that ``.keras`` files load in
safe mode, and only ``keras.ops`` inside (so they run on the TensorFlow, JAX and PyTorch
backends).  ``docs/cells.rst`` shows how to write your own cell in the same way.

A cell processes one time step; wrap it in ``keras.layers.RNN`` for sequences, or call it
directly, ``h, states = cell(x_t, states)``, to step through a sequence one block at a time.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import activations, constraints, initializers, ops, regularizers

from gruvsynth.checks import check_int
from gruvsynth.errors import ParameterError

__all__ = [
    "PeepholeLSTMCell",
    "PaperGRUCell",
    "Keras01LSTMCell",
    "Keras01GRUCell",
    "theano_hard_sigmoid",
    "GatewiseGlorotUniform",
    "GatewiseOrthogonal",
]


class _PaperCell(keras.layers.Layer):
    """Shared constructor, config and initial state of the two paper cells."""

    def __init__(
        self,
        units,
        *,
        activation="tanh",
        recurrent_activation="sigmoid",
        use_bias=True,
        kernel_initializer="glorot_uniform",
        recurrent_initializer="orthogonal",
        bias_initializer="zeros",
        kernel_regularizer=None,
        recurrent_regularizer=None,
        bias_regularizer=None,
        kernel_constraint=None,
        recurrent_constraint=None,
        bias_constraint=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.units = check_int("units", units)
        self.activation = activations.get(activation)
        self.recurrent_activation = activations.get(recurrent_activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.recurrent_initializer = initializers.get(recurrent_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.recurrent_regularizer = regularizers.get(recurrent_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        self.kernel_constraint = constraints.get(kernel_constraint)
        self.recurrent_constraint = constraints.get(recurrent_constraint)
        self.bias_constraint = constraints.get(bias_constraint)
        self.output_size = self.units

    def _add_kernels(self, input_dim: int, n_gates: int) -> None:
        self.kernel = self.add_weight(
            shape=(input_dim, n_gates * self.units),
            name="kernel",
            initializer=self.kernel_initializer,
            regularizer=self.kernel_regularizer,
            constraint=self.kernel_constraint,
        )
        self.recurrent_kernel = self.add_weight(
            shape=(self.units, n_gates * self.units),
            name="recurrent_kernel",
            initializer=self.recurrent_initializer,
            regularizer=self.recurrent_regularizer,
            constraint=self.recurrent_constraint,
        )

    def get_config(self) -> dict:
        config = {
            "units": self.units,
            "activation": activations.serialize(self.activation),
            "recurrent_activation": activations.serialize(self.recurrent_activation),
            "use_bias": self.use_bias,
            "kernel_initializer": initializers.serialize(self.kernel_initializer),
            "recurrent_initializer": initializers.serialize(self.recurrent_initializer),
            "bias_initializer": initializers.serialize(self.bias_initializer),
            "kernel_regularizer": regularizers.serialize(self.kernel_regularizer),
            "recurrent_regularizer": regularizers.serialize(self.recurrent_regularizer),
            "bias_regularizer": regularizers.serialize(self.bias_regularizer),
            "kernel_constraint": constraints.serialize(self.kernel_constraint),
            "recurrent_constraint": constraints.serialize(self.recurrent_constraint),
            "bias_constraint": constraints.serialize(self.bias_constraint),
        }
        return {**super().get_config(), **config}

    def get_initial_state(self, batch_size=None) -> list:
        """Zero states, one per entry of ``state_size``.

        Parameters
        ----------
        batch_size : int
            Number of sequences.

        Returns
        -------
        states : list of tensors [shape=(batch_size, units)]
        """
        return [ops.zeros((batch_size, d), dtype=self.compute_dtype) for d in self.state_size]


@keras.saving.register_keras_serializable(package="gruvsynth")
class PeepholeLSTMCell(_PaperCell):
    r"""The paper's LSTM cell with diagonal peephole connections (eq. 6–11).

    For an input ``x`` (the current time step), the previous output ``h`` and memory ``c``::

        c~    = tanh(x Wc + h Uc + bc)                     (9)
        f     = sigmoid(x Wf + h Uf + vf * c_prev + bf)    (10)
        i     = sigmoid(x Wi + h Ui + vi * c_prev + bi)    (11)
        c     = f * c_prev + i * c~                        (8)
        o     = sigmoid(x Wo + h Uo + vo * c + bo)         (7)  <- the new memory c
        h     = o * tanh(c)                                (6)

    ``*`` is the element-wise product; ``vf``, ``vi``, ``vo`` are vectors of length ``units``
    (the paper's diagonal matrices ``Vf``, ``Vi``, ``Vo``).  The paper writes no biases; with
    ``use_bias=False`` the cell is exactly its equations, with the default ``use_bias=True``
    each gate gets a bias as in every practical LSTM.

    Parameters
    ----------
    units : int
        Number of units (the size of ``h`` and ``c``).
    activation : str or callable
        Used for ``c~`` and for the output ``tanh(c)``; ``"tanh"`` in the paper.
    recurrent_activation : str or callable
        Used for the gates; ``"sigmoid"`` in the paper.
    use_bias : bool
        Add a bias to each gate and to ``c~``.
    unit_forget_bias : bool
        If true (default, as Keras's ``LSTMCell``), the forget-gate bias starts at 1 and the other
        biases at ``bias_initializer`` (Jozefowicz et al. 2015); the paper does not say.
    kernel_initializer, recurrent_initializer, bias_initializer : str or keras.initializers.Initializer
        Initialisers of ``W`` (input kernel), ``U`` (recurrent kernel) and the biases; Keras's
        defaults (``"glorot_uniform"``, ``"orthogonal"``, ``"zeros"``).
    peephole_initializer : str or keras.initializers.Initializer
        Initialiser of ``vi``, ``vf``, ``vo``; ``"glorot_uniform"`` (small random values), as in
        TensorFlow's former ``PeepholeLSTMCell``.  ``"zeros"`` starts as a plain LSTM.
    kernel_regularizer, recurrent_regularizer, bias_regularizer, peephole_regularizer : optional
        Keras regularizers of the matching weights.
    kernel_constraint, recurrent_constraint, bias_constraint, peephole_constraint : optional
        Keras constraints of the matching weights.
    **kwargs
        Passed to ``keras.layers.Layer`` (``name``, ``dtype``, ...).

    Attributes
    ----------
    state_size : list of int
        ``[units, units]``: the states are ``[h, c]``.
    output_size : int
        ``units``.
    kernel : keras.Variable [shape=(input_dim, 4 * units)]
        ``[Wi | Wf | Wc | Wo]``, gate order as in Keras's ``LSTMCell``.
    recurrent_kernel : keras.Variable [shape=(units, 4 * units)]
        ``[Ui | Uf | Uc | Uo]``.
    bias : keras.Variable [shape=(4 * units,)] or None
        ``[bi | bf | bc | bo]``.
    input_gate_peephole, forget_gate_peephole, output_gate_peephole : keras.Variable [shape=(units,)]
        ``vi``, ``vf``, ``vo``.

    Examples
    --------
    >>> import keras
    >>> import numpy as np
    >>> layer = keras.layers.RNN(PeepholeLSTMCell(8), return_sequences=True)
    >>> layer(np.zeros((2, 5, 3), "float32")).shape
    (2, 5, 8)
    """

    def __init__(
        self,
        units,
        *,
        activation="tanh",
        recurrent_activation="sigmoid",
        use_bias=True,
        unit_forget_bias=True,
        kernel_initializer="glorot_uniform",
        recurrent_initializer="orthogonal",
        bias_initializer="zeros",
        peephole_initializer="glorot_uniform",
        kernel_regularizer=None,
        recurrent_regularizer=None,
        bias_regularizer=None,
        peephole_regularizer=None,
        kernel_constraint=None,
        recurrent_constraint=None,
        bias_constraint=None,
        peephole_constraint=None,
        **kwargs,
    ):
        super().__init__(
            units,
            activation=activation,
            recurrent_activation=recurrent_activation,
            use_bias=use_bias,
            kernel_initializer=kernel_initializer,
            recurrent_initializer=recurrent_initializer,
            bias_initializer=bias_initializer,
            kernel_regularizer=kernel_regularizer,
            recurrent_regularizer=recurrent_regularizer,
            bias_regularizer=bias_regularizer,
            kernel_constraint=kernel_constraint,
            recurrent_constraint=recurrent_constraint,
            bias_constraint=bias_constraint,
            **kwargs,
        )
        self.unit_forget_bias = bool(unit_forget_bias)
        self.peephole_initializer = initializers.get(peephole_initializer)
        self.peephole_regularizer = regularizers.get(peephole_regularizer)
        self.peephole_constraint = constraints.get(peephole_constraint)
        self.state_size = [self.units, self.units]

    def build(self, input_shape):
        """Create the weights for inputs of ``input_shape[-1]`` features.

        Parameters
        ----------
        input_shape : tuple [shape=(batch, input_dim)]
        """
        super().build(input_shape)
        self._add_kernels(input_shape[-1], 4)
        if self.use_bias:
            if self.unit_forget_bias:
                base = self.bias_initializer

                def bias_initializer(_, *args, **kwargs):
                    return ops.concatenate(
                        [
                            base((self.units,), *args, **kwargs),
                            initializers.get("ones")((self.units,), *args, **kwargs),
                            base((2 * self.units,), *args, **kwargs),
                        ]
                    )

            else:
                bias_initializer = self.bias_initializer
            self.bias = self.add_weight(
                shape=(4 * self.units,),
                name="bias",
                initializer=bias_initializer,
                regularizer=self.bias_regularizer,
                constraint=self.bias_constraint,
            )
        else:
            self.bias = None
        for gate in ("input", "forget", "output"):
            weight = self.add_weight(
                shape=(self.units,),
                name=f"{gate}_gate_peephole",
                initializer=self.peephole_initializer,
                regularizer=self.peephole_regularizer,
                constraint=self.peephole_constraint,
            )
            setattr(self, f"{gate}_gate_peephole", weight)

    def call(self, inputs, states, training=None):
        """One time step.

        Parameters
        ----------
        inputs : tensor [shape=(batch, input_dim)]
            ``x_t``.
        states : list of two tensors [shape=(batch, units)]
            ``[h_{t-1}, c_{t-1}]``.
        training : bool or None
            Unused (the cell has no dropout); accepted for Keras.

        Returns
        -------
        h : tensor [shape=(batch, units)]
            ``h_t``, the output.
        new_states : list of two tensors [shape=(batch, units)]
            ``[h_t, c_t]``.
        """
        h_prev, c_prev = states[0], states[1]
        z = ops.add(ops.matmul(inputs, self.kernel), ops.matmul(h_prev, self.recurrent_kernel))
        if self.use_bias:
            z = ops.add(z, self.bias)
        z_i, z_f, z_c, z_o = ops.split(z, 4, axis=-1)
        i = self.recurrent_activation(z_i + self.input_gate_peephole * c_prev)
        f = self.recurrent_activation(z_f + self.forget_gate_peephole * c_prev)
        c = f * c_prev + i * self.activation(z_c)
        o = self.recurrent_activation(z_o + self.output_gate_peephole * c)
        h = o * self.activation(c)
        return h, [h, c]

    def get_config(self) -> dict:
        """The constructor arguments, serialised (``from_config`` rebuilds an equal cell).

        Returns
        -------
        config : dict
        """
        config = {
            "unit_forget_bias": self.unit_forget_bias,
            "peephole_initializer": initializers.serialize(self.peephole_initializer),
            "peephole_regularizer": regularizers.serialize(self.peephole_regularizer),
            "peephole_constraint": constraints.serialize(self.peephole_constraint),
        }
        return {**super().get_config(), **config}


@keras.saving.register_keras_serializable(package="gruvsynth")
class PaperGRUCell(_PaperCell):
    r"""The paper's GRU cell (eq. 2–5).

    For an input ``x`` (the current time step) and the previous output ``h``::

        z     = sigmoid(x Wz + h Uz + bz)           (3)
        r     = sigmoid(x Wr + h Ur + br)           (5)
        h~    = tanh(x W + r * (h U) + b)           (4)
        h_new = (1 - z) * h + z * h~                (2)

    ``*`` is the element-wise product.  The paper writes no biases; with ``use_bias=False`` the
    cell is exactly its equations.  Compared with ``keras.layers.GRU(reset_after=True)`` (Keras's
    default), the update gate has the opposite meaning (Keras: ``h_new = z * h + (1 - z) * h~``)
    and there is no bias inside the reset product (Keras: ``r * (h U + b_rec)``); with mapped
    weights (negated update-gate weights and bias, zero recurrent candidate bias) the two give
    the same outputs.

    Parameters
    ----------
    units : int
        Number of units (the size of ``h``).
    activation : str or callable
        Used for ``h~``; ``"tanh"`` in the paper.
    recurrent_activation : str or callable
        Used for the gates; ``"sigmoid"`` in the paper.
    use_bias : bool
        Add the biases ``bz``, ``br``, ``b``.
    kernel_initializer, recurrent_initializer, bias_initializer : str or keras.initializers.Initializer
        Initialisers of ``W`` (input kernel), ``U`` (recurrent kernel) and the bias; Keras's
        defaults (``"glorot_uniform"``, ``"orthogonal"``, ``"zeros"``).
    kernel_regularizer, recurrent_regularizer, bias_regularizer : optional
        Keras regularizers of the matching weights.
    kernel_constraint, recurrent_constraint, bias_constraint : optional
        Keras constraints of the matching weights.
    **kwargs
        Passed to ``keras.layers.Layer`` (``name``, ``dtype``, ...).

    Attributes
    ----------
    state_size : list of int
        ``[units]``: the state is ``[h]``.
    output_size : int
        ``units``.
    kernel : keras.Variable [shape=(input_dim, 3 * units)]
        ``[Wz | Wr | W]``, gate order as in Keras's ``GRUCell``.
    recurrent_kernel : keras.Variable [shape=(units, 3 * units)]
        ``[Uz | Ur | U]``.
    bias : keras.Variable [shape=(3 * units,)] or None
        ``[bz | br | b]``.

    Examples
    --------
    >>> import keras
    >>> import numpy as np
    >>> layer = keras.layers.RNN(PaperGRUCell(8), return_sequences=True)
    >>> layer(np.zeros((2, 5, 3), "float32")).shape
    (2, 5, 8)
    """

    def __init__(self, units, **kwargs):
        super().__init__(units, **kwargs)
        self.state_size = [self.units]

    def build(self, input_shape):
        """Create the weights for inputs of ``input_shape[-1]`` features.

        Parameters
        ----------
        input_shape : tuple [shape=(batch, input_dim)]
        """
        super().build(input_shape)
        self._add_kernels(input_shape[-1], 3)
        if self.use_bias:
            self.bias = self.add_weight(
                shape=(3 * self.units,),
                name="bias",
                initializer=self.bias_initializer,
                regularizer=self.bias_regularizer,
                constraint=self.bias_constraint,
            )
        else:
            self.bias = None

    def call(self, inputs, states, training=None):
        """One time step.

        Parameters
        ----------
        inputs : tensor [shape=(batch, input_dim)]
            ``x_t``.
        states : list of one tensor [shape=(batch, units)]
            ``[h_{t-1}]`` (a bare tensor is accepted too).
        training : bool or None
            Unused (the cell has no dropout); accepted for Keras.

        Returns
        -------
        h : tensor [shape=(batch, units)]
            ``h_t``, the output.
        new_states : list of one tensor [shape=(batch, units)]
            ``[h_t]``.
        """
        h_prev = states[0] if isinstance(states, (list, tuple)) else states
        x = ops.matmul(inputs, self.kernel)
        if self.use_bias:
            x = ops.add(x, self.bias)
        x_z, x_r, x_h = ops.split(x, 3, axis=-1)
        # r multiplies U h_{t-1} after the product (eq. 4), so one matmul serves all three.
        h_z, h_r, h_h = ops.split(ops.matmul(h_prev, self.recurrent_kernel), 3, axis=-1)
        z = self.recurrent_activation(x_z + h_z)
        r = self.recurrent_activation(x_r + h_r)
        candidate = self.activation(x_h + r * h_h)
        h = (1.0 - z) * h_prev + z * candidate
        return h, [h]


# --- the cells the authors' code ran: Keras 0.1 (June 2015) defaults ---------------------------


@keras.saving.register_keras_serializable(package="gruvsynth")
def theano_hard_sigmoid(x):
    """Theano's ``hard_sigmoid``, the gate activation of Keras 0.1: ``clip(0.2 x + 0.5, 0, 1)``.

    Keras 3's ``hard_sigmoid`` has slope 1/6 (``relu6(x + 3) / 6``); Theano's, which Keras 0.1
    used, has slope 0.2 and reaches 0 and 1 at ``x = -2.5`` and ``2.5``.

    Parameters
    ----------
    x : tensor

    Returns
    -------
    y : tensor [same shape as x]
    """
    return ops.clip(ops.add(ops.multiply(x, 0.2), 0.5), 0.0, 1.0)


@keras.saving.register_keras_serializable(package="gruvsynth")
class Keras01LSTMCell(keras.layers.LSTMCell):
    r"""The LSTM cell the authors' code ran: Keras 0.1's ``LSTM`` with its defaults.

    ::

        i  = hs(x Wi + h Ui + bi)
        f  = hs(x Wf + h Uf + bf)
        c  = f * c_prev + i * tanh(x Wc + h Uc + bc)
        o  = hs(x Wo + h Uo + bo)
        h  = o * tanh(c)

    with ``hs`` = :func:`theano_hard_sigmoid` and no peepholes (unlike the paper's eq. 6–11).
    It is ``keras.layers.LSTMCell`` with ``recurrent_activation=theano_hard_sigmoid``, so its
    weights are Keras's: ``kernel`` (input_dim, 4 units), ``recurrent_kernel`` (units, 4 units),
    ``bias`` (4 units,), gate order i, f, c, o.

    Parameters
    ----------
    units : int
        Number of units.
    activation : str or callable
        Cell input and output activation; ``"tanh"`` (Keras 0.1's default).
    recurrent_activation : str or callable
        Gate activation; :func:`theano_hard_sigmoid` (Keras 0.1's ``"hard_sigmoid"``).
    unit_forget_bias : bool
        Start the forget-gate bias at 1 (Keras 0.1.2 and later, and Keras 3).  Keras 0.1.0,
        the version the authors' README names, started it at 0: ``build_model(...,
        recipe="keras01")`` sets ``False``.
    **kwargs
        Any other ``keras.layers.LSTMCell`` argument (initialisers, regularisers, ...).

    Examples
    --------
    >>> import keras
    >>> import numpy as np
    >>> layer = keras.layers.RNN(Keras01LSTMCell(8), return_sequences=True)
    >>> layer(np.zeros((2, 5, 3), "float32")).shape
    (2, 5, 8)
    """

    def __init__(self, units, activation="tanh", recurrent_activation=theano_hard_sigmoid,
                 unit_forget_bias=True, **kwargs):
        super().__init__(check_int("units", units), activation=activation,
                         recurrent_activation=recurrent_activation,
                         unit_forget_bias=unit_forget_bias, **kwargs)


@keras.saving.register_keras_serializable(package="gruvsynth")
class Keras01GRUCell(keras.layers.GRUCell):
    r"""The GRU cell the authors' code ran: Keras 0.1's ``GRU`` with its defaults.

    ::

        z  = hs(x Wz + h Uz + bz)
        r  = hs(x Wr + h Ur + br)
        h~ = sigmoid(x Wh + (r * h) Uh + bh)     <- sigmoid, and r before the product
        h' = z * h + (1 - z) * h~

    with ``hs`` = :func:`theano_hard_sigmoid`.  Because the candidate is a sigmoid, ``h`` stays
    in (0, 1) (from a zero start it is never negative), unlike the paper's eq. 2–5 (tanh, reset
    after the product) and Keras 3's ``GRU``.  It is ``keras.layers.GRUCell`` with
    ``activation="sigmoid"``, ``recurrent_activation=theano_hard_sigmoid`` and
    ``reset_after=False``: ``kernel`` (input_dim, 3 units), ``recurrent_kernel`` (units,
    3 units), ``bias`` (3 units,), gate order z, r, h.

    Parameters
    ----------
    units : int
        Number of units.
    activation : str or callable
        Candidate activation; ``"sigmoid"`` (Keras 0.1's default for ``GRU``).
    recurrent_activation : str or callable
        Gate activation; :func:`theano_hard_sigmoid`.
    reset_after : bool
        ``False``: the reset gate multiplies ``h`` before the recurrent product (Keras 0.1).
    **kwargs
        Any other ``keras.layers.GRUCell`` argument.

    Examples
    --------
    >>> import keras
    >>> import numpy as np
    >>> layer = keras.layers.RNN(Keras01GRUCell(8), return_sequences=True)
    >>> layer(np.zeros((2, 5, 3), "float32")).shape
    (2, 5, 8)
    """

    def __init__(self, units, activation="sigmoid", recurrent_activation=theano_hard_sigmoid,
                 reset_after=False, **kwargs):
        super().__init__(check_int("units", units), activation=activation,
                         recurrent_activation=recurrent_activation, reset_after=reset_after,
                         **kwargs)


class _Gatewise(keras.initializers.Initializer):
    """Draws a (rows, gates × units) matrix as ``gates`` independent (rows, units) blocks."""

    def __init__(self, gates, seed=None):
        self.gates = check_int("gates", gates)
        self.seed = seed

    def _block_seeds(self):
        if self.seed is None:  # follows keras.utils.set_random_seed, as Keras's initialisers
            import random

            return [random.randint(1, 10**9) for _ in range(self.gates)]
        rng = np.random.default_rng(self.seed)
        return [int(s) for s in rng.integers(1, 2**31 - 1, size=self.gates)]

    def __call__(self, shape, dtype=None):
        if len(shape) != 2 or shape[1] % self.gates:
            raise ParameterError(
                f"{type(self).__name__}: shape {tuple(shape)} is not (rows, {self.gates} × units)")
        block = (shape[0], shape[1] // self.gates)
        parts = [self._block(block, seed, dtype) for seed in self._block_seeds()]
        return ops.concatenate(parts, axis=-1)

    def get_config(self) -> dict:
        return {"gates": self.gates, "seed": self.seed}


@keras.saving.register_keras_serializable(package="gruvsynth")
class GatewiseGlorotUniform(_Gatewise):
    """Keras 0.1's input-kernel initialisation: each gate's ``W`` (rows, units) its own
    ``glorot_uniform``, limit ``sqrt(6 / (rows + units))``.

    Keras 3 draws the whole (rows, gates × units) kernel at once, with the smaller limit
    ``sqrt(6 / (rows + gates × units))``.

    Parameters
    ----------
    gates : int
        Number of gate blocks side by side (4 for an LSTM, 3 for a GRU).
    seed : int or None
        Seed; None follows ``keras.utils.set_random_seed``.
    """

    def _block(self, shape, seed, dtype):
        return keras.initializers.GlorotUniform(seed=seed)(shape, dtype=dtype)


@keras.saving.register_keras_serializable(package="gruvsynth")
class GatewiseOrthogonal(_Gatewise):
    """Keras 0.1's recurrent-kernel initialisation: each gate's ``U`` (units, units) its own
    orthogonal matrix times ``scale`` (Keras 0.1's ``orthogonal(shape, scale=1.1)``).

    Keras 3 draws one (units, gates × units) matrix with orthonormal rows and gain 1.

    Parameters
    ----------
    gates : int
        Number of gate blocks side by side.
    scale : float
        Gain; 1.1 in Keras 0.1.
    seed : int or None
        Seed; None follows ``keras.utils.set_random_seed``.
    """

    def __init__(self, gates, scale=1.1, seed=None):
        super().__init__(gates, seed=seed)
        self.scale = float(scale)

    def _block(self, shape, seed, dtype):
        return keras.initializers.Orthogonal(gain=self.scale, seed=seed)(shape, dtype=dtype)

    def get_config(self) -> dict:
        return {**super().get_config(), "scale": self.scale}
