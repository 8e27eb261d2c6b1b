"""What gruvsynth does differently on Keras's PyTorch backend.

PyTorch is the one backend on which Keras's ``jit_compile=True`` means ``torch.compile`` rather
than XLA; gruvsynth has not measured it, so the training steps it compiles by default on
TensorFlow and JAX run uncompiled there (:func:`jit_compile_by_default`).  The rest of the
package asks this module, and never names the backend itself.
"""

from __future__ import annotations

from gruvsynth.backends import current_backend

__all__ = ["jit_compile_by_default"]


def jit_compile_by_default() -> bool:
    """Whether a training step asked for ``jit_compile="auto"`` is compiled on this backend.

    True on TensorFlow and JAX (XLA: on a CPU, TensorFlow's XLA step was faster and smaller than
    its plain graph, ``docs/performance.rst``); False on PyTorch, whose compiler
    (``torch.compile``) has not been measured.

    Returns
    -------
    bool
    """
    return current_backend() != "torch"
