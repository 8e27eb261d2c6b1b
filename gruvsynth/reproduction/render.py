"""The claims as Markdown (``claims.md``) and the self-contained HTML page (``index.html``).

:func:`claims_markdown` and :func:`baselines_markdown` write the tables;
:func:`render_page` writes the page of a results folder: the claims, the trivial-predictor
baselines, the figures, the audio samples with their metrics, the run's record and links to
the data files.  Relative links only (checked with
:func:`~gruvsynth.reproduction.results.safe_link` where they come from a results file), no
script, no network; every text read from a results file is escaped.
"""

from __future__ import annotations

import datetime as _dt
import html
import json
from collections.abc import Mapping, Sequence
from pathlib import Path

from gruvsynth.defaults import CELL_LABELS
from gruvsynth.reproduction.claims import findings
from gruvsynth.reproduction.results import (
    CLAIMS_JSON,
    CLAIMS_MD,
    DEPTH,
    DRY_RUN,
    DRY_RUN_BANNER,
    FIG1,
    FIG2,
    FIG3,
    FIGURES_DIR,
    GENERATED_AUDIO,
    GENERATION_LENGTH,
    REPRODUCTION_JSON,
    SAMPLES_DIR,
    SAMPLES_JSON,
    describe_dry_run,
    safe_link,
)
from gruvsynth.reproduction.rules import TALLY_RULE, VERDICTS, fmt, mark

__all__ = [
    "SAMPLE_PROTOCOLS",
    "baselines_markdown",
    "claims_markdown",
    "render_page",
]


# --------------------------------------------------------------------------------------------
# Markdown
# --------------------------------------------------------------------------------------------


def baselines_markdown(baselines: Mapping | None) -> str:
    """The trivial predictors' losses per corpus and split, as a Markdown table.

    Parameters
    ----------
    baselines : mapping or None
        ``{corpus: {split: {"mean", "persistence", "linear"}}}``.

    Returns
    -------
    str
        Empty without baselines.
    """
    if not baselines:
        return ""
    lines = ["| corpus | split | mean predictor | persistence | linear persistence |",
             "|---|---|---|---|---|"]
    for corpus in sorted(baselines):
        for split in ("train", "dev"):
            b = (baselines[corpus] or {}).get(split) or {}
            lines.append(f"| {corpus} | {split} | {fmt(b.get('mean'))} | "
                         f"{fmt(b.get('persistence'))} | {fmt(b.get('linear'))} |")
    return "\n".join(lines)


def _md_cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def claims_markdown(claims: Sequence[Mapping], *, title: str = "Claims of the paper",
                    baselines: Mapping | None = None, dry_run: Mapping | None = None) -> str:
    """The claims table as Markdown: one row per claim, then each claim's checks and rule.

    Parameters
    ----------
    claims : sequence of dict
        From :func:`compute_claims`.
    title : str
    baselines : mapping, optional
        Shown as a table first (:func:`baselines_markdown`).
    dry_run : mapping, optional
        A dry run's overrides: the text starts with :data:`DRY_RUN_BANNER` in capitals.

    Returns
    -------
    str
    """
    lines = []
    if dry_run:
        lines += [f"# {DRY_RUN_BANNER.upper()}", "",
                  f"> **{DRY_RUN_BANNER.capitalize()}.** These results were made with "
                  f"`{describe_dry_run(dry_run)}`: the runs were capped to prove that the "
                  "profile starts, checkpoints, generates and reports. Every claim below is "
                  "inconclusive; none of the figures says anything about the paper.", ""]
    lines += [f"# {title}", "",
             "Verdicts are computed from the measured data by the rule beside each claim "
             "(`gruvsynth report` recomputes them).", ""]
    if baselines:
        lines += ["What trivial predictors get on the same blocks (normalised MSE; a model "
                  "that does not beat these by the gate's margin has not learned):", "",
                  baselines_markdown(baselines), ""]
    lines += [
             "Each claim is judged separately for each family of cells: the authors' cells "
             "(Keras 0.1's LSTM and GRU, what produced the paper's numbers) and today's cells "
             "(Keras 3's).", "",
             "| claim | cells | verdict | measured (checks) | rule |", "|---|---|---|---|---|"]
    for c in claims:
        checks = "; ".join(f"{mark(k['passed'])} {k['check']}"
                           for k in [*c.get("gates", []), *c["checks"]])
        verdict = c["verdict"] + (f" ({c['reason']})" if c.get("reason") else "")
        lines.append(f"| **{c['id']}** {_md_cell(c['claim'])} | "
                     f"{_md_cell(c.get('family_label', ''))} | **{_md_cell(verdict)}** | "
                     f"{_md_cell(checks)} | {_md_cell(c['rule'])} |")
    lines += ["", "✔ passed, ✘ failed, ? undecided or no data (gates first).", ""]
    found = findings(claims)
    if found:
        lines += ["## Findings", ""] + [f"- {f}" for f in found] + [""]
    for c in claims:
        family = f" ({c['family_label']})" if c.get("family_label") else ""
        lines += [f"## {c['id']}{family}: {c['verdict']}", "", f"*Claim:* {c['claim']}", "",
                  f"*Paper:* \"{c['paper']}\"", "", f"*Rule:* {c['rule']}", "",
                  "*Figures:* " + ", ".join(f"[{f}]({f})" for f in c["figures"]), "",
                  "| measured | value |", "|---|---|"]
        for key, value in c["measured"].items():
            text = json.dumps(value) if isinstance(value, (dict, list)) else fmt(value)
            lines.append(f"| {_md_cell(key)} | {_md_cell(text)} |")
        lines.append("")
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------
# The page
# --------------------------------------------------------------------------------------------

_CSS = """
body { font-family: sans-serif; max-width: 1200px; margin: 1em auto; padding: 0 1em;
       color: #222; line-height: 1.4; }
h1 { font-size: 1.6em; } h2 { border-bottom: 1px solid #ccc; padding-bottom: .2em; }
table { border-collapse: collapse; margin: .5em 0 1.5em; font-size: .92em; }
th, td { border: 1px solid #ccc; padding: .3em .5em; vertical-align: top; text-align: left; }
th { background: #f3f3f3; }
.verdict { font-weight: bold; white-space: nowrap; }
.reproduced { background: #d9f2d9; } .not-reproduced { background: #f8d7d7; }
.inconclusive { background: #fff3cd; }
.dry-run { font-size: 2.4em; font-weight: bold; text-align: center; text-transform: uppercase;
           color: #fff; background: #b00020; padding: .4em; margin: .3em 0; }
.rule { font-size: .85em; color: #444; max-width: 28em; }
.checks { margin: 0; padding-left: 1.1em; font-size: .88em; }
figure { margin: 1em 0 2em; } figure img { max-width: 100%; border: 1px solid #ddd; }
img.spectrogram { width: 420px; max-width: 100%; margin-top: 0.3em; }
figcaption { font-size: .9em; color: #444; }
audio { width: 16em; } .metrics td { font-size: .85em; } .small { font-size: .85em; color: #555; }
pre { background: #f7f7f7; padding: .6em; overflow-x: auto; font-size: .85em; }
"""


def _e(text) -> str:
    return html.escape(str(text), quote=True)


def _rel_link(out: Path, name: str, label: str | None = None) -> str:
    """A link to a file of the results folder, or the label alone when the file is missing."""
    label = label or name
    if (out / name).exists():
        return f'<a href="{_e(name)}">{_e(label)}</a>'
    return _e(label)


def _figure_entries(out: Path) -> list[tuple[str, str]]:
    """(stem, caption) of every figure present, in the page's order."""
    entries = [
        (FIG1, "Figure 1 — training (dashed) and dev (solid) loss per epoch, GRU vs LSTM, on "
               "both corpora."),
        (FIG2, "Figure 2 — dev loss against hidden size, both cells."),
    ]
    for png in sorted((out / FIGURES_DIR).glob(f"{FIG3}_*.png")):
        corpus = png.stem[len(FIG3) + 1:]
        entries.append((png.stem, f"Figure 3 — mean spectrogram over the dev clips of "
                                  f"{corpus}: ground truth vs LSTM vs GRU predictions, and "
                                  f"their mean spectra with the 4–7 kHz band shaded."))
    entries += [
        (GENERATED_AUDIO, "Claim C4: the generated samples (blocks after the seed) on each "
                          "corpus's calibrated noise scale — the noise distance of the dev "
                          "music and the noise anchors, the threshold, each cell's samples — "
                          "and their level-matched spectral distance to the dev audio."),
        (GENERATION_LENGTH, "Generation loops and spectral flatness against generation length "
                            "(multiple of the seed) for several seed sizes."),
        (DEPTH, "1, 2 and 3 recurrent layers: training (dashed) and dev (solid) loss."),
    ]
    return [(stem, cap) for stem, cap in entries if (out / FIGURES_DIR / f"{stem}.png").exists()]


_SAMPLE_METRICS = (
    ("noise_verdict", "noise-likeness (calibrated)", "s"),
    ("noise_distance", "noise distance", ".3g"),
    ("spectral_flatness", "spectral flatness", ".3f"),
    ("outside_band", "energy outside 4–7 kHz", ".3f"),
    ("log_spectral_distance_db", "distance to dev spectrum (dB)", ".1f"),
    ("shape_distance_db", "the same, level matched (dB)", ".1f"),
    ("rms", "RMS", ".4f"),
    ("clipped_share", "clipped share", ".4f"),
    ("loop_free_times", "loop-free length (× seed)", ".2f"),
    ("novelty_median_distance", "distance to nearest training block", ".3f"),
    ("near_copy_share", "near-copy share", ".2f"),
)


def _flat_metrics(m: Mapping) -> dict:
    flat = dict(m)
    loop = m.get("loop") or {}
    nov = m.get("novelty") or {}
    flat.setdefault("loop_free_times", loop.get("loop_free_times"))
    flat.setdefault("novelty_median_distance", nov.get("median_distance"))
    flat.setdefault("near_copy_share", nov.get("near_copy_share"))
    return flat


def _metrics_table(m: Mapping) -> str:
    flat = _flat_metrics(m)
    rows = "".join(f"<tr><td>{_e(label)}</td><td>{_e(fmt(flat.get(key), spec))}</td></tr>"
                   for key, label, spec in _SAMPLE_METRICS if key in flat)
    return f'<table class="metrics">{rows}</table>'


def _audio(out: Path, name: str | None, *, source: str) -> str:
    if not name:
        return '<span class="small">missing</span>'
    link = safe_link(out, name, source=source)
    missing = "" if (out / name).exists() else ' <span class="small">(file missing)</span>'
    return (f'<audio controls preload="metadata" src="{_e(link)}"></audio>'
            f'<br><a class="small" href="{_e(link)}">{_e(Path(name).name)}</a>{missing}')


def _image(out: Path, name: str | None, *, source: str, alt: str) -> str:
    if not name:
        return ""
    link = safe_link(out, name, source=source)
    if not (out / name).exists():
        return '<span class="small">(spectrogram missing)</span>'
    return f'<img class=spectrogram src="{_e(link)}" alt="{_e(alt)}">'


#: The sample sets on the page, in order: the authors' protocol first.
SAMPLE_PROTOCOLS = {
    "train": "Authors' protocol: seeds from random training windows (their generate script "
             "copies a training clip); claims C4 and C6 are judged on these",
    "dev": "Seeds from dev songs (music the model never trained on): reported, not judged",
}


def _sample_row(out: Path, s: Mapping, i: int, where: str) -> str:
    seed = s.get("seed") or {}
    origin = (f"{_e(seed.get('source', ''))} song {_e(seed.get('song', ''))}, from block "
              f"{_e(seed.get('start_block', ''))}, {_e(seed.get('blocks', ''))} blocks")
    copy = f"<br><b>{_e(s['copy'])}</b>" if s.get("copy") else ""
    label = CELL_LABELS.get(str(s["cell"]), str(s["cell"]).upper())
    picture = _image(out, s.get("spectrogram"), source=f"{where}: samples[{i}].spectrogram",
                     alt=f"spectrogram of {s['corpus']} {label} sample")
    return (f"<tr><td>{_e(s['corpus'])}</td><td>{_e(label)}<br>"
            f"<span class=small>hidden {_e(s.get('hidden'))}</span></td>"
            f"<td>{_audio(out, s.get('seed_wav'), source=f'{where}: samples[{i}].seed_wav')}"
            f"<br><span class=small>{origin}</span></td>"
            f"<td>{_audio(out, s.get('wav'), source=f'{where}: samples[{i}].wav')}{copy}"
            f"<br>{picture}</td>"
            f"<td>{_metrics_table(s.get('metrics') or {})}"
            f"</td></tr>")


def _samples_section(out: Path, samples: Mapping | None) -> str:
    if not samples or not samples.get("samples"):
        return "<p>No generated samples yet (run <code>fig3_spectrograms.py</code>).</p>"
    dev = samples.get("dev_audio") or {}
    where = f"{out / SAMPLES_DIR / SAMPLES_JSON}"
    head = ("<table><tr><th>corpus</th><th>cell</th><th>seed</th><th>generated</th>"
            "<th>metrics of the generated audio</th></tr>")
    groups = []
    for protocol, title in SAMPLE_PROTOCOLS.items():
        rows = [_sample_row(out, s, i, where) for i, s in enumerate(samples["samples"])
                if s.get("protocol", "dev") == protocol]
        if rows:
            groups.append(f"<h3>{_e(title)}</h3>{head}{''.join(rows)}</table>")
    dev_rows = "".join(
        f"<tr><td>{_e(c)}</td><td>{_metrics_table(m)}</td></tr>" for c, m in sorted(dev.items()))
    settings = samples.get("settings") or {}
    note = ""
    if settings:
        note = (f"<p class=small>Seeds: {_e(settings.get('seed_blocks'))} blocks; generated to "
                f"{_e(settings.get('times'))}× the seed ({_e(settings.get('method', ''))} "
                f"generation). Metrics of the generated audio are measured on the blocks after "
                f"the seed; the generated file holds the first pass's predictions of the seed "
                f"followed by the new blocks. Each picture is the seed's spectrogram, then the "
                f"generation's, the seed's end dashed; a sample is a near-copy when at least "
                f"half its new blocks are within 5 % of a training block.</p>")
    return (note + "".join(groups)
            + ("<h3>Real dev audio (reference)</h3><table><tr><th>corpus</th><th>metrics</th>"
               "</tr>" + dev_rows + "</table>" if dev_rows else ""))


def _claims_section(out: Path, claims: Sequence[Mapping]) -> str:
    rows = []
    for c in claims:
        cls = c["verdict"].replace(" ", "-")
        gates = "".join(f"<li class=gate>{mark(k['passed'])} {_e(k['check'])}</li>"
                        for k in c.get("gates", []))
        checks = "".join(f"<li>{mark(k['passed'])} {_e(k['check'])}</li>" for k in c["checks"])
        figs = ", ".join(_rel_link(out, f, Path(f).stem) for f in c["figures"])
        reason = f"<br><span class=small>{_e(c['reason'])}</span>" if c.get("reason") else ""
        family = c.get("family", "")
        rows.append(
            f'<tr id="{_e(c["id"])}-{_e(family)}"><td><b>{_e(c["id"])}</b></td>'
            f'<td>{_e(c["claim"])}<br><span class=small>Paper: “{_e(c["paper"])}”</span></td>'
            f'<td>{_e(c.get("family_label", ""))}</td>'
            f'<td class="verdict {cls}">{_e(c["verdict"])}{reason}</td>'
            f'<td><ul class=checks>{gates}{checks}</ul><span class=small>{figs}</span></td>'
            f'<td class=rule>{_e(c["rule"].replace(TALLY_RULE, "").strip())}</td></tr>')
    found = "".join(f"<li>{_e(f)}</li>" for f in findings(claims))
    found = f"<p><b>Findings</b></p><ul>{found}</ul>" if found else ""
    return (f"<p>Each verdict is computed from the data by the rule beside it. {_e(TALLY_RULE)} "
            "Each claim is judged separately for the authors' cells (Keras 0.1's LSTM and GRU, "
            "what produced the paper's numbers) and for today's cells (Keras 3's).</p>"
            f"{found}<table><tr><th></th><th>claim</th><th>cells</th><th>verdict</th>"
            "<th>measured (gates first; ✔ passed, ✘ failed, ? undecided)</th>"
            "<th>rule (checks)</th></tr>" + "".join(rows) + "</table>")


def _baselines_section(baselines: Mapping | None) -> str:
    if not baselines:
        return ("<p>No <code>baselines.json</code>: the loss-based claims are not gated on "
                "what a trivial predictor gets.</p>")
    rows = "".join(
        f"<tr><td>{_e(corpus)}</td><td>{split}</td>" + "".join(
            f"<td>{_e(fmt(((baselines[corpus] or {}).get(split) or {}).get(k)))}</td>"
            for k in ("mean", "persistence", "linear")) + "</tr>"
        for corpus in sorted(baselines) for split in ("train", "dev"))
    return ("<p>What trivial predictors get on exactly the blocks the models' losses use "
            "(normalised MSE): the training mean, persistence (the next block equals this one) "
            "and the best per-feature linear persistence. A loss near these means the model "
            "learned nothing; the figures draw the mean predictor's level.</p><table><tr>"
            "<th>corpus</th><th>split</th><th>mean predictor</th><th>persistence</th>"
            f"<th>linear persistence</th></tr>{rows}</table>")


def _about_section(out: Path, repro: Mapping | None) -> str:
    if not repro:
        return ("<p>No <code>reproduction.json</code>: the scripts were run one by one, not "
                "through <code>experiments/reproduce.py</code>.</p>")
    host = repro.get("host") or {}
    stages = repro.get("stages") or []
    stage_rows = "".join(
        f"<tr><td>{_e(s.get('name'))}</td><td>{_e(s.get('status'))}</td>"
        f"<td>{_e(fmt(s.get('seconds'), '.0f'))} s</td>"
        f"<td>{_e(fmt(s.get('done_seconds'), '.0f'))}</td>"
        f"<td>{_e(fmt(_mib(s.get('peak_rss_bytes')), '.0f'))}</td>"
        f"<td>{_e(fmt(_mib(s.get('peak_device_bytes')), '.0f'))}</td></tr>" for s in stages)
    total = repro.get("total_seconds")
    parts = [
        "<table>",
        f"<tr><th>profile</th><td>{_e(repro.get('profile'))} "
        f"<span class=small>({_e(repro.get('profile_reason', ''))})</span></td></tr>",
        (f"<tr><th>dry run</th><td><b>{_e(DRY_RUN_BANNER)}</b>: "
         f"<code>{_e(describe_dry_run(repro.get(DRY_RUN)))}</code></td></tr>"
         if repro.get(DRY_RUN) else ""),
        f"<tr><th>started / finished</th><td>{_e(repro.get('started'))} / "
        f"{_e(repro.get('finished'))}</td></tr>",
        f"<tr><th>total time</th><td>{_e(fmt(total, '.0f'))} s "
        f"({_e(fmt(None if total is None else total / 60, '.1f'))} min)</td></tr>",
        f"<tr><th>machine</th><td>{_e(host.get('platform'))}; {_e(host.get('cpu_count'))} CPU "
        f"cores; {_e(host.get('processor', ''))}</td></tr>",
        f"<tr><th>Keras backend</th><td>{_e(host.get('backend'))} "
        f"{_e(host.get('backend_version', ''))}; devices: "
        f"{_e(', '.join(host.get('devices') or []))}</td></tr>",
        "</table>",
    ]
    if stage_rows:
        parts.append("<table><tr><th>stage</th><th>status</th><th>time (this run)</th>"
                     "<th>time when it was done (s)</th><th>peak memory (MiB, this run)</th>"
                     "<th>peak device memory (MiB)</th></tr>"
                     + stage_rows + "</table>")
    settings = repro.get("settings_toml")
    if settings:
        parts.append(f"<details><summary>Profile settings ({_e(repro.get('config', ''))})"
                     f"</summary><pre>{_e(settings)}</pre></details>")
    return "".join(parts)


def _mib(nbytes) -> float | None:
    return None if nbytes is None else nbytes / 2**20


def _data_links(out: Path) -> str:
    names = [CLAIMS_MD, CLAIMS_JSON, REPRODUCTION_JSON, f"{SAMPLES_DIR}/{SAMPLES_JSON}"]
    fig = out / FIGURES_DIR
    if fig.is_dir():
        names += sorted(f"{FIGURES_DIR}/{p.name}" for p in fig.iterdir()
                        if p.suffix in (".csv", ".json", ".svg", ".npz") and
                        not p.name.startswith("."))
    items = "".join(f"<li>{_rel_link(out, n)}</li>" for n in names if (out / n).exists())
    return f"<ul>{items}</ul>"


def _by_family(claims: Sequence[Mapping]) -> list[tuple[str, list]]:
    labels = list(dict.fromkeys(c.get("family_label", "claims") for c in claims))
    return [(label, [c for c in claims if c.get("family_label", "claims") == label])
            for label in labels]


def render_page(out_dir, claims: Sequence[Mapping], data: Mapping) -> str:
    """The self-contained HTML page of a results folder.

    Relative links only (figures as ``figures/*.png``, audio as ``samples/*.wav``), no script,
    no network.

    Parameters
    ----------
    out_dir : str or os.PathLike
        The results folder (links are checked against it; missing files are shown as such).
    claims : sequence of dict
        From :func:`compute_claims`.
    data : mapping
        From :func:`collect`.

    Returns
    -------
    str
        The HTML text.
    """
    out = Path(out_dir)
    repro = data.get("reproduction") or {}
    profile = repro.get("profile") or out.name
    figures = []
    for stem, caption in _figure_entries(out):
        base = f"{FIGURES_DIR}/{stem}"
        extras = " · ".join(_rel_link(out, f"{base}.{ext}", ext.upper())
                            for ext in ("svg", "csv", "json") if (out / f"{base}.{ext}").exists())
        figures.append(f'<figure id="{_e(stem)}"><img src="{_e(base)}.png" alt="{_e(caption)}">'
                       f"<figcaption>{_e(caption)} <span class=small>[{extras}]</span>"
                       f"</figcaption></figure>")
    summary = "; ".join(
        f"{label}: " + ", ".join(f"{sum(c['verdict'] == v for c in mine)} {v}" for v in VERDICTS)
        for label, mine in _by_family(claims))
    now = _dt.datetime.now().astimezone().isoformat(timespec="seconds")
    dry_run = data.get(DRY_RUN)
    banner = (f'<p class="dry-run" id="dry-run">{_e(DRY_RUN_BANNER)}</p>'
              f"<p><b>These results were made with <code>{_e(describe_dry_run(dry_run))}</code>"
              "</b>: the runs were capped to prove that the profile starts, checkpoints, "
              "generates and reports. Every claim is inconclusive; nothing here says anything "
              "about the paper.</p>" if dry_run else "")
    title = f"{DRY_RUN_BANNER.upper()} — " if dry_run else ""
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{_e(title)}gruvsynth reproduction of GRUV — profile {_e(profile)}</title>
<style>{_CSS}</style></head>
<body>
{banner}
<h1>Reproducing GRUV (Nayebi &amp; Vitelli, 2015) — profile <code>{_e(profile)}</code></h1>
<p>LSTM vs GRU networks that generate music from raw audio (FFT blocks of 0.25 s), on two
stand-in corpora: <b>wesnoth</b> (orchestral, recorded; for the paper's David Bowie set) and
<b>warzone2100</b> (electronic; for Madeon). Claims: {_e(summary)}.
<span class=small>Page written {_e(now)} by <code>gruvsynth report</code>.</span></p>
<p><a href="#claims">Claims</a> · <a href="#figures">Figures</a> · <a href="#samples">Audio
samples</a> · <a href="#about">Run</a> · <a href="#data">Data files</a></p>
<h2 id="claims">Claims</h2>
{_claims_section(out, claims)}
<h3 id="baselines">Trivial-predictor baselines</h3>
{_baselines_section(data.get("baselines"))}
<h2 id="figures">Figures</h2>
{"".join(figures) or "<p>No figures yet.</p>"}
<h2 id="samples">Audio samples</h2>
{_samples_section(out, data.get("samples"))}
<h2 id="about">The run</h2>
{_about_section(out, repro)}
<h2 id="data">Data files</h2>
{_data_links(out)}
</body></html>
"""
