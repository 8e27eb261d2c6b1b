"""What the tests share: synthesised audio, tiny corpora, layer checks, and the scripts the
tests run in fresh Python processes (one Keras backend each, or a process to kill).

Test modules import these as ``helpers.NAME`` (pytest puts ``tests/`` on ``sys.path``); the
scripts run as ``python tests/helpers/NAME.py``, or ``python -m helpers.NAME`` from ``tests/``
where they import a test module.
"""
