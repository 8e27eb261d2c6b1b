"""Experiment scripts reproducing the paper; settings in ``experiments/configs/*.toml``."""
