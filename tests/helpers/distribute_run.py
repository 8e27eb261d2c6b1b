"""Helper for test_distribute.py: run several trainings in this one process, print JSON lines.

usage: python tests/helpers/distribute_run.py SPEC.json

SPEC: ``{"corpus": PATH, "steps": [STEP, ...]}``; each STEP is ``{"run": RUN_DIR,
"opts": {...train() keyword arguments...}, "copy_from": RUN_DIR (optional: copy that run
folder to RUN_DIR first), "weights": OUT.npz (optional: save the final weights)}``.
For each step prints ``{"run": ..., "loss": [...], "dev_loss": [...], "replicas": N,
"engine": ...}`` on one line.  One process keeps the backend's start-up cost to one.
"""

from __future__ import annotations

import json
import logging
import shutil
import sys
from pathlib import Path

import numpy as np


def main(argv):
    spec = json.loads(Path(argv[0]).read_text())
    logging.basicConfig(level=logging.ERROR)
    from gruvsynth.training import train

    for step in spec["steps"]:
        if step.get("copy_from"):
            shutil.copytree(step["copy_from"], step["run"])
        run = train(spec["corpus"], step["run"], progress=False, **step.get("opts", {}))
        if step.get("weights"):
            model = run.load_model("latest")
            np.savez(step["weights"], *[np.asarray(w) for w in model.get_weights()])
        sessions = run.versions.get("sessions", [])
        info = sessions[-1].get("distribute", {}) if sessions else {}
        print(json.dumps({"run": step["run"], "loss": [r["loss"] for r in run.history],
                          "dev_loss": [r["dev_loss"] for r in run.history],
                          "replicas": info.get("replicas"), "engine": info.get("engine"),
                          "processes": info.get("processes")}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
