"""gruvsynth: GRUV (Nayebi & Vitelli, 2015) music generation from raw audio, on Keras 3.

The package is a pipeline of stages, each its own module (see ``docs/pipeline.rst``):

``audio`` (decode/encode) → ``features`` (blocks ⇄ FFT vectors) → ``corpus`` (prepared
train/dev clips on disk) → ``models`` + ``cells`` → ``training`` → ``generation`` →
``evaluation``.  ``models`` is the public home of the model (it re-exports the cell registry,
``cell_registry``, and the fused training twin, ``fused`` with ``fused_sequences``); the
Keras-free constants are in ``defaults``.  Modules that need Keras import it lazily, so
``import gruvsynth`` is cheap.
"""

__version__ = "0.1.0"

from gruvsynth.errors import GruvError  # noqa: E402

__all__ = ["GruvError", "__version__"]
