"""The paper's seven claims, each judged by a written rule on the measured data.

Each claim is data (its words and the paper's, :data:`CLAIMS`; the constants of its rule) and
a small function, ``verdict_c1`` … ``verdict_c7``, that measures what the claim is about and
adds its checks to a :class:`~gruvsynth.reproduction.rules.Judgement` through the comparisons
of :mod:`gruvsynth.reproduction.rules` (beyond the seeds' spread, a margin, a threshold).
:data:`RULES` is the table of the seven rules over :func:`~gruvsynth.reproduction.results.collect`'s
data; :func:`compute_claims` judges every claim for each family of cells that was run.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np

from gruvsynth import defaults
from gruvsynth.defaults import FAMILY_LABELS
from gruvsynth.reproduction.measures import (
    OVERFIT_RISE,
    SMOOTH_FRACTION,
    finals,
    finite_values,
    learned,
    log_odds,
    mean_of,
    overfit_epoch,
    relative_to_mean_predictor,
    replicates,
    separated,
    spearman,
)
from gruvsynth.reproduction.results import (
    DEPTH,
    DRY_RUN,
    DRY_RUN_BANNER,
    ELECTRONIC_CORPUS,
    FIG1,
    FIG2,
    FIG3,
    FIGURES_DIR,
    GENERATED_AUDIO,
    GENERATION_LENGTH,
    GRU,
    LSTM,
    VARIED_CORPUS,
    describe_dry_run,
    families_in,
    family_data,
)
from gruvsynth.reproduction.rules import (
    ABOVE,
    BELOW,
    INCONCLUSIVE,
    ClaimText,
    Judgement,
    all_beyond,
    any_of,
    beyond_spread,
    bigger,
    epochs_text,
    fmt,
    gate_check,
    none_fails,
    on_side,
    range_text,
)

__all__ = [
    "CLAIM_IDS",
    "CLAIMS",
    "SLIGHT_MAX",
    "BAND_MARGIN",
    "LOOP_FREE_TIMES",
    "LOOP_RARE",
    "LOOP_COMMON",
    "LOOP_CELLS",
    "DEPTH_MARGIN",
    "verdict_c1",
    "verdict_c2",
    "verdict_c3",
    "verdict_c4",
    "verdict_c5",
    "verdict_c6",
    "verdict_c7",
    "RULES",
    "compute_claims",
    "findings",
]

CLAIM_IDS = ("C1", "C2", "C3", "C4", "C5", "C6", "C7")

# Constants of the verdict rules (the rule texts below are built from them).
#: C1: "slightly" lower: LSTM's loss at most this share below GRU's.
SLIGHT_MAX = 0.5
#: C5: the GRU's and the LSTM's out-of-band odds (energy outside the band over energy inside)
#: are compared as a log ratio; with a single seed, a log ratio within this (a 20 % change of
#: the odds) is a tie.  With replicates the seeds' spread decides.
BAND_MARGIN = round(math.log(1.2), 3)
#: C6: the length up to which the paper's generations stayed loop-free (× the seed).
LOOP_FREE_TIMES = 3.0
#: C6: share of looped samples that counts as "rare" / "common".
LOOP_RARE = 0.25
LOOP_COMMON = 0.5
#: C6: the cell whose generations the paper describes (its GRU produced noise).
LOOP_CELLS = (LSTM,)
#: C7: relative difference in final training loss that counts as harder / easier to train.
DEPTH_MARGIN = 0.02

#: What each claim says, the paper's words, its figures and the check shown without data.
TEXTS = {
    "C1": ClaimText(
        "The LSTM has slightly lower training and dev loss than the GRU (per corpus).",
        "The LSTM network consistently exhibited slightly lower training and validation "
        "loss than the GRU.",
        [f"{FIGURES_DIR}/{FIG1}.png"], "Figure 1 runs"),
    "C2": ClaimText(
        "The varied, recorded corpus (wesnoth, for David Bowie) has a higher dev loss and "
        "overfits sooner than the electronic one (warzone2100, for Madeon).",
        "the David Bowie dataset exhibits a considerably higher dev loss compared to the "
        "Madeon dataset and appears to overfit far sooner as well.",
        [f"{FIGURES_DIR}/{FIG1}.png"], "Figure 1 runs"),
    "C3": ClaimText(
        "A larger hidden size gives a lower dev loss; the largest (2048 in the paper) is "
        "best.",
        "for both the GRU and LSTM, the dev set error is smaller for a larger number of "
        "hidden dimensions ... 2048 ... seemed to produce the best results",
        [f"{FIGURES_DIR}/{FIG2}.png"], "Figure 2 runs"),
    "C4": ClaimText(
        "GRU generations are noise-like and LSTM generations are not.",
        "The generated outputs of the GRU were unsatisfactory and primarily consisted of "
        "white noise. ... the generated output of the LSTM network was musically "
        "plausible.",
        [f"{FIGURES_DIR}/{GENERATED_AUDIO}.png"], "generated samples"),
    "C5": ClaimText(
        "GRU predictions put more energy outside the 4–7 kHz band than LSTM predictions.",
        "the GRU network appears to have far greater activations outside of the band "
        "range of 4000 - 7000",
        [f"{FIGURES_DIR}/{FIG3}_{VARIED_CORPUS}.png",
         f"{FIGURES_DIR}/{FIG3}_{ELECTRONIC_CORPUS}.png"], "Figure 3 data"),
    "C6": ClaimText(
        "Generations up to about 3× the seed length stay loop-free; longer ones fall into "
        "loops.",
        "generating a sequence that is roughly three times larger than the initial seed "
        "sequence tends to produce coherent music that does not result in generation "
        "loops ... longer sequences eventually result in these self-perpetuating "
        "generation loops",
        [f"{FIGURES_DIR}/{GENERATION_LENGTH}.png"], "generation-length data"),
    "C7": ClaimText(
        "More recurrent layers make the network harder to train.",
        "adding more recurrent layers made our network much more difficult to train and "
        "the weights ... were often more likely to become stuck in a local minima early",
        [f"{FIGURES_DIR}/{DEPTH}.png"], "depth runs"),
}
#: The same as plain dicts (``claim``, ``paper``, ``figures``), as before.
CLAIMS = {cid: {"claim": t.claim, "paper": t.paper, "figures": list(t.figures)}
          for cid, t in TEXTS.items()}


def _judgement(cid: str, rule: str, *, gates: bool = False) -> Judgement:
    return Judgement(cid, TEXTS[cid], rule, gates=gates)


# --------------------------------------------------------------------------------------------
# C1, C2: GRU vs LSTM, varied vs electronic corpus (Figure 1's runs)
# --------------------------------------------------------------------------------------------


def verdict_c1(histories: Mapping[str, Mapping[str, Sequence[Mapping]]], *,
               slight: float = SLIGHT_MAX, baselines: Mapping | None = None) -> dict:
    """C1: the LSTM has slightly lower training and dev loss than the GRU, per corpus.

    Parameters
    ----------
    histories : mapping
        ``{corpus: {"lstm": history, "gru": history}}``, each history a list of
        ``{"epoch", "loss", "dev_loss"}`` (Figure 1's runs).
    slight : float
        Largest relative gap ``(GRU - LSTM) / GRU`` that is still "slightly".
    baselines : mapping, optional
        ``{corpus: {"train": {"mean", "persistence", "linear"}, "dev": {...}}}``: with them, a
        corpus's checks are judged only when both models learned (:data:`GATE_RULE`).

    Returns
    -------
    dict
        The claim row: ``id``, ``claim``, ``paper``, ``rule``, ``verdict``, ``checks``,
        ``measured``, ``figures``; with ``baselines`` also ``gates`` (one check per corpus)
        and, when no model learned, ``reason``.
    """
    rule = (f"For each corpus and for the training and the dev loss (each the mean of the last "
            f"{SMOOTH_FRACTION:.0%} of epochs), a check passes when the LSTM's loss is below the "
            f"GRU's beyond the seeds' spread and by at most {slight:.0%} of the GRU's (mean over "
            f"seeds: \"slightly\"), and fails when it is above beyond the spread; overlapping "
            f"ranges, or a gap larger than {slight:.0%}, are undecided.")
    j = _judgement("C1", rule, gates=baselines is not None)
    for corpus in sorted(histories):
        cells = histories[corpus]
        gate = None
        if baselines is not None:
            gate = j.gate(gate_check(corpus, {"LSTM": cells.get(LSTM, []),
                                              "GRU": cells.get(GRU, [])}, baselines))
        for key, name in (("loss", "training"), ("dev_loss", "dev")):
            lstm_v = finals(cells.get(LSTM, []), key)
            gru_v = finals(cells.get(GRU, []), key)
            lstm, gru = mean_of(lstm_v), mean_of(gru_v)
            j.measured[f"{corpus} {name} loss LSTM"] = lstm
            j.measured[f"{corpus} {name} loss GRU"] = gru
            if len(lstm_v) > 1 or len(gru_v) > 1:
                j.measured[f"{corpus} {name} loss LSTM seeds"] = lstm_v
                j.measured[f"{corpus} {name} loss GRU seeds"] = gru_v
            order = separated(lstm_v, gru_v)
            gap = (gru - lstm) / gru if lstm is not None and gru else None
            passed = beyond_spread(order, BELOW, passes=not (gap is not None and gap > slight))
            spread = "" if order else " — within the seeds' spread" if lstm_v and gru_v else ""
            j.check(f"{corpus}: {name} loss LSTM {range_text(lstm_v)} < GRU "
                    f"{range_text(gru_v)} (gap {fmt(gap, '.1%')}){spread}", passed, gate)
    return j.row()


def _c2_rule(varied: str, electronic: str, relative: bool) -> str:
    scale = ("relative to the corpus's own mean-predictor dev loss (the corpora are "
             "normalised by different statistics, so raw losses are not comparable)"
             if relative else "(raw: no baselines, so the two corpora's scales may differ)")
    return (f"For each cell: check 1 passes when {varied}'s final dev loss (mean of the last "
            f"{SMOOTH_FRACTION:.0%} of epochs), {scale}, is above {electronic}'s, and fails "
            "otherwise; "
            f"check 2 passes when {varied} starts to overfit at an earlier epoch (the epoch of "
            f"its lowest dev loss, counted only if the final dev loss ends more than "
            f"{OVERFIT_RISE:.0%} above that lowest value) than {electronic}, fails when "
            f"{electronic} overfits first or only {electronic} overfits, and is undecided when "
            f"neither overfits.")


def _overfits_sooner(hv: list, he: list, ovs: list, oes: list) -> bool | None:
    """C2's second check: the varied corpus's runs start to overfit before the electronic's."""
    if not hv or not he or all(o is None for o in ovs + oes):
        return None
    never = float("inf")  # a run that never overfits counts as overfitting after its last epoch
    return beyond_spread(separated([never if o is None else o for o in ovs],
                                   [never if o is None else o for o in oes]), BELOW)


def verdict_c2(histories: Mapping[str, Mapping[str, Sequence[Mapping]]], *,
               varied: str = VARIED_CORPUS, electronic: str = ELECTRONIC_CORPUS,
               baselines: Mapping | None = None) -> dict:
    """C2: the varied corpus has the higher dev loss and overfits sooner, for each cell.

    Parameters
    ----------
    histories : mapping
        ``{corpus: {cell: history}}`` (Figure 1's runs).
    varied, electronic : str
        The corpus names standing in for David Bowie and Madeon.
    baselines : mapping, optional
        As for :func:`verdict_c1`.  With them the dev losses are compared relative to each
        corpus's own mean-predictor dev loss (the corpora are normalised by different
        statistics, so their raw losses are not comparable), and a cell's checks are judged
        only when its models learned on both corpora.

    Returns
    -------
    dict
        The claim row (see :func:`verdict_c1`).
    """
    relative = baselines is not None
    j = _judgement("C2", _c2_rule(varied, electronic, relative), gates=relative)
    cells = sorted(set(histories.get(varied, {})) | set(histories.get(electronic, {})))
    for cell in cells:
        hv = replicates(histories.get(varied, {}).get(cell, []))
        he = replicates(histories.get(electronic, {}).get(cell, []))
        dv, de = finals(hv, "dev_loss"), finals(he, "dev_loss")
        ovs, oes = [overfit_epoch(h) for h in hv], [overfit_epoch(h) for h in he]
        j.measured[f"{cell} final dev loss {varied}"] = mean_of(dv)
        j.measured[f"{cell} final dev loss {electronic}"] = mean_of(de)
        j.measured[f"{cell} overfit epoch {varied}"] = ovs[0] if len(ovs) == 1 else ovs
        j.measured[f"{cell} overfit epoch {electronic}"] = oes[0] if len(oes) == 1 else oes
        gate, what = None, "dev loss"
        if relative:
            gate_v = gate_check(varied, {cell.upper(): hv}, baselines)
            gate_e = gate_check(electronic, {cell.upper(): he}, baselines)
            both = [gate_v["passed"], gate_e["passed"]]
            gate = j.gate({"check": f"{cell}: {gate_v['check']}; {gate_e['check']}",
                           "passed": none_fails(both)})
            dv = finite_values([relative_to_mean_predictor(v, baselines, varied) for v in dv])
            de = finite_values([relative_to_mean_predictor(v, baselines, electronic)
                                for v in de])
            j.measured[f"{cell} final dev loss / mean predictor {varied}"] = mean_of(dv)
            j.measured[f"{cell} final dev loss / mean predictor {electronic}"] = mean_of(de)
            what = "dev loss / mean predictor's"
        j.check(f"{cell}: {what} {varied} {range_text(dv)} > {electronic} {range_text(de)}",
                beyond_spread(separated(dv, de), ABOVE), gate)
        j.check(f"{cell}: overfits from epoch {varied} {epochs_text(ovs)} before {electronic} "
                f"{epochs_text(oes)} (n/a: no overfitting)",
                _overfits_sooner(hv, he, ovs, oes), gate)
    return j.row()


# --------------------------------------------------------------------------------------------
# C3: hidden size (Figure 2's runs)
# --------------------------------------------------------------------------------------------


def _c3_gate(name: str, train_series: Mapping, baselines: Mapping) -> dict:
    """A C3 series' gate: passes when at least one of its sizes learned."""
    corpus = name.split(" ")[0]
    runs = {f"hidden {h}": hist for h, hist in sorted((train_series.get(name) or {}).items())}
    gate = gate_check(corpus, runs, baselines)
    train = (baselines.get(corpus) or {}).get("train")
    skills = [all(learned(h, train)[0] for h in replicates(hist)) if replicates(hist) else None
              for hist in runs.values()]
    gate["passed"] = any_of(skills)
    gate["check"] = f"{name}: " + gate["check"].split(": ", 1)[1]
    return gate


def verdict_c3(series: Mapping[str, Mapping[int, float]], *, min_sizes: int = 3,
               train_series: Mapping[str, Mapping[int, Sequence[Mapping]]] | None = None,
               baselines: Mapping | None = None) -> dict:
    """C3: a larger hidden size gives a lower dev loss, and the largest size is best.

    Parameters
    ----------
    series : mapping
        ``{"<corpus> <cell>": {hidden: final dev loss or list of them, one per seed}}``
        (Figure 2's runs).
    min_sizes : int
        Fewest hidden sizes a series needs to be judged.
    train_series : mapping, optional
        ``{"<corpus> <cell>": {hidden: history}}``, for the gate (with ``baselines``): a series
        is judged only when at least one of its sizes learned.
    baselines : mapping, optional
        As for :func:`verdict_c1`.

    Returns
    -------
    dict
        The claim row (see :func:`verdict_c1`).
    """
    rule = (f"For each corpus and cell with at least {min_sizes} hidden sizes (final dev loss: "
            f"mean of the last {SMOOTH_FRACTION:.0%} of epochs, averaged over seeds): check 1 "
            f"passes when the Spearman rank correlation between hidden size and dev loss is "
            f"negative and the largest size's range lies below the smallest's, fails when the "
            f"correlation is positive and the largest size's range lies above the smallest's; "
            f"check 2 passes when the largest size's range lies below every other size's, fails "
            f"when another size's range lies below the largest's; undecided otherwise.")
    is_gated = baselines is not None and train_series is not None
    if is_gated:
        rule += " A series' gate passes when at least one of its sizes learned."
    j = _judgement("C3", rule, gates=is_gated)
    for name in sorted(series):
        gate = j.gate(_c3_gate(name, train_series, baselines)) if is_gated else None
        seeds = {int(h): finite_values(v) for h, v in series[name].items()}
        seeds = {h: v for h, v in seeds.items() if v}
        sizes = sorted(seeds)
        losses = [float(np.mean(seeds[h])) for h in sizes]
        j.measured[f"{name} dev loss by hidden size"] = {
            str(h): m for h, m in zip(sizes, losses, strict=True)}
        if any(len(v) > 1 for v in seeds.values()):
            j.measured[f"{name} dev loss by hidden size, seeds"] = {
                str(h): seeds[h] for h in sizes}
        if len(sizes) < min_sizes:
            j.check(f"{name}: only {len(sizes)} hidden size(s)", None)
            continue
        rho = spearman(sizes, losses)
        j.measured[f"{name} spearman"] = rho
        largest, smallest = seeds[sizes[-1]], seeds[sizes[0]]
        j.check(f"{name}: rank correlation of size and dev loss {fmt(rho, '.2f')} < 0, largest "
                f"size {range_text(largest)} vs smallest {range_text(smallest)}",
                beyond_spread(separated(largest, smallest), BELOW,
                              passes=rho is not None and rho < 0,
                              fails=rho is not None and rho > 0), gate)
        best = sizes[int(np.argmin(losses))]
        j.check(f"{name}: lowest dev loss at the largest size {sizes[-1]} (lowest mean at "
                f"{best})",
                all_beyond([separated(largest, seeds[h]) for h in sizes[:-1]], BELOW), gate)
    return j.row()


# --------------------------------------------------------------------------------------------
# C4: noise-like generations (the samples)
# --------------------------------------------------------------------------------------------


def _noise_share(m: Mapping) -> tuple[float | None, int]:
    """Share of a cell's judged samples that are noise-like, and how many were judged."""
    per_sample = m.get("noise_like_samples")
    if per_sample is not None:
        judged = [bool(v) for v in per_sample if v is not None]
        return (sum(judged) / len(judged) if judged else None), len(judged)
    share = m.get("noise_like")
    if isinstance(share, bool):
        share = float(share)
    return (float(share) if isinstance(share, (int, float)) else None), 0


def _calibration_text(corpus: str, cal: Mapping | None) -> str:
    if not cal:
        return f"{corpus}: no calibration"
    a, m = cal.get("anchors") or {}, cal.get("margins") or {}

    def score(name):
        return fmt((a.get(name) or {}).get("score"), ".3g")

    def margin(name):
        return f"×{fmt(m.get(name), '.2g')}"

    return (f"{corpus}: dev music {score('music')}, corpus-shaped noise "
            f"{score('corpus_noise')}, white noise {score('white_noise')}, chord "
            f"{score('chord')}; threshold {fmt(cal.get('threshold'), '.3g')}; margins "
            f"{margin('music')} music, {margin('corpus_noise')} corpus-shaped noise, "
            f"{margin('white_noise')} white noise, {margin('chord')} chord"
            + ("" if cal.get("separated") else " (NOT separated: no verdict)"))


def _c4_rule(metrics: Mapping) -> str:
    from gruvsynth.noise import NOISE_RULE  # scipy: only when asked

    cals = [_calibration_text(c, (metrics[c] or {}).get("calibration")) for c in sorted(metrics)]
    return (f"{NOISE_RULE} For each corpus whose calibration separates its anchors: check 1 "
            "passes when more than half of the GRU's judged samples are noise-like and fails "
            "when fewer than half are; check 2 passes when fewer than half of the LSTM's are "
            "and fails when more than half are (undecided at exactly half, or when no sample "
            "was judged: all too quiet or too short). Check 3 passes when the GRU's "
            "generations are further than the LSTM's from the dev set's mean spectrum after "
            "matching their level to it (level-matched log-spectral distance, dB; mean over the "
            "samples), and fails otherwise. Calibration (noise distance of each anchor, median "
            "over 10 s clips; margin: the factor by which the anchor lies on its side of the "
            "threshold): " + ("; ".join(cals) if cals else "none") + ".")


def _c4_calibration(j: Judgement, corpus: str, cal: Mapping) -> str:
    """Record a corpus's calibration; why its shares are not judged ("" when they are)."""
    anchors = cal.get("anchors") or {}
    for name, label in (("music", "dev music"), ("corpus_noise", "corpus-shaped noise"),
                        ("white_noise", "white noise"), ("chord", "chord")):
        j.measured[f"{corpus} noise distance {label}"] = (anchors.get(name) or {}).get("score")
    j.measured[f"{corpus} noise-like threshold"] = cal.get("threshold")
    for name, value in (cal.get("margins") or {}).items():
        j.measured[f"{corpus} margin {name}"] = value
    calibrated = bool(cal.get("separated")) and cal.get("threshold") is not None
    return ("no calibration" if not cal else
            "the calibration did not separate its anchors" if not calibrated else "")


def verdict_c4(metrics: Mapping[str, Mapping[str, Mapping]]) -> dict:
    """C4: the GRU's generations are noise-like, the LSTM's are not (calibrated per corpus).

    Parameters
    ----------
    metrics : mapping
        ``{corpus: {"calibration": {...}, "lstm": {...}, "gru": {...}}}``: ``calibration``
        from :func:`gruvsynth.noise.calibrate` on the corpus (``anchors``, ``threshold``,
        ``margins``, ``separated``); each cell's dict holds ``noise_like_samples`` (each
        generated sample's verdict: True, False or None for too quiet / too short) — or,
        without it, ``noise_like``, the share of noise-like samples — and
        ``shape_distance_db`` (the level-matched log-spectral distance to the dev set's mean
        spectrum, mean over the samples); all measured on the blocks after the seed.

    Returns
    -------
    dict
        The claim row (see :func:`verdict_c1`).
    """
    j = _judgement("C4", _c4_rule(metrics))
    for corpus in sorted(metrics):
        m = metrics[corpus] or {}
        why = _c4_calibration(j, corpus, m.get("calibration") or {})
        for cell, label, want in ((GRU, "GRU", ABOVE), (LSTM, "LSTM", BELOW)):
            mine = m.get(cell) or {}
            share, judged = _noise_share(mine)
            j.measured[f"{corpus} noise-like share {label}"] = share
            dev_seeded = [v for v in mine.get("noise_like_samples_dev") or [] if v is not None]
            if dev_seeded:
                j.measured[f"{corpus} noise-like share {label}, dev seeds (reported, not "
                           "judged)"] = sum(dev_seeded) / len(dev_seeded)
            j.measured[f"{corpus} noise distance {label}"] = mine.get("noise_distance")
            text = (f"{corpus}: {fmt(share, '.0%')} of the {label}'s "
                    + (f"{judged} judged " if judged else "") + "samples noise-like "
                    + ("(want more than half)" if want == ABOVE else "(want fewer than half)"))
            j.check(text + (f" — not judged: {why}" if why else ""),
                    None if why else on_side(share, want, passes_at=0.5, fails_at=0.5,
                                             strict=True))
        lsd_gru = (m.get(GRU) or {}).get("shape_distance_db")
        lsd_lstm = (m.get(LSTM) or {}).get("shape_distance_db")
        j.measured[f"{corpus} level-matched spectral distance LSTM (dB)"] = lsd_lstm
        j.measured[f"{corpus} level-matched spectral distance GRU (dB)"] = lsd_gru
        j.check(f"{corpus}: level-matched spectral distance GRU {fmt(lsd_gru, '.2f')} dB > "
                f"LSTM {fmt(lsd_lstm, '.2f')} dB", bigger(lsd_gru, lsd_lstm))
    return j.row()


# --------------------------------------------------------------------------------------------
# C5: energy outside the band (Figure 3's data)
# --------------------------------------------------------------------------------------------


def verdict_c5(shares: Mapping[str, Mapping[str, float]], *, margin: float = BAND_MARGIN,
               band: Sequence[float] = defaults.BAND) -> dict:
    """C5: the GRU's predictions put more energy outside the 4–7 kHz band than the LSTM's.

    The shares outside the band are all close to 1 (real dev audio has 0.2–2.3 % of its energy
    in 4–7 kHz), so they are compared on the scale of the odds, out-of-band over in-band
    energy, as a log ratio: ``log(odds_GRU / odds_LSTM)``.

    Parameters
    ----------
    shares : mapping
        ``{corpus: {"truth": share, "lstm": share or list, "gru": share or list}}``: the share
        of the energy of the mean predicted (or true) dev spectrum that lies outside the band
        (Figure 3's data), one per seed in a list for replicates.
    margin : float
        Log ratios within ``±margin`` are ties (with replicates the ranges must not overlap
        too).
    band : (float, float)
        The band in Hz (for the rule text).

    Returns
    -------
    dict
        The claim row (see :func:`verdict_c1`).
    """
    lo, hi = (b / 1000 for b in band)
    rule = (f"The paper's \"4000 - 7000\" has no unit; it is read as Hz ({lo:g}–{hi:g} kHz), "
            "the frequencies its Figure 3 spectrograms show and the only reading that fits "
            "inside the 0–22.05 kHz a 44.1 kHz block holds (as FFT bin numbers it would be "
            "16–28 kHz). For each corpus, from the mean spectrum of the predictions for every "
            "dev block (Figure 3), each model's odds are its energy outside the band over its "
            "energy inside; the check passes when the GRU's log odds exceed the LSTM's beyond "
            f"the seeds' spread and by more than {margin:g} (odds {math.exp(margin):.2f}× the "
            "LSTM's), fails when they are lower in the same way, and is undecided otherwise.")
    j = _judgement("C5", rule)
    for corpus in sorted(shares):
        s = shares[corpus]
        gru_s, lstm_s = finite_values(s.get(GRU)), finite_values(s.get(LSTM))
        gru_l = [log_odds(v) for v in gru_s]
        lstm_l = [log_odds(v) for v in lstm_s]
        j.measured[f"{corpus} outside-band share truth"] = s.get("truth")
        j.measured[f"{corpus} outside-band share LSTM"] = mean_of(lstm_s)
        j.measured[f"{corpus} outside-band share GRU"] = mean_of(gru_s)
        ratio = None
        if gru_l and lstm_l and all(math.isfinite(v) for v in gru_l + lstm_l):
            ratio = float(np.mean(gru_l) - np.mean(lstm_l))
        j.measured[f"{corpus} log odds ratio GRU / LSTM"] = ratio
        known = ratio is not None
        j.check(f"{corpus}: outside-band odds GRU/LSTM, log ratio {fmt(ratio, '.3f')} > "
                f"{margin:g} (shares GRU {range_text(gru_s, '.4f')}, LSTM "
                f"{range_text(lstm_s, '.4f')})",
                beyond_spread(separated(gru_l, lstm_l) if known else None, ABOVE,
                              passes=known and ratio > margin,
                              fails=known and ratio < -margin))
    return j.row()


# --------------------------------------------------------------------------------------------
# C6: loops against generation length
# --------------------------------------------------------------------------------------------


def verdict_c6(rows: Sequence[Mapping], *, cells: Sequence[str] = LOOP_CELLS,
               loop_free_times: float = LOOP_FREE_TIMES, rare: float = LOOP_RARE,
               common: float = LOOP_COMMON) -> dict:
    """C6: generations up to about 3× the seed are loop-free; longer ones loop.

    Parameters
    ----------
    rows : sequence of dict
        One per generated sample and length: ``corpus``, ``cell``, ``seed_blocks``,
        ``sample``, ``times`` (length as a multiple of the seed) and ``looped`` (bool: the
        sequence cut at that length ends in a loop, :func:`gruvsynth.evaluation.detect_loop`);
        ``protocol`` where the seeds came from (``"train"``, the authors' protocol, when
        missing).  Only training-seeded rows are judged; dev-seeded ones are reported in
        ``measured`` beside them.
    cells : sequence of str
        The cells judged (default the LSTM, whose generations the paper describes).
    loop_free_times : float
        The length the paper found loop-free (3).
    rare, common : float
        Shares of looped samples that count as rare and common.

    Returns
    -------
    dict
        The claim row (see :func:`verdict_c1`).
    """
    rule = (f"For each corpus, over the {', '.join(c.upper() for c in cells)} samples of every "
            f"seed size: check 1 (short) takes the longest tested length up to "
            f"{loop_free_times:g}× the seed and passes when at most {rare:.0%} of the samples "
            f"cut there end in a loop, fails when at least {common:.0%} do; check 2 (long) takes "
            f"the longest tested length and passes when it is above {loop_free_times:g}× and at "
            f"least {common:.0%} of the samples loop, fails when at most {rare:.0%} do; "
            f"undecided in between. Judged on samples seeded from training windows (the "
            f"authors' protocol); those seeded from dev windows are reported, not judged.")
    j = _judgement("C6", rule)
    use = [r for r in rows if r.get("cell") in cells and r.get("looped") is not None]
    dev = [r for r in use if r.get("protocol") == "dev"]
    use = [r for r in use if r.get("protocol", "train") == "train"]

    def looped_at(rows_: Sequence[Mapping], corpus: str, t: float) -> list[bool]:
        return [bool(r["looped"]) for r in rows_
                if r["corpus"] == corpus and abs(float(r["times"]) - t) < 1e-9]

    for corpus in sorted({r["corpus"] for r in use}):
        lengths = sorted({float(r["times"]) for r in use if r["corpus"] == corpus})
        short = [t for t in lengths if t <= loop_free_times + 1e-9]
        for label, t, want in (("short", short[-1] if short else None, BELOW),
                               ("long", lengths[-1] if lengths else None, ABOVE)):
            if t is None or (want == ABOVE and t <= loop_free_times + 1e-9):
                j.check(f"{corpus}: no tested length for the {label} check", None)
                continue
            at = looped_at(use, corpus, t)
            share = float(np.mean(at)) if at else None
            j.measured[f"{corpus} looped share at {t:g}x"] = share
            beside = looped_at(dev, corpus, t)
            if beside:
                j.measured[f"{corpus} looped share at {t:g}x, dev seeds (reported, not "
                           "judged)"] = float(np.mean(beside))
            limits = (common, rare) if want == ABOVE else (rare, common)
            j.check(f"{corpus}: {fmt(share, '.0%')} of {len(at)} samples loop at {t:g}× the "
                    f"seed ({label})",
                    on_side(share, want, passes_at=limits[0], fails_at=limits[1]))
    return j.row()


# --------------------------------------------------------------------------------------------
# C7: depth
# --------------------------------------------------------------------------------------------


def verdict_c7(histories: Mapping[str, Mapping[int, Sequence[Mapping]]], *,
               margin: float = DEPTH_MARGIN, baselines: Mapping | None = None) -> dict:
    """C7: more recurrent layers are harder to train (higher final training loss).

    Parameters
    ----------
    histories : mapping
        ``{"<corpus> <cell>": {layers: history}}`` (the depth experiment's runs).
    margin : float
        Relative difference of the final training loss that counts.
    baselines : mapping, optional
        As for :func:`verdict_c1`: a series is judged only when its one-layer network learned
        (a deeper one that did not learn is what the claim predicts).

    Returns
    -------
    dict
        The claim row (see :func:`verdict_c1`).
    """
    rule = (f"For each corpus and cell, comparing the deepest network tried with one layer after "
            f"the same number of epochs (final training loss: mean of the last "
            f"{SMOOTH_FRACTION:.0%} of epochs, averaged over seeds): the check passes when the "
            f"deeper network's loss is higher by more than {margin:.0%} and beyond the seeds' "
            f"spread, fails when it is lower in the same way, and is undecided otherwise.")
    if baselines is not None:
        rule += " The gate looks at the one-layer network only."
    j = _judgement("C7", rule, gates=baselines is not None)
    for name in sorted(histories):
        by_layers = {int(k): v for k, v in histories[name].items()}
        gate = None
        if baselines is not None:
            gate = gate_check(name.split(" ")[0], {"1 layer": by_layers.get(1, [])}, baselines)
            gate["check"] = f"{name}: " + gate["check"].split(": ", 1)[1]
            j.gate(gate)
        seeds = {k: finals(h, "loss") for k, h in sorted(by_layers.items())}
        final = {k: mean_of(v) for k, v in seeds.items()}
        j.measured[f"{name} final training loss by layers"] = {str(k): v for k, v in final.items()}
        if any(len(v) > 1 for v in seeds.values()):
            j.measured[f"{name} final training loss by layers, seeds"] = {
                str(k): v for k, v in seeds.items()}
        deepest = max(by_layers) if by_layers else None
        one, deep = final.get(1), final.get(deepest) if deepest else None
        if deepest is None or deepest == 1 or one is None or deep is None:
            j.check(f"{name}: needs 1 layer and more", None)
            continue
        ratio = deep / one if one else None
        known = ratio is not None
        j.check(f"{name}: training loss {deepest} layers {range_text(seeds[deepest])} vs 1 layer "
                f"{range_text(seeds[1])} (ratio {fmt(ratio, '.3f')})",
                beyond_spread(separated(seeds[deepest], seeds[1]) if known else None, ABOVE,
                              passes=known and ratio > 1 + margin,
                              fails=known and ratio < 1 - margin), gate)
    return j.row()


# --------------------------------------------------------------------------------------------
# The table of rules, and every claim of a results folder
# --------------------------------------------------------------------------------------------

#: Each claim's rule applied to one family's data (from ``collect``) and the baselines.
RULES = {
    "C1": lambda d, baselines: verdict_c1(d.get("c1") or {}, baselines=baselines),
    "C2": lambda d, baselines: verdict_c2(d.get("c2") or {}, baselines=baselines),
    "C3": lambda d, baselines: verdict_c3(d.get("c3") or {}, train_series=d.get("c3_train") or {},
                                          baselines=baselines),
    "C4": lambda d, baselines: verdict_c4(d.get("c4") or {}),
    "C5": lambda d, baselines: verdict_c5(d.get("c5") or {}, band=d.get("band") or defaults.BAND),
    "C6": lambda d, baselines: verdict_c6(d.get("c6") or []),
    "C7": lambda d, baselines: verdict_c7(d.get("c7") or {}, baselines=baselines),
}


def compute_claims(data: Mapping) -> list[dict]:
    """The claim rows from :func:`~gruvsynth.reproduction.results.collect`'s result: each of
    the seven claims judged for each cell family that was run
    (:func:`~gruvsynth.reproduction.results.families_in`), separately.

    Loss-based claims (C1, C2, C3, C7) are gated on the baselines (:data:`GATE_RULE`) when the
    data has them.  For a dry run (``data["dry_run"]``) every verdict is
    :data:`INCONCLUSIVE`, the reason says so, and ``rule_verdict`` keeps what the rule gave.

    Parameters
    ----------
    data : mapping
        From :func:`~gruvsynth.reproduction.results.collect`.

    Returns
    -------
    claims : list of dict
        In the order C1 … C7, each claim's families in :data:`FAMILY_ORDER` (see
        :func:`verdict_c1` for the keys), plus ``family`` and ``family_label``.
    """
    baselines = data.get("baselines")
    families = families_in(data)
    per_family = {f: family_data(data, f) for f in families}
    rows = [{**RULES[cid](per_family[family], baselines), "family": family,
             "family_label": FAMILY_LABELS[family]}
            for cid in CLAIM_IDS for family in families]
    dry_run = data.get(DRY_RUN)
    if dry_run:  # a capped run proves the pipeline, not the paper
        for row in rows:
            rule = row["verdict"] + (f", {row['reason']}" if row.get("reason") else "")
            row.update(rule_verdict=row["verdict"], verdict=INCONCLUSIVE,
                       reason=f"{DRY_RUN_BANNER} ({describe_dry_run(dry_run)}; the rule alone "
                              f"gives: {rule})")
    return rows


def findings(claims: Sequence[Mapping]) -> list[str]:
    """Sentences for the claims whose verdict differs between cell families.

    Parameters
    ----------
    claims : sequence of dict
        From :func:`compute_claims`.

    Returns
    -------
    list of str
    """
    out = []
    for cid in CLAIM_IDS:
        mine = [c for c in claims if c["id"] == cid]
        if len({c["verdict"] for c in mine}) < 2:
            continue
        parts = [f"{c['verdict']}" + (f" ({c['reason']})" if c.get("reason") else "")
                 + f" for {c.get('family_label', c.get('family'))}" for c in mine]
        decided = {c["verdict"] for c in mine} - {INCONCLUSIVE}
        why = ("the family of cells changes the answer" if len(decided) > 1 else
               "only one family's data decides it")
        out.append(f"{cid} is {'; '.join(parts)}: {why}.")
    return out
