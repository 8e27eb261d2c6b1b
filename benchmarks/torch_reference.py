"""The plain PyTorch reference for ``benchmarks/train_step.py``: GRUV's model and optimizer.

``nn.Linear(D, H) → nn.LSTM(H, H) or nn.GRU(H, H) → nn.Linear(H, D)``, the mean squared error
and RMSprop, written the way a PyTorch user would write them (cuDNN on a GPU, oneDNN/ATen
kernels on a CPU).  PyTorch is a benchmark extra: nothing in the ``gruvsynth`` package imports
this module or ``torch``.

RMSprop is given Keras's hyper-parameters (``keras.optimizers.RMSprop`` defaults: ``rho=0.9``,
``epsilon=1e-7``, no momentum, not centred) instead of PyTorch's own defaults (``alpha=0.99``,
``eps=1e-8``).  One difference remains, in where epsilon goes: Keras divides by
``sqrt(v + eps)``, PyTorch by ``sqrt(v) + eps``.  It costs the same and changes nothing measurable
after the first steps, so the stock ``torch.optim.RMSprop`` is used.

The two recurrent layers have the same sizes as Keras's, with one bias vector more for the LSTM
(PyTorch keeps ``b_ih`` and ``b_hh``; Keras one bias): :func:`param_count` tells them apart.

Precisions (``--precision`` of the benchmark): ``"float32"`` (TF32 off for matrix products and
cuDNN), ``"tf32"`` (TF32 on; GPUs only), ``"bfloat16"`` (``torch.autocast`` with bfloat16, float32
weights and optimizer).
"""

from __future__ import annotations

import contextlib

import torch
from torch import nn

from gruvsynth.defaults import DEFAULT_LEARNING_RATE

PRECISIONS = ("float32", "tf32", "bfloat16")


class GRUVReference(nn.Module):
    """``Linear(D→H) → LSTM/GRU(H, batch_first) → Linear(H→D)``.

    Parameters
    ----------
    features : int
        D.
    hidden : int
        H.
    cell : {"lstm", "gru"}
        The recurrent layer.
    """

    def __init__(self, features: int, hidden: int, cell: str = "lstm"):
        super().__init__()
        layer = {"lstm": nn.LSTM, "gru": nn.GRU}[cell]
        self.input_projection = nn.Linear(features, hidden)
        self.rnn = layer(hidden, hidden, batch_first=True)
        self.output_projection = nn.Linear(hidden, features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x : torch.Tensor [shape=(batch, time, D)] → prediction of the same shape."""
        return self.output_projection(self.rnn(self.input_projection(x))[0])


def param_count(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def set_precision(precision: str) -> None:
    """Allow or forbid TF32 in matrix products and cuDNN (process-wide)."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    tf32 = precision == "tf32"
    torch.backends.cuda.matmul.allow_tf32 = tf32
    torch.backends.cudnn.allow_tf32 = tf32


def make_step(*, features: int, hidden: int, cell: str = "lstm",
              learning_rate: float = DEFAULT_LEARNING_RATE,
              precision: str = "float32", device: str = "cpu", seed: int = 0):
    """Build the reference model and optimizer; return ``(model, step)``.

    Parameters
    ----------
    features, hidden, cell
        As :class:`GRUVReference`.
    learning_rate : float
        RMSprop learning rate (``rho`` 0.9 and ``epsilon`` 1e-7, as Keras).
    precision : {"float32", "tf32", "bfloat16"}
        See the module docstring.
    device : str
        A torch device name.
    seed : int
        ``torch.manual_seed`` before the weights are made.

    Returns
    -------
    model : GRUVReference
    step : callable
        ``step(x, y) -> torch.Tensor``: one training step on tensors of shape
        (batch, time, D) already on ``device``; returns the loss (a 0-d tensor, not
        synchronised).  ``step.optimizer`` is the ``torch.optim.RMSprop``.
    """
    set_precision(precision)
    torch.manual_seed(seed)
    model = GRUVReference(features, hidden, cell).to(device)
    optimizer = torch.optim.RMSprop(model.parameters(), lr=learning_rate, alpha=0.9, eps=1e-7)
    device_type = torch.device(device).type

    def autocast():
        if precision == "bfloat16":
            return torch.autocast(device_type=device_type, dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def step(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        optimizer.zero_grad(set_to_none=True)
        with autocast():
            prediction = model(x)
        loss = nn.functional.mse_loss(prediction.float(), y)
        loss.backward()
        optimizer.step()
        return loss.detach()

    step.optimizer = optimizer
    return model, step
