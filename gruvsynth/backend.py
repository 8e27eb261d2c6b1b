"""The former path of :mod:`gruvsynth.backends`, kept so that ``import gruvsynth.backend`` and
``from gruvsynth.backend import select_backend`` keep working: it re-exports the public names."""

from gruvsynth.backends import *  # noqa: F401,F403
from gruvsynth.backends import __all__  # noqa: F401
