"""One module per ``gruvsynth`` subcommand.

Each module defines ``HELP`` (one line for the command list), ``DESCRIPTION``,
``add_arguments(parser)``, ``run(args) -> int`` and ``main(argv=None) -> int``; modules import
nothing heavy (Keras, TensorFlow) at import time, so ``gruvsynth --help`` stays fast.
"""
