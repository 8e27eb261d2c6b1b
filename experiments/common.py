"""What the experiment scripts share: profiles, paths, run-folder names, stage stamps.

Only plumbing lives here (reading ``experiments/configs/<profile>.toml``, the command-line
options every script takes, where corpora and runs go, marking finished stages); the work
itself is done by the library (:mod:`gruvsynth.corpus`, :mod:`gruvsynth.training`,
:mod:`gruvsynth.generation`, :mod:`gruvsynth.evaluation`, :mod:`gruvsynth.plots`,
:mod:`gruvsynth.reproduction`).
"""

from __future__ import annotations

import argparse
import copy
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
#: The key of a dry run's overrides in the settings and in every results file made with them
#: (``--max-epochs``, ``--songs``; :func:`apply_overrides`).
DRY_RUN = "dry_run"
#: The sections whose ``epochs`` ``--max-epochs`` caps (every training run comes from one).
EPOCH_SECTIONS = ("fig1", "fig2", "depth")

if str(ROOT) not in sys.path:  # so that `python experiments/x.py` can import gruvsynth from a clone
    sys.path.insert(0, str(ROOT))


class ProfileError(Exception):
    """A profile's settings file is missing or incomplete."""


def is_profile_file(profile: str) -> bool:
    """Whether ``profile`` names a TOML file of one's own rather than a built-in profile."""
    return str(profile).endswith(".toml")


def profile_name(profile: str) -> str:
    """The name of a profile: a built-in one's, or a profile file's stem (``mine.toml``:
    ``mine``), which names its default results and corpus folders."""
    return Path(profile).stem if is_profile_file(profile) else str(profile)


def config_path(profile: str) -> Path:
    """``experiments/configs/<profile>.toml``, or the profile file itself."""
    return Path(profile) if is_profile_file(profile) else CONFIG_DIR / f"{profile}.toml"


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
    profile : {"smoke", "quick", "paper"} or str
        A built-in profile, or the path of a TOML file of one's own with the same sections
        (e.g. a copy of ``experiments/configs/smoke.toml``, edited).

    Returns
    -------
    dict
        The settings, with ``settings["profile"]["name"]`` set to :func:`profile_name`.

    Raises
    ------
    ProfileError
        Unknown profile, an unreadable or invalid file, or a missing section or key.
    """
    path = config_path(profile)
    if is_profile_file(profile):
        if not path.is_file():
            raise ProfileError(f"{path}: no such profile file")
    elif profile not in PROFILES or not path.is_file():
        raise ProfileError(f"unknown profile {profile!r} (no {path}); choose one of "
                           f"{', '.join(PROFILES)}, or give a profile file (.toml)")
    try:
        with open(path, "rb") as fh:
            settings = tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise ProfileError(f"{path}: not a valid TOML file: {exc}") from None
    except OSError as exc:
        raise ProfileError(f"{path}: cannot read the profile: {exc.strerror}") from None
    for section, keys in REQUIRED.items():
        if section not in settings:
            raise ProfileError(f"{path}: missing section [{section}]")
        missing = [k for k in keys if k not in settings[section]]
        if missing:
            raise ProfileError(f"{path}: [{section}] lacks {', '.join(missing)}")
    _check_recipe_tables(path, settings["train"])
    settings["profile"]["name"] = profile_name(profile)
    return settings


#: What a ``[train.<recipe>]`` table may set for that recipe's runs: the optimiser's step only
#: (batch, checkpoints and evaluation stay shared, so that the plan and the figures hold).
RECIPE_KEYS = ("learning_rate",)


def _check_recipe_tables(path: Path, train: dict) -> None:
    from gruvsynth.defaults import RECIPES

    for name, table in train.items():
        if not isinstance(table, dict):
            continue
        if name not in RECIPES:
            raise ProfileError(f"{path}: [train.{name}] names no recipe (recipes: "
                               f"{', '.join(RECIPES)})")
        other = [k for k in table if k not in RECIPE_KEYS]
        if other:
            raise ProfileError(f"{path}: [train.{name}] may set only "
                               f"{', '.join(RECIPE_KEYS)}, not {', '.join(other)}")


def train_settings(settings: dict, recipe: str) -> dict:
    """The profile's ``[train]`` keys for the runs of one recipe: ``[train]`` itself, with
    that recipe's ``[train.<recipe>]`` table (if any) on top.

    Parameters
    ----------
    settings : dict
        The profile (:func:`load_profile`).
    recipe : str
        ``"keras01"`` or ``"keras3"`` (:data:`gruvsynth.defaults.RECIPES`).

    Returns
    -------
    dict
        :class:`gruvsynth.train.config.TrainConfig` fields.
    """
    train = settings["train"]
    out = {k: v for k, v in train.items() if not isinstance(v, dict)}
    out.update(train.get(recipe) or {})
    return out


def gpu_devices() -> tuple[str, list[str]]:
    """The Keras backend that will be used and the accelerators it sees.

    Fixes the backend (``KERAS_BACKEND``, else TensorFlow) as training would.

    Returns
    -------
    backend : str
    gpus : list of str
        Device names that are not CPUs (from :func:`gruvsynth.backends.versions`).
    """
    from gruvsynth.backends import select_backend, versions

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


def apply_overrides(settings: dict, *, max_epochs: int | None = None,
                    songs: int | None = None) -> dict:
    """A profile for a dry run: every run's epochs capped, each corpus's songs capped.

    Nothing else changes (whole songs, the representation, hidden sizes, batch size, ...).
    The overrides are recorded under ``settings["dry_run"]`` (:data:`DRY_RUN`), so every stage
    stamp, run folder name (:attr:`Paths.tag`) and results file made from them differs from
    a full run's, and the report marks the results "dry run: not a reproduction".

    Parameters
    ----------
    settings : dict
        From :func:`load_profile`.
    max_epochs : int, optional
        Cap of the ``epochs`` of ``[fig1]``, ``[fig2]`` and ``[depth]``.
    songs : int, optional
        Cap of ``[corpus] songs``.

    Returns
    -------
    dict
        ``settings`` itself when neither is given, else a changed copy.  Any override marks
        the results a dry run, even one that caps nothing.
    """
    if max_epochs is None and songs is None:
        return settings
    for name, value in (("max_epochs", max_epochs), ("songs", songs)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)
                                  or value < 1):
            raise ProfileError(f"{name} must be a positive integer, got {value!r}")
    out = copy.deepcopy(settings)
    if max_epochs is not None:
        for section in EPOCH_SECTIONS:
            out[section]["epochs"] = min(int(out[section]["epochs"]), max_epochs)
    if songs is not None:
        out["corpus"]["songs"] = min(int(out["corpus"]["songs"]), songs)
    out[DRY_RUN] = {"max_epochs": max_epochs, "songs": songs}
    return out


def dry_run_of(settings: dict) -> dict | None:
    """A profile's dry-run overrides (``{"max_epochs", "songs"}``), or None for a full run."""
    return settings.get(DRY_RUN) or None


def dry_run_tag(dry_run: dict | None) -> str:
    """``"dry-e<N>-s<K>"`` (the parts given) for a dry run's results folder; ``""`` for a
    full run."""
    if not dry_run:
        return ""
    parts = ["dry"]
    if dry_run.get("max_epochs") is not None:
        parts.append(f"e{int(dry_run['max_epochs'])}")
    if dry_run.get("songs") is not None:
        parts.append(f"s{int(dry_run['songs'])}")
    return "-".join(parts)


@dataclass
class Paths:
    """Where one profile's corpora, runs and results go.

    ``tag`` ends every run folder's name for a dry run (``dry``, then ``-s<K>`` when the
    songs are capped; the epochs are in the name already), so a capped run is never taken
    for (or resumed as) a full one.
    """

    out: Path
    data: Path
    runs: Path
    tag: str = ""

    def corpus(self, name: str) -> Path:
        """The prepared corpus folder of ``name``."""
        return self.data / name

    def run(self, corpus: str, cell: str, hidden: int, layers: int, epochs: int,
            seed: int = 0) -> Path:
        """The run folder of one training configuration (shared by every script that needs it:
        the same corpus, cell, hidden size, depth, epochs and seed is trained once); a dry
        run's :attr:`tag` ends the name."""
        return self.runs / run_name(corpus, cell, hidden, layers, epochs, seed, tag=self.tag)


def run_name(corpus: str, cell: str, hidden: int, layers: int, epochs: int,
             seed: int = 0, *, tag: str = "") -> str:
    """``<corpus>-<cell>-h<hidden>-l<layers>-e<epochs>``, then ``-s<seed>`` for seeds but 0,
    then ``-<tag>`` when one is given (a dry run's, :func:`dry_run_tag`)."""
    name = f"{corpus}-{cell}-h{int(hidden)}-l{int(layers)}-e{int(epochs)}"
    if int(seed) != 0:
        name = f"{name}-s{int(seed)}"
    return f"{name}-{tag}" if tag else name


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

    def profile_arg(text: str) -> str:
        if text in choices or is_profile_file(text):
            return text
        raise argparse.ArgumentTypeError(
            f"invalid choice: {text!r} (choose from {', '.join(choices)}, or a FILE.toml)")

    default = "auto" if auto else DEFAULT_PROFILE
    parser.add_argument("--profile", type=profile_arg, default=default,
                        metavar="{" + ",".join(choices) + "} or FILE.toml",
                        help=f"settings profile, experiments/configs/<profile>.toml, or a "
                        f"profile file of one's own with the same sections (its stem names "
                        f"the results) (default: {default}" + (
                            "; auto = paper when the Keras backend sees a GPU, else quick)"
                            if auto else ")"))
    parser.add_argument("--out", type=Path, default=None,
                        help="results folder (default: results/<profile>)")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA,
                        help=f"prepared corpora go to DATA/<profile>/<corpus> "
                        f"(default: {DEFAULT_DATA})")
    parser.add_argument("--runs", type=Path, default=None,
                        help="training run folders (default: OUT/runs)")
    parser.add_argument("--force", action="store_true",
                        help="redo the stage even if it is marked finished (training runs "
                        "still resume); reproduce.py: also start when the plan finds the disk "
                        "short")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    from gruvsynth.commands.argtypes import positive_int

    dry = parser.add_argument_group(
        "dry run", "cap the profile to prove it runs; the results say \"dry run: not a "
        "reproduction\" and every claim is inconclusive; they go to their own folders "
        "(results/<profile>-dry-..., DATA/<profile>-s<K>, run names ending -dry-...)")
    dry.add_argument("--max-epochs", type=positive_int, default=None, metavar="N",
                     help="train every run for at most N epochs")
    dry.add_argument("--songs", type=positive_int, default=None, metavar="K",
                     help="use at most the first K songs of each corpus (whole songs still)")


def paths_for(args: argparse.Namespace, profile: str) -> Paths:
    """The :class:`Paths` of parsed options.

    A dry run (``--max-epochs``, ``--songs``) gets its own default results folder
    (``results/<profile>-<tag>``), its own corpora when the songs are capped
    (``DATA/<profile>-s<K>``: a full corpus is never replaced by a smaller one) and run
    folder names ending ``-<tag>`` (:func:`dry_run_tag`).
    """
    profile = profile_name(profile)
    dry = {"max_epochs": getattr(args, "max_epochs", None), "songs": getattr(args, "songs", None)}
    tag = dry_run_tag(dry if any(v is not None for v in dry.values()) else None)
    default_out = DEFAULT_RESULTS / (f"{profile}-{tag}" if tag else profile)
    out = args.out if args.out is not None else default_out
    runs = args.runs if args.runs is not None else Path(out) / "runs"
    data = Path(args.data) / (f"{profile}-s{dry['songs']}" if dry["songs"] else profile)
    run_tag = ("dry" + (f"-s{dry['songs']}" if dry["songs"] else "")) if tag else ""
    return Paths(out=Path(out), data=data, runs=Path(runs), tag=run_tag)


def profile_settings(args: argparse.Namespace, profile: str) -> dict:
    """The profile of parsed options, with their dry-run overrides applied."""
    return apply_overrides(load_profile(profile), max_epochs=getattr(args, "max_epochs", None),
                           songs=getattr(args, "songs", None))


def parse(description: str, argv: list[str] | None) -> tuple[dict, Paths, argparse.Namespace]:
    """Parse a script's options and load its profile (with ``--max-epochs``/``--songs``)."""
    parser = argparse.ArgumentParser(description=description,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(parser)
    args = parser.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    settings = profile_settings(args, args.profile)
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


def prepared_corpus(settings: dict, paths: Paths, name: str) -> dict | None:
    """The manifest of corpus ``name`` when it is prepared with the profile's settings.

    Returns
    -------
    dict or None
        None when the corpus is not prepared, or was prepared with other ``[corpus]``
        settings (:func:`prepare_corpora` then prepares it again).
    """
    from gruvsynth.corpus import open_corpus

    target = paths.corpus(name)
    if not (target / "manifest.json").exists():
        return None
    with open_corpus(target) as corpus:
        manifest = corpus.manifest
    have = manifest["parameters"]
    if any(have.get(k) != v for k, v in corpus_parameters(settings).items()):
        return None
    return manifest


def prepare_corpora(settings: dict, paths: Paths, *, progress: bool = True) -> list[Path]:
    """Prepare each corpus of the profile into ``DATA/<profile>/<name>``.

    A corpus already there is reused when it was prepared with the same parameters, and
    prepared again (replaced) when the profile's ``[corpus]`` settings have changed.
    """
    from gruvsynth.corpus import prepare_corpus

    params = corpus_parameters(settings)
    out = []
    for name in settings["corpus"]["names"]:
        target = paths.corpus(name)
        stale = False
        if (target / "manifest.json").exists():
            stale = prepared_corpus(settings, paths, name) is None
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
    With ``[profile] isolate_runs = true`` a run is trained in a process of its own on a CPU
    (:func:`train_isolated`).

    Returns
    -------
    gruvsynth.training.Run
    """
    from gruvsynth.training import RESUMABLE_KEYS, open_run

    def train(corpus_dir, folder, *, config, progress):
        if isolated(settings):
            return train_isolated(corpus_dir, folder, config=config, progress=progress)
        from gruvsynth.training import train as train_here

        return train_here(corpus_dir, folder, config=config, progress=progress)

    if not (paths.corpus(corpus) / "manifest.json").exists():
        prepare_corpora(settings, paths, progress=progress)
    seed = int(settings["train"].get("seed", 0)) if seed is None else int(seed)
    folder = paths.run(corpus, cell, hidden, layers, epochs, seed)
    config = train_config(settings, cell, hidden=hidden, layers=layers, epochs=epochs,
                          seed=seed)
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


def isolated(settings: dict) -> bool:
    """Whether the profile's runs train in processes of their own here.

    ``[profile] isolate_runs = true`` asks for it, because TensorFlow keeps about twice a
    model's weights in memory for every model trained in a process, even once the model is
    gone (measured: +300 MB per run of 34 M parameters, with or without
    ``keras.backend.clear_session()``; JAX keeps nothing): the paper profile's 48 runs would
    hold tens of GB.  On a GPU the runs stay in this process, which holds the device.
    """
    if not (settings.get("profile") or {}).get("isolate_runs"):
        return False
    from gruvsynth.backends import accelerator, select_backend

    select_backend(None)
    return accelerator() == "cpu"


_TRAIN_CHILD = """
import json, sys
from gruvsynth.errors import GruvError
from gruvsynth.fileio import write_json_atomic
from gruvsynth.training import TrainConfig, train
corpus, folder, config, result, progress = sys.argv[1:]
try:
    train(corpus, folder, config=TrainConfig.from_dict(json.loads(config)),
          progress=progress == "1")
except GruvError as exc:
    write_json_atomic(result, {"error": str(exc), "type": type(exc).__name__})
    sys.exit(1)
"""


def train_isolated(corpus_dir, folder, *, config, progress: bool = True):
    """:func:`gruvsynth.train.loop.train` in a fresh Python process; its memory is returned to
    the system when the run ends.

    Returns
    -------
    gruvsynth.training.Run
        The run, opened here.

    Raises
    ------
    gruvsynth.errors.GruvError
        With the child's message when training failed there (a diverged run, a damaged
        folder, ...), or naming the exit status when the process died.
    """
    import subprocess
    import tempfile

    from gruvsynth.backends import current_backend
    from gruvsynth.errors import GruvError
    from gruvsynth.training import open_run

    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)}
    if current_backend():
        env["KERAS_BACKEND"] = current_backend()
    with tempfile.TemporaryDirectory(prefix="gruvsynth-run-") as tmp:
        result = Path(tmp) / "result.json"
        done = subprocess.run([sys.executable, "-c", _TRAIN_CHILD, str(corpus_dir), str(folder),
                               json.dumps(config.to_dict()), str(result),
                               "1" if progress else "0"], env=env)
        info = json.loads(result.read_text()) if result.exists() else {}
    if done.returncode != 0:
        raise GruvError(info.get("error") or f"{folder}: training in its own process ended "
                        f"with exit status {done.returncode}")
    return open_run(folder)


def train_config(settings: dict, cell: str, *, hidden: int, layers: int, epochs: int,
                 seed: int | None = None):
    """The :class:`gruvsynth.train.config.TrainConfig` of one of the profile's runs (the
    profile's ``[train]`` section with the cell's recipe's ``[train.<recipe>]`` table on top
    (:func:`train_settings`), the run's sizes and its seed: the profile's ``[train] seed``
    when ``seed`` is None)."""
    from gruvsynth.training import TrainConfig

    recipe = recipe_for(cell, settings)
    config = TrainConfig().replace(**train_settings(settings, recipe)).replace(
        cell=cell, hidden=int(hidden), layers=int(layers), epochs=int(epochs), recipe=recipe)
    return config if seed is None else config.replace(seed=int(seed))


def training_plan(settings: dict) -> list[tuple[str, str, int, int, int, int]]:
    """Every distinct training run the profile needs: (corpus, cell, hidden, layers, epochs,
    seed), each configuration once per replicate seed (:func:`replicate_seeds`)."""
    f1, f2, d = settings["fig1"], settings["fig2"], settings["depth"]
    s1, s2, sd = (replicate_seeds(settings, k) for k in ("fig1", "fig2", "depth"))
    runs = []
    for corpus in settings["corpus"]["names"]:
        runs += [(corpus, cell, f1["hidden"], 1, f1["epochs"], s) for cell in f1["cells"]
                 for s in s1]
    for corpus in f2["corpora"]:
        runs += [(corpus, cell, h, 1, f2["epochs"], s) for cell in f2["cells"]
                 for h in f2["hidden"] for s in s2]
    for corpus in d["corpora"]:
        runs += [(corpus, cell, d["hidden"], n, d["epochs"], s) for cell in d["cells"]
                 for n in d["layers"] for s in sd]
    return list(dict.fromkeys(runs))


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
    from gruvsynth.fileio import read_json, write_json_atomic
    from gruvsynth.reproduction.results import BASELINES_JSON

    path = paths.out / BASELINES_JSON
    have = read_json(path, "results file", missing_ok=True) or {}
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
        write_json_atomic(path, {"corpora": known, "corpus_hashes": hashes,
                                 "about": "normalised MSE of trivial predictors over exactly "
                                          "the blocks the models' losses use "
                                          "(gruvsynth.evaluation.baseline_losses)"},
                          clean=True)
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
    """A run's record for the figure JSON files (see :mod:`gruvsynth.reproduction.results`)."""
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
        from gruvsynth.fileio import write_json_atomic

        write_json_atomic(self.path, {"stage": self.name, "digest": self.digest,
                                      "seconds": seconds,
                                      "finished": time.strftime("%Y-%m-%dT%H:%M:%S")},
                          clean=True)

    def clear(self) -> None:
        """Forget the stamp (the stage is redone next time)."""
        self.path.unlink(missing_ok=True)


def stage_settings(settings: dict, *sections: str) -> dict:
    """The parts of a profile a stage depends on (for its stamp), dry-run overrides included."""
    keys = ("corpus", "train", *sections) + ((DRY_RUN,) if settings.get(DRY_RUN) else ())
    return {s: settings.get(s) for s in keys}


def figure_title(settings: dict, title: str) -> str:
    """A figure's title, marked as a dry run when the profile is one."""
    return f"DRY RUN, not a reproduction — {title}" if dry_run_of(settings) else title


def say(message: str) -> None:
    """Print a progress line at once (the scripts' own progress, beside tqdm's bars)."""
    print(message, flush=True)
