"""What the experiment scripts share: profiles, paths, run-folder names, stage stamps.

Only plumbing lives here (reading ``experiments/configs/<profile>.toml``, the command-line
options every script takes, where corpora and runs go, marking finished stages); the work
itself is done by the library (:mod:`gruvsynth.corpus`, :mod:`gruvsynth.training`,
:mod:`gruvsynth.generation`, :mod:`gruvsynth.evaluation`, :mod:`gruvsynth.plots`,
:mod:`gruvsynth.report`).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
CONFIG_DIR = HERE / "configs"
PROFILES = ("smoke", "quick", "paper")
#: What a script uses without ``--profile``.
DEFAULT_PROFILE = "quick"
DEFAULT_DATA = Path("data")
DEFAULT_RESULTS = Path("results")
STAGES_DIR = ".stages"

if str(ROOT) not in sys.path:  # so that `python experiments/x.py` can import gruvsynth from a clone
    sys.path.insert(0, str(ROOT))


class ProfileError(Exception):
    """A profile's settings file is missing or incomplete."""


def config_path(profile: str) -> Path:
    """``experiments/configs/<profile>.toml``."""
    return CONFIG_DIR / f"{profile}.toml"


REQUIRED = {
    "profile": ("description", "estimate"),
    "corpus": ("names", "songs", "max_seconds", "representation", "block", "clip_blocks",
               "dev_fraction"),
    "train": ("batch_size", "learning_rate"),
    "fig1": ("cells", "hidden", "epochs"),
    "fig2": ("corpora", "cells", "hidden", "epochs"),
    "samples": ("n_seeds", "seed_blocks", "times"),
    "generation_length": ("cells", "seed_blocks", "times", "n_seeds"),
    "depth": ("corpora", "cells", "layers", "hidden", "epochs"),
}


def load_profile(profile: str) -> dict:
    """Read and check ``experiments/configs/<profile>.toml``.

    Parameters
    ----------
    profile : {"smoke", "quick", "paper"}

    Returns
    -------
    dict
        The settings, with ``settings["profile"]["name"]`` set to ``profile``.

    Raises
    ------
    ProfileError
        Unknown profile, or a missing section or key.
    """
    path = config_path(profile)
    if profile not in PROFILES or not path.is_file():
        raise ProfileError(f"unknown profile {profile!r} (no {path}); choose one of "
                           f"{', '.join(PROFILES)}")
    with open(path, "rb") as fh:
        settings = tomllib.load(fh)
    for section, keys in REQUIRED.items():
        if section not in settings:
            raise ProfileError(f"{path}: missing section [{section}]")
        missing = [k for k in keys if k not in settings[section]]
        if missing:
            raise ProfileError(f"{path}: [{section}] lacks {', '.join(missing)}")
    settings["profile"]["name"] = profile
    return settings


def gpu_devices() -> tuple[str, list[str]]:
    """The Keras backend that will be used and the accelerators it sees.

    Fixes the backend (``KERAS_BACKEND``, else TensorFlow) as training would.

    Returns
    -------
    backend : str
    gpus : list of str
        Device names that are not CPUs (from :func:`gruvsynth.backend.versions`).
    """
    from gruvsynth.backend import select_backend, versions

    backend = select_backend(None)
    devices = versions()["devices"]
    return backend, [d for d in devices if "cpu" not in str(d).lower()]


def auto_profile() -> tuple[str, str]:
    """``"paper"`` when a GPU is visible to the Keras backend, else ``"quick"``, and why.

    Returns
    -------
    profile : str
    reason : str
    """
    try:
        backend, gpus = gpu_devices()
    except Exception as exc:  # no backend at all: say so, and take the CPU profile
        return "quick", f"automatic: could not ask the Keras backend for devices ({exc})"
    if gpus:
        return "paper", f"automatic: the {backend} backend sees {', '.join(gpus)}"
    return "quick", f"automatic: no GPU visible to the {backend} backend"


@dataclass
class Paths:
    """Where one profile's corpora, runs and results go."""

    out: Path
    data: Path
    runs: Path

    def corpus(self, name: str) -> Path:
        """The prepared corpus folder of ``name``."""
        return self.data / name

    def run(self, corpus: str, cell: str, hidden: int, layers: int, epochs: int,
            seed: int = 0) -> Path:
        """The run folder of one training configuration (shared by every script that needs it:
        the same corpus, cell, hidden size, depth, epochs and seed is trained once)."""
        return self.runs / run_name(corpus, cell, hidden, layers, epochs, seed)


def run_name(corpus: str, cell: str, hidden: int, layers: int, epochs: int,
             seed: int = 0) -> str:
    """``<corpus>-<cell>-h<hidden>-l<layers>-e<epochs>``, and ``-s<seed>`` for seeds but 0."""
    name = f"{corpus}-{cell}-h{int(hidden)}-l{int(layers)}-e{int(epochs)}"
    return name if int(seed) == 0 else f"{name}-s{int(seed)}"


def replicate_seeds(settings: dict, section: str) -> list[int]:
    """The training seeds of a section's replicates: ``[train] seed`` plus 0, 1, ...
    ``[section] seeds - 1`` (``seeds`` defaults to 1)."""
    base = int(settings["train"].get("seed", 0))
    count = int(settings[section].get("seeds", 1))
    if count < 1:
        raise ProfileError(f"[{section}] seeds must be at least 1, got {count}")
    return [base + k for k in range(count)]


def add_arguments(parser: argparse.ArgumentParser, *, auto: bool = False) -> None:
    """The options every experiment script takes."""
    choices = (("auto",) if auto else ()) + PROFILES
    default = "auto" if auto else DEFAULT_PROFILE
    parser.add_argument("--profile", choices=choices, default=default,
                        help=f"settings profile, experiments/configs/<profile>.toml "
                        f"(default: {default}" + ("; auto = paper when the Keras backend sees "
                                                  "a GPU, else quick)" if auto else ")"))
    parser.add_argument("--out", type=Path, default=None,
                        help="results folder (default: results/<profile>)")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA,
                        help=f"prepared corpora go to DATA/<profile>/<corpus> "
                        f"(default: {DEFAULT_DATA})")
    parser.add_argument("--runs", type=Path, default=None,
                        help="training run folders (default: OUT/runs)")
    parser.add_argument("--force", action="store_true",
                        help="redo the stage even if it is marked finished (training runs "
                        "still resume)")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")


def paths_for(args: argparse.Namespace, profile: str) -> Paths:
    """The :class:`Paths` of parsed options."""
    out = args.out if args.out is not None else DEFAULT_RESULTS / profile
    runs = args.runs if args.runs is not None else out / "runs"
    return Paths(out=Path(out), data=Path(args.data) / profile, runs=Path(runs))


def parse(description: str, argv: list[str] | None) -> tuple[dict, Paths, argparse.Namespace]:
    """Parse a script's options and load its profile."""
    parser = argparse.ArgumentParser(description=description,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(parser)
    args = parser.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    settings = load_profile(args.profile)
    return settings, paths_for(args, args.profile), args


# --------------------------------------------------------------------------------------------
# corpora and runs


def corpus_parameters(settings: dict) -> dict:
    """The :func:`gruvsynth.corpus.prepare_corpus` parameters of the profile's ``[corpus]``."""
    c = settings["corpus"]
    return {
        "songs": c["songs"], "max_seconds": c["max_seconds"] or None,
        "start_seconds": float(c.get("start_seconds", 0.0)),
        "representation": c["representation"], "block": c["block"],
        "clip_blocks": c["clip_blocks"], "dev_fraction": c["dev_fraction"],
    }


def prepare_corpora(settings: dict, paths: Paths, *, progress: bool = True) -> list[Path]:
    """Prepare each corpus of the profile into ``DATA/<profile>/<name>``.

    A corpus already there is reused when it was prepared with the same parameters, and
    prepared again (replaced) when the profile's ``[corpus]`` settings have changed.
    """
    from gruvsynth.corpus import open_corpus, prepare_corpus

    params = corpus_parameters(settings)
    out = []
    for name in settings["corpus"]["names"]:
        target = paths.corpus(name)
        stale = False
        if (target / "manifest.json").exists():
            with open_corpus(target) as corpus:
                have = corpus.manifest["parameters"]
            stale = any(have.get(k) != v for k, v in params.items())
            if not stale:
                say(f"[corpus] {name}: already prepared in {target}")
                out.append(target)
                continue
            say(f"[corpus] {name}: the profile's corpus settings changed; preparing it again")
        excerpt = (f"{params['max_seconds']} s from {params['start_seconds']:g} s"
                   if params["max_seconds"] else "whole songs")
        say(f"[corpus] {name}: preparing {params['songs']} songs ({excerpt}) into {target}")
        start = time.perf_counter()
        prepare_corpus(name, target, overwrite=stale, progress=progress, **params).close()
        say(f"[corpus] {name}: done in {time.perf_counter() - start:.0f} s")
        out.append(target)
    return out


def trained_run(settings: dict, paths: Paths, corpus: str, cell: str, *, hidden: int,
                epochs: int, layers: int = 1, seed: int | None = None, progress: bool = True):
    """The run of one configuration: opened if finished, else trained (or resumed).

    Training settings other than those given come from the profile's ``[train]`` section.

    Returns
    -------
    gruvsynth.training.Run
    """
    from gruvsynth.training import RESUMABLE_KEYS, TrainConfig, open_run, train

    if not (paths.corpus(corpus) / "manifest.json").exists():
        prepare_corpora(settings, paths, progress=progress)
    seed = int(settings["train"].get("seed", 0)) if seed is None else int(seed)
    folder = paths.run(corpus, cell, hidden, layers, epochs, seed)
    config = TrainConfig().replace(**settings["train"]).replace(
        cell=cell, hidden=int(hidden), layers=int(layers), epochs=int(epochs),
        recipe=recipe_for(cell, settings), seed=seed)
    if (folder / "config.json").exists():
        run = open_run(folder)
        from gruvsynth.corpus import open_corpus

        with open_corpus(paths.corpus(corpus)) as current:
            corpus_hash = current.manifest_hash
        if run.config.get("corpus_hash") != corpus_hash:  # the corpus was prepared again
            stale = folder.with_name(f"{folder.name}.stale-{run.config.get('corpus_hash', '')[:8]}")
            say(f"[train] {folder.name}: trained on an earlier corpus; moved to {stale.name}")
            folder.rename(stale)
            return train(paths.corpus(corpus), folder, config=config, progress=progress)
        wanted = config.to_dict()
        same = all(run.config.get(k) == wanted[k] for k in wanted if k not in RESUMABLE_KEYS)
        if run.finished and same:
            return run
        # otherwise train() resumes it, or refuses a folder trained with other settings
    say(f"[train] {folder.name}: {epochs} epochs")
    return train(paths.corpus(corpus), folder, config=config, progress=progress)


#: The recipe each cell family trains with (see :data:`gruvsynth.defaults.RECIPES`): the
#: authors' cells with what their code got from Keras 0.1.0, the others with Keras 3's.
FAMILY_RECIPES = {"authors": "keras01"}


def recipe_for(cell: str, settings: dict | None = None) -> str:
    """The training recipe of a cell: ``"keras01"`` for the authors' Keras 0.1 cells, else the
    profile's ``[train] recipe`` (default ``"keras3"``)."""
    from gruvsynth.defaults import CELL_FAMILIES, DEFAULT_RECIPE

    default = ((settings or {}).get("train") or {}).get("recipe", DEFAULT_RECIPE)
    return FAMILY_RECIPES.get(CELL_FAMILIES.get(cell), default)


def baselines(settings: dict, paths: Paths, corpora=None) -> dict:
    """Every corpus's trivial-predictor losses, ``OUT/baselines.json`` (computed once per
    corpus preparation and reused).

    Returns
    -------
    dict
        ``{corpus: {split: {"mean", "persistence", "linear"}}}``.
    """
    from gruvsynth.corpus import open_corpus
    from gruvsynth.evaluation import baseline_losses
    from gruvsynth.report import BASELINES_JSON, read_json, write_json

    path = paths.out / BASELINES_JSON
    have = read_json(path) or {}
    known = dict(have.get("corpora") or {})
    hashes = dict(have.get("corpus_hashes") or {})
    names = list(corpora if corpora is not None else settings["corpus"]["names"])
    changed = False
    for name in names:
        if not (paths.corpus(name) / "manifest.json").exists():
            prepare_corpora(settings, paths, progress=False)
        with open_corpus(paths.corpus(name)) as corpus:
            if name in known and hashes.get(name) == corpus.manifest_hash:
                continue
            values = baseline_losses(corpus)
            known[name] = {split: values[split] for split in ("train", "dev")}
            hashes[name] = corpus.manifest_hash
            changed = True
            b = known[name]
            say(f"[baselines] {name}: mean predictor train {b['train']['mean']:.4g} / dev "
                f"{b['dev']['mean']:.4g}; persistence {b['train']['persistence']:.4g} / "
                f"{b['dev']['persistence']:.4g}; linear {b['train']['linear']:.4g} / "
                f"{b['dev']['linear']:.4g}")
    if changed or not path.exists():
        write_json(path, {"corpora": known, "corpus_hashes": hashes,
                          "about": "normalised MSE of trivial predictors over exactly the "
                                   "blocks the models' losses use "
                                   "(gruvsynth.evaluation.baseline_losses)"})
    return {name: known[name] for name in names}


def group_replicates(records: list[dict], *keys: str) -> dict[tuple, list[dict]]:
    """Records grouped by ``keys`` (the configuration), each group's replicates in seed order."""
    groups: dict[tuple, list[dict]] = {}
    for r in sorted(records, key=lambda r: r.get("seed", 0)):
        groups.setdefault(tuple(r[k] for k in keys), []).append(r)
    return groups


def draw_baselines(ax, baselines_of_corpus: dict | None, *, dev: bool = True,
                   train: bool = True) -> None:
    """The mean predictor's training and dev loss of one corpus as horizontal lines."""
    from gruvsynth import plots

    b = baselines_of_corpus or {}
    if train:
        plots.plot_baseline((b.get("train") or {}).get("mean"), ax=ax,
                            label="mean predictor, train", linestyle="--")
    if dev:
        plots.plot_baseline((b.get("dev") or {}).get("mean"), ax=ax,
                            label="mean predictor, dev", color="black")


def rel(path: Path, out: Path) -> str:
    """``path`` relative to the results folder, with forward slashes (for links and JSON)."""
    return Path(os.path.relpath(Path(path).resolve(), Path(out).resolve())).as_posix()


def history_record(run, corpus: str, cell: str, out: Path) -> dict:
    """A run's record for the figure JSON files (see :mod:`gruvsynth.report`)."""
    cfg = run.config
    return {"corpus": corpus, "cell": cell, "hidden": int(cfg["hidden"]),
            "layers": int(cfg["layers"]), "epochs": int(cfg["epochs"]),
            "seed": int(cfg.get("seed", 0)), "run": rel(run.path, out),
            "history": [{"epoch": r["epoch"], "loss": r["loss"], "dev_loss": r["dev_loss"],
                         "seconds": r["seconds"]} for r in run.history]}


# --------------------------------------------------------------------------------------------
# stages


def _digest(obj) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()


class Stage:
    """A finished-stage stamp: ``OUT/.stages/<name>.json`` holding a hash of the settings used.

    A stage whose stamp matches its settings is skipped (unless ``--force``); a change of the
    settings redoes it (training runs resume or are reused either way).
    """

    def __init__(self, paths: Paths, name: str, settings: dict):
        self.name = name
        self.path = paths.out / STAGES_DIR / f"{name}.json"
        self.digest = _digest({"settings": settings, "data": str(paths.data.resolve()),
                               "runs": str(paths.runs.resolve())})

    def done(self) -> bool:
        """Whether the stage finished with these settings."""
        try:
            return json.loads(self.path.read_text())["digest"] == self.digest
        except (OSError, ValueError, KeyError):
            return False

    def mark(self, seconds: float) -> None:
        """Record the stage as finished."""
        from gruvsynth.report import write_json

        write_json(self.path, {"stage": self.name, "digest": self.digest,
                               "seconds": seconds, "finished": time.strftime("%Y-%m-%dT%H:%M:%S")})

    def clear(self) -> None:
        """Forget the stamp (the stage is redone next time)."""
        self.path.unlink(missing_ok=True)


def stage_settings(settings: dict, *sections: str) -> dict:
    """The parts of a profile a stage depends on (for its stamp)."""
    return {s: settings.get(s) for s in ("corpus", "train", *sections)}


def say(message: str) -> None:
    """Print a progress line at once (the scripts' own progress, beside tqdm's bars)."""
    print(message, flush=True)
