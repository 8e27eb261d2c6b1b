"""The fused twin's sequence functions: LSTM and GRU over a whole sequence, with a hand-written
backward pass through time.

Keras's LSTM and GRU layers run their cell once per time step: on the CPU each step multiplies
the step's input by the input kernel (40 small matrix products instead of one large one), and
automatic differentiation of the loop adds one (hidden × 4 hidden) weight gradient per step
(at the paper's size, 64 MB written and re-read 40 times per training step).  The functions here
compute exactly the same recurrences, but

* the caller applies the recurrent layer's input kernel to all time steps at once, before the
  loop (each function takes that input part, ``x W + b``, as its first argument);
* the loop (``keras.ops.scan``) holds only the recurrent product and the gates;
* the backward pass through time is written out (the equations of the forward pass,
  differentiated by hand), and the recurrent kernel's gradient is one matrix product over all
  steps, as in cuDNN and oneDNN.

Everything is written with ``keras.ops`` and ``keras.ops.custom_gradient``, so it runs on each
backend; tests compare the twin's loss trajectory with the plain model's.
:func:`sequence_function` gives the function of one kind (:data:`SEQUENCE_KINDS`);
:mod:`gruvsynth.fused` (the twin) is its only user.
"""

from __future__ import annotations

from keras import ops

from gruvsynth.cells import theano_hard_sigmoid
from gruvsynth.checks import check_choice

__all__ = ["SEQUENCE_KINDS", "sequence_function"]

#: The recurrences there is a sequence function for: Keras's LSTM (``"lstm"``), the Keras 0.1
#: LSTM with hard-sigmoid gates (``"hard_lstm"``), Keras 3's GRU with ``reset_after=True``
#: (``"gru"``) and the Keras 0.1 GRU (``"gru01"``).
SEQUENCE_KINDS = ("lstm", "hard_lstm", "gru", "gru01")


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


#: The sequence functions made so far, by (kind, type of unroll, unroll).
_SEQUENCES: dict = {}


def sequence_function(kind: str, unroll: int):
    """The sequence function of one recurrence, with its time loops unrolled ``unroll`` steps.

    Parameters
    ----------
    kind : {"lstm", "hard_lstm", "gru", "gru01"}
        One of :data:`SEQUENCE_KINDS`.
    unroll : int or bool
        ``keras.ops.scan``'s ``unroll`` (``True``: unroll entirely).

    Returns
    -------
    sequence : callable
        ``sequence(zx, recurrent_kernel)`` (``"gru"``: ``sequence(zx, recurrent_kernel,
        recurrent_bias)``) → all hidden states (batch, time, H) from zero initial states, where
        ``zx`` (batch, time, gates × H) is the input part ``x W + b``.  Made once per
        ``(kind, unroll)`` and kept.

    Raises
    ------
    ParameterError
        For an unknown ``kind``.
    """
    check_choice("kind", kind, SEQUENCE_KINDS)
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

