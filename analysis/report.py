"""The whole analysis report: every test, tables, figures, APA sentences, HTML, JSON.

:func:`build_report` runs each analysis for each rating item, records analyses that cannot
run (with the reason and what to do) instead of stopping, and writes::

    REPORT_DIR/index.html      one self-contained page (no scripts, no CDN) linking all
    REPORT_DIR/results.json    every test's numbers, skipped analyses, warnings
    REPORT_DIR/tables/*.csv|md|tex
    REPORT_DIR/figures/*.png
"""
from __future__ import annotations

import html
import json
import math
import platform
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import pandas as pd

from analysis import apa, figures
from analysis.aligned_rank import art, art_checks, art_contrasts
from analysis.block_items import block_item_tests
from analysis.descriptives import ci_caption, describe, scale_bounds, small_n_warning
from analysis.design import AnalysisError, levels
from analysis.mixed import factorial_formula, study_model
from analysis.nonparametric import friedman, wilcoxon_pairwise
from analysis.objective import objective_correlations
from analysis.ordinal import ordered_logit, ordinal_gee
from analysis.recognition import accuracy, chance_level, confusion, gee_binomial
from analysis.reliability import declared_scales, scale_reliability
from analysis.repeated_measures import rm_anova
from analysis.tables import to_html, write_table
from analysis.tidy import is_simulated, split_responses
from vr_study.atomic import atomic_write_text

SUBJECT = "participant_id"
FACTORS = ("method", "emotion")
#: the paper's method order, used when the data has exactly these methods
PREFERRED_ORDER = ("reconstruction", "EMAGE", "TalkSHOW", "AMUSE+FaceFormer")


@dataclass
class ReportOptions:
    """What the report runs."""

    items: Sequence[str] | None = None     # rating items to analyse (default: all)
    clip_random_effect: bool = True        # add (1|clip_id) to the mixed models
    ordinal: bool = True                   # OrderedModel + OrdinalGEE
    figures: bool = True
    chance: float | None = None            # recognition chance level (default 1/options)
    adjust: str = "holm"
    simulated: bool | None = None          # None: detect from study_id
    source: str = ""
    ordinal_gee_cov: str = "independence"  # or "global_odds_ratio" (slower)
    progress: bool = False                 # tqdm progress bar over items (CLI)
    jobs: int = 1                          # worker processes for the items (fork; Linux)
    art_error: str = "strata"              # "pooled": ARTool's Error(participant) form
    calibration_sims: int = 200            # validity panel: null studies per item (0: none)
    calibration_mixed_sims: int = 10       # ... of which the mixed model is fitted to
    #: how the input file was read (kind long/wide/participant, tool whose layout, the
    #: CLI's "input: ..." line as note, item columns, renamed/ignored columns); stored in
    #: results.json meta.input and shown under Source. None: the API was given a table.
    input_layout: dict | None = None


@dataclass
class _State:
    out: Path
    skipped: list = field(default_factory=list)
    warnings: list = field(default_factory=list)
    sections: list = field(default_factory=list)   # (title, html)
    tables: dict = field(default_factory=dict)     # name -> paths

    def table(self, df: pd.DataFrame, name: str, caption: str) -> str:
        name = _safe(name)
        self.tables[name] = write_table(df, self.out / "tables", name, caption)
        links = " ".join(f'<a href="{p}">{ext}</a>' for ext, p in self.tables[name].items())
        return (f'<div class="tbl"><div class="cap">{html.escape(caption)} '
                f'<span class="links">[{links}]</span></div>{to_html(df)}</div>')

    def run(self, analysis: str, item: str | None, fn: Callable):
        """Run fn(); on AnalysisError record it as skipped and return None."""
        try:
            return fn()
        except (AnalysisError, np.linalg.LinAlgError, ValueError) as e:
            self.skipped.append({"analysis": analysis, "item": item, "reason": str(e)})
            return None


def _safe(name: str) -> str:
    """A file-name-safe version of an item or table name."""
    return re.sub(r"_+", "_", re.sub(r"[^A-Za-z0-9_.+-]", "_", str(name))).strip("._") \
        or "unnamed"


def _records(df: pd.DataFrame | None):
    return None if df is None else _clean(df.to_dict(orient="records"))


def _order(df: pd.DataFrame, factor: str) -> list:
    lv = levels(df, factor)
    if factor == "method" and set(lv) == set(PREFERRED_ORDER):
        return list(PREFERRED_ORDER)
    return lv


def _numeric_ratings(st: _State, ratings: pd.DataFrame) -> pd.DataFrame:
    """Drop empty and non-numeric answers (recorded as warnings) and free-text items."""
    y = pd.to_numeric(ratings["rating"], errors="coerce")
    empty = ratings["rating"].astype(str).str.strip().isin(["", "nan", "NA", "None"])
    keep = pd.Series(True, index=ratings.index)
    for item, g in ratings.groupby("item", sort=True):
        bad = y.loc[g.index].isna()
        if bad.all():
            st.skipped.append({"analysis": "all", "item": item,
                               "reason": "no numeric responses (free text?); recode them as "
                                         "numbers to analyse this item"})
            keep.loc[g.index] = False
            continue
        n_empty = int((bad & empty.loc[g.index]).sum())
        n_text = int(bad.sum()) - n_empty
        if n_text:
            ex = g.loc[bad & ~empty.loc[g.index], "rating"].astype(str).unique()[:3].tolist()
            st.warnings.append(f"item '{item}': {n_text} non-numeric response(s) (e.g. {ex}) "
                               "excluded; recode them as numbers in the CSV")
        if n_empty:
            st.warnings.append(f"item '{item}': {n_empty} empty response(s) excluded")
        keep.loc[g.index[bad.to_numpy()]] = False
    out = ratings[keep].copy()
    out["rating"] = y[keep].astype(float)
    return out


def _item_factors(st: _State, d: pd.DataFrame, item: str) -> list[str]:
    fs = []
    for f in FACTORS:
        n = d[f].nunique()
        if n >= 2:
            fs.append(f)
        else:
            st.skipped.append({"analysis": f"effects of {f}", "item": item,
                               "reason": f"factor '{f}' has a single level "
                                         f"({d[f].unique().tolist()}); it is left out of "
                                         "the models"})
    return fs


def _analyse_item(st: _State, d: pd.DataFrame, item: str, opts: ReportOptions) -> dict:
    res: dict = {}
    parts: list[str] = []
    factors = _item_factors(st, d, item)
    sentences: list[str] = []
    bounds = scale_bounds(d)
    desc = describe(d, "rating", factors or ["item"], bounds=bounds)
    res["descriptives"] = _records(desc)
    parts.append(st.table(desc, f"{item}_descriptives", f"{item}: descriptives per condition"
                          + ci_caption(bounds)))
    if len(factors) > 1:
        res["descriptives_marginal"] = {}
        for f in factors:
            m = describe(d, "rating", [f], bounds=bounds)
            res["descriptives_marginal"][f] = _records(m)
            parts.append(st.table(m, f"{item}_descriptives_{f}", f"{item}: descriptives per {f}"))
    if not factors:
        st.skipped.append({"analysis": "inferential tests", "item": item,
                           "reason": "no factor has two or more levels"})
        return {"results": res, "html": "".join(parts), "sentences": sentences}
    if d["rating"].nunique() < 2:
        st.skipped.append({"analysis": "inferential tests", "item": item,
                           "reason": f"all ratings are equal ({d['rating'].iloc[0]:g}); "
                                     "there is nothing to test"})
        return {"results": res, "html": "".join(parts), "sentences": sentences}

    # --- ART ANOVA + checks + ART-C
    art_label = ART_LABELS[opts.art_error]
    a = st.run("ART ANOVA", item, lambda: art(d, "rating", factors, SUBJECT, opts.art_error))
    method_marks = None
    if a is not None:
        for c in a.attrs.get("fewer_replicates", []):
            cell = ", ".join(f"{f} {c[f]}" for f in factors if f in c)
            st.warnings.append(
                f"item '{item}': cell {cell} holds fewer observations for "
                f"{c['participants_with_fewer']} participant(s) ({c['min']} instead of "
                f"{c['max']}); ART, RM-ANOVA and Friedman use those participants' means "
                "of what they rated")
        checks = art_checks(d, "rating", factors, SUBJECT, opts.art_error)
        cons = {}
        for term in a["term"]:
            c = st.run(f"ART-C contrasts {term}", item,
                       lambda t=term: art_contrasts(d, "rating", factors, SUBJECT, t,
                                                    opts.adjust, opts.art_error))
            if c is not None:
                cons[term] = c
        if "method" in cons:
            method_marks = cons["method"]
        res["art"] = {"error": opts.art_error, "label": art_label,
                      "anova": _records(a), "checks": _records(checks),
                      "contrasts": {t: _records(c) for t, c in cons.items()}}
        for r in a.itertuples():
            sentences.append(f"{item}, ART ANOVA, {r.term}: "
                             + apa.f_test(r.F, r.df1, r.df2, r.p, pes=r.partial_eta2))
        parts.append(st.table(a, f"{item}_art",
                              f"{item}: aligned rank transform ANOVA, {art_label}"))
        parts.append(st.table(checks, f"{item}_art_checks",
                              f"{item}: ART alignment checks (sums and F of other effects ~ 0)"))
        for t, c in cons.items():
            parts.append(st.table(c, f"{item}_artc_{t.replace(':', '_x_')}",
                                  f"{item}: ART-C contrasts for {t} ({opts.adjust})"))

    # --- RM-ANOVA
    r_ = st.run("RM-ANOVA", item, lambda: rm_anova(d, "rating", factors, SUBJECT))
    if r_ is not None:
        res["rm_anova"] = _records(r_)
        for r in r_.itertuples():
            gg = r.df1 > 1
            sentences.append(f"{item}, RM-ANOVA, {r.term}: " + apa.f_test(
                r.F, r.df1_gg if gg else r.df1, r.df2_gg if gg else r.df2,
                r.p_gg if gg else r.p, pes=r.partial_eta2, ges=r.ges,
                note=f"Greenhouse-Geisser, eps = {r.eps_gg:.2f}" if gg else ""))
        parts.append(st.table(r_, f"{item}_rm_anova",
                              f"{item}: repeated-measures ANOVA on cell means (GG-corrected)"))

    # --- mixed model
    vc = None
    if opts.clip_random_effect and "clip_id" in d.columns and d["clip_id"].nunique() > 1:
        per_cell = d.groupby(factors, observed=True)["clip_id"].nunique()
        if (per_cell > 1).any():
            vc = {"clip": "clip_id"}
    m = st.run("mixed model", item,
               lambda: study_model(d, "rating", factors, SUBJECT,
                                   clip="clip_id" if vc else None))
    if m is not None:
        emm = {f: m.emmeans(f) for f in factors}
        if len(factors) > 1:
            emm[":".join(factors)] = m.emmeans(factors)
        pw = {f: m.pairwise(f, opts.adjust) for f in factors}
        res["mixedlm"] = {"formula": factorial_formula("rating", factors),
                          "random": ["participant"] + (["clip"] if vc else []),
                          "structure": m.structure,
                          "simplify": m.simplify, "selection": _records(m.steps),
                          "selection_text": m.selection_text(),
                          "converged": m.converged, "n_obs": m.n_obs, "n_groups": m.n_groups,
                          "fixed": _records(m.fixed), "tests": _records(m.tests),
                          "variances": _records(m.variances),
                          "emmeans": {k: _records(v) for k, v in emm.items()},
                          "pairwise": {k: _records(v) for k, v in pw.items()}}
        for r in m.tests.itertuples():
            sentences.append(f"{item}, mixed model (Satterthwaite), {r.term}: "
                             + apa.f_test(r.F, r.df1, r.df2, r.p))
        parts.append(st.table(m.tests, f"{item}_mixedlm_tests",
                              f"{item}: mixed model F tests, Satterthwaite df "
                              f"(random: {m.structure})"))
        parts.append(st.table(m.variances, f"{item}_mixedlm_variances",
                              f"{item}: variance components"))
        if not m.steps.empty:
            parts.append(st.table(m.steps, f"{item}_mixedlm_selection",
                                  f"{item}: random-part selection from the maximal structure "
                                  "(zero estimates dropped, then REML likelihood-ratio tests "
                                  "at alpha .20, Matuschek et al. 2017)"))
        for k, v in emm.items():
            parts.append(st.table(v, f"{item}_emmeans_{k.replace(':', '_x_')}",
                                  f"{item}: estimated marginal means, {k}"))
        for k, v in pw.items():
            parts.append(st.table(v, f"{item}_mixedlm_pairwise_{k}",
                                  f"{item}: mixed-model pairwise contrasts, {k} ({opts.adjust})"))

    res["primary"] = _primary(item, vc is not None, m, a is not None, art_label)
    parts.insert(0, f'<p class="primary">{html.escape(res["primary"]["text"])}</p>')

    # --- nonparametric
    res["friedman"], res["wilcoxon"] = {}, {}
    for f in factors:
        fr = st.run(f"Friedman {f}", item, lambda f=f: friedman(d, "rating", f, SUBJECT))
        if fr is not None:
            res["friedman"][f] = _records(fr)[0]
            r = fr.iloc[0]
            sentences.append(f"{item}, Friedman, {f}: "
                             + apa.chi2_test(r.chi2, r.df, r.p, n=int(r.n), w=r.kendall_w))
            parts.append(st.table(fr, f"{item}_friedman_{f}", f"{item}: Friedman test, {f}"))
        w = st.run(f"Wilcoxon {f}", item,
                   lambda f=f: wilcoxon_pairwise(d, "rating", f, SUBJECT, opts.adjust))
        if w is not None:
            res["wilcoxon"][f] = _records(w)
            for r in w.itertuples():
                sentences.append(f"{item}, Wilcoxon, {r.level1} vs {r.level2}: "
                                 + apa.wilcoxon(r.V, r.z, r.p, r.rank_biserial))
            parts.append(st.table(w, f"{item}_wilcoxon_{f}",
                                  f"{item}: pairwise Wilcoxon signed-rank, {f} ({opts.adjust})"))

    # --- ordinal
    if opts.ordinal:
        ol = st.run("ordered logit", item, lambda: ordered_logit(d, "rating", factors))
        og = st.run("ordinal GEE", item, lambda: ordinal_gee(d, "rating", factors, SUBJECT,
                                                             opts.ordinal_gee_cov))
        res["ordinal"] = {"ordered_logit": _records(ol), "ordinal_gee": _records(og)}
        if ol is not None:
            parts.append(st.table(ol, f"{item}_ordered_logit",
                                  f"{item}: proportional-odds model (OrderedModel)"))
        if og is not None:
            parts.append(st.table(og, f"{item}_ordinal_gee",
                                  f"{item}: ordinal GEE, participant clusters"))

    # --- figures
    if opts.figures:
        figs = []
        scale = bounds
        x = factors[0]
        hue = factors[1] if len(factors) > 1 else None
        p1 = st.out / "figures" / f"{_safe(item)}_violin.png"
        figures.rating_distribution(
            d, "rating", x, hue, p1, x_order=_order(d, x),
            hue_order=_order(d, hue) if hue else (), title=f"{item} (ART-C, {opts.adjust})",
            marks=method_marks if x == "method" else None, scale=scale, label=item)
        figs.append(p1)
        if hue:
            cells = describe(d, "rating", [x, hue], bounds=bounds)
            cells["mean"] = cells["participant_mean"]
            p2 = st.out / "figures" / f"{_safe(item)}_interaction.png"
            figures.interaction_plot(cells, x, hue, p2, x_order=_order(d, x),
                                     trace_order=_order(d, hue), title=item, scale=scale,
                                     label=f"{item}: participant mean (95% CI)")
            figs.append(p2)
        parts.insert(0, "".join(f'<img src="figures/{p.name}" alt="{p.stem}">' for p in figs))
        res["figures"] = [f"figures/{p.name}" for p in figs]
    res["sentences"] = sentences
    return {"results": res, "html": "".join(parts), "sentences": sentences}


#: how the report names the two ART forms
ART_LABELS = {"strata": "per-stratum Error(participant/(method*emotion)) on cell means",
              "pooled": "pooled Error(participant) on trials (published ARTool form; "
                        "false positives above alpha with replicates or method preferences)"}


def _primary(item: str, clips_replicated: bool, m, art_ok: bool, art_label: str) -> dict:
    """Which test the report leads with for an item, and the caveat in words."""
    if clips_replicated and m is not None:
        var = m.variance_components.get("clip", 0.0)
        how = ("random part chosen from the maximal structure by REML likelihood-ratio tests "
               "at alpha .20" if m.simplify == "lrt" else
               "zero variance estimates dropped" if m.simplify == "singular" else
               "maximal random part")
        if "(1 | clip_id)" in m.structure:
            clip_txt = (f"estimated clip variance {var:.3f}, SD {np.sqrt(max(var, 0)):.2f} "
                        "rating points")
        else:
            clip_txt = ("the clip variance was not distinguishable from zero, so the clip "
                        "term was dropped: " + m.selection_text())
        text = (f"{item}: primary test: the crossed mixed model ({m.structure}; {how}; "
                "Satterthwaite F tests), because several clips were rated per condition: it "
                "generalises over participants and over clips. The by-participant tests below "
                "(ART, RM-ANOVA, Friedman) treat the clips as fixed, so they generalise only "
                f"to the clips used ({clip_txt}).")
        return {"test": "mixed model", "structure": m.structure, "clip_variance": var,
                "text": text}
    if art_ok:
        text = (f"{item}: primary test: aligned rank transform ANOVA ({art_label}). With one "
                "clip per condition, clip differences cannot be separated from condition "
                "effects: the results hold for the clips used.")
        return {"test": "ART", "text": text}
    return {"test": None, "text": f"{item}: no primary test could run (see skipped analyses)."}


def _item_calibration(st: _State, d: pd.DataFrame, item: str, opts: ReportOptions
                      ) -> dict | None:
    """Null-world calibration of the tests on this item's design and variance components
    (``opts.calibration_sims`` null studies, the mixed model fitted to
    ``opts.calibration_mixed_sims`` of them); None when the item has nothing to test."""
    from analysis.calibration import calibrate

    if opts.calibration_sims <= 0:
        return None
    factors = [f for f in FACTORS if d[f].nunique() > 1]
    if not factors or d["rating"].nunique() < 2:
        return None
    clip = "clip_id" if opts.clip_random_effect and "clip_id" in d.columns and \
        (d["clip_id"].astype(str) != "").all() else None
    tests = ("art", "art_pooled", "rm_anova", "friedman") + \
        (("mixed",) if opts.calibration_mixed_sims > 0 else ())
    cal = st.run("validity panel (calibration)", item, lambda: calibrate(
        d, "rating", factors, SUBJECT, clip, n_sims=opts.calibration_sims,
        n_mixed=opts.calibration_mixed_sims, tests=tests, seed=0))
    if cal is None:
        return None
    return cal.to_dict() | {"item": item}


def _validity_panel(st: _State, cals: dict, opts: ReportOptions) -> dict | None:
    """The report's validity panel: every rated item's calibration in one table."""
    cals = {k: v for k, v in cals.items() if v is not None}
    if not cals:
        return None
    rows = []
    sds = []
    for item, cal in cals.items():
        for r in cal["rates"]:
            rows.append({"item": item, **{k: r[k] for k in ("label", "term", "n_sims", "rate",
                                                             "ci_low", "ci_high", "verdict")}})
        sd = ", ".join(f"{k} {v:.2f}" for k, v in cal["null_world"]["sd"].items() if v > 0)
        sds.append(f"{item}: {sd}")
    t = pd.DataFrame(rows)
    first = next(iter(cals.values()))
    intro = (f"<p>For every rated item, each test was run on {opts.calibration_sims} "
             f"simulated studies shaped like this one ({first['design']['participants']} "
             "participants, the same cells and clips per cell) in which no factor has any "
             "effect, with the variance components estimated from that item (SDs: "
             f"{html.escape('; '.join(sds))}); the mixed model on "
             f"{opts.calibration_mixed_sims} of them per item, to keep the report fast, so "
             "its rates are rough (see the Wilson interval). A valid test rejects about 5 % "
             "of them. 'only for the clips used': the test treats the clips as fixed, so "
             "with clip variance it does not generalise beyond them. More simulations: "
             "<code>vr-study analyze calibrate DATA</code>.</p>")
    st.sections.insert(0, ("Validity of the tests on this design (null simulation)",
                           intro + st.table(t, "validity_panel",
                                            "false-positive rate at alpha .05 per item "
                                            "(Wilson 95% CI)")))
    return {"n_sims": opts.calibration_sims, "n_mixed": opts.calibration_mixed_sims,
            "items": cals}


def _item_job(out: Path, d: pd.DataFrame, item: str, opts: ReportOptions) -> tuple:
    """One item's analyses and calibration with its own state (runs in a worker process
    when jobs > 1)."""
    st = _State(out)
    r = _analyse_item(st, d, item, opts)
    r["calibration"] = _item_calibration(st, d, item, opts)
    return r, st.skipped, st.warnings, st.tables


def _progress(work: list, opts: ReportOptions, fn: Callable) -> list:
    """fn over work in order, with a tqdm bar when asked."""
    if opts.progress:
        from tqdm import tqdm
        work = tqdm(work, desc="analysing items", unit="item")
    return [fn(w) for w in work]


def _recognition(st: _State, rec: pd.DataFrame, opts: ReportOptions) -> dict | None:
    if rec.empty:
        return None
    out: dict = {}
    parts: list[str] = []
    try:
        p0 = opts.chance if opts.chance is not None else chance_level(rec)
    except AnalysisError as e:
        st.skipped.append({"analysis": "recognition", "item": None, "reason": str(e)})
        return None
    out["chance"] = p0
    acc = st.run("recognition accuracy", None, lambda: accuracy(rec, ("method", "emotion"), p0))
    if acc is None:
        return None
    out["accuracy"] = _records(acc)
    by_method = accuracy(rec, ("method",), p0)
    out["accuracy_by_method"] = _records(by_method)
    sentences = [f"recognition, {r.method}/{r.emotion}: "
                 + apa.accuracy(r.accuracy, r.correct, r.n, r.chance, r.p)
                 for r in acc.itertuples()]
    parts.append(st.table(acc, "recognition_accuracy",
                          f"recognition accuracy vs chance ({p0:.3g}), exact binomial tests"))
    parts.append(st.table(by_method, "recognition_accuracy_by_method",
                          "recognition accuracy per method"))
    mats = {}
    if "response_text" in rec.columns and (rec["response_text"] != "").any():
        mats = {m: confusion(rec, m) for m in _order(rec, "method")}
        mats["all methods"] = confusion(rec)
        out["confusion"] = {k: {"rows": v.index.tolist(), "columns": v.columns.tolist(),
                                "counts": v.to_numpy().tolist()} for k, v in mats.items()}
        for k, v in mats.items():
            parts.append(st.table(v.reset_index().rename(columns={"emotion": "intended"}),
                                  f"confusion_{k}", f"confusion matrix: {k}"))
    else:
        st.skipped.append({"analysis": "confusion matrices", "item": None,
                           "reason": "no response_text column with the chosen labels"})
    g = st.run("recognition GEE", None, lambda: gee_binomial(
        rec, [f for f in FACTORS if rec[f].nunique() > 1], SUBJECT))
    if g is not None:
        coef, tests = g
        out["gee"] = {"coefficients": _records(coef), "tests": _records(tests),
                      "cov_struct": "exchangeable"}
        sentences += [f"recognition, GEE (Wald), {r.term}: " + apa.chi2_test(r.chi2, r.df, r.p)
                      for r in tests.itertuples()]
        parts.append(st.table(tests, "recognition_gee_tests",
                              "recognition: GEE binomial, Wald tests (robust SE)"))
        parts.append(st.table(coef, "recognition_gee_coefficients",
                              "recognition: GEE binomial coefficients (sum coding)"))
    if opts.figures:
        pa = st.out / "figures" / "recognition_accuracy.png"
        figures.accuracy_plot(acc, pa, x_order=_order(rec, "method"),
                              hue_order=_order(rec, "emotion"))
        imgs = [pa]
        if mats:
            pc = st.out / "figures" / "confusion.png"
            figures.confusion_plot({k: v for k, v in mats.items() if k != "all methods"}, pc)
            imgs.append(pc)
        parts.insert(0, "".join(f'<img src="figures/{p.name}" alt="{p.stem}"'
                                + (' class="wide"' if p.stem == "confusion" else "") + ">"
                                for p in imgs))
    out["sentences"] = sentences
    st.sections.append(("Emotion recognition", "".join(parts) + _sentence_list(sentences)))
    return out


def _reliability(st: _State, ratings: pd.DataFrame) -> list:
    """Cronbach's alpha of the subscales the instruments declare (never of unrelated items)."""
    idx = ["participant_id", "trial_index" if "trial_index" in ratings.columns else "clip_id"]
    scales = declared_scales(ratings)
    if not scales:
        st.skipped.append({"analysis": "Cronbach's alpha", "item": None,
                           "reason": "no subscales declared (alpha across unrelated items is not "
                                     "reported); declare subscales in the instruments, or pass "
                                     "--codebook codebook.csv"})
        return []
    if idx[1] not in ratings.columns:
        st.skipped.append({"analysis": "Cronbach's alpha", "item": None,
                           "reason": "needs trial_index or clip_id to know which answers "
                                     "belong together"})
        return []
    out, notes = scale_reliability(ratings, scales, value="rating", index=idx)
    st.warnings += [f"Cronbach's alpha of {r['scale']}: {r['warning']}" for r in out if r["warning"]]
    st.skipped += [{"analysis": "Cronbach's alpha", "item": None, "reason": n} for n in notes]
    if out:
        st.sections.append(("Scale reliability", st.table(
            pd.DataFrame(out)[["scale", "alpha", "k", "n", "n_participants"]], "reliability",
            "Cronbach's alpha per declared subscale (n = complete response sets)")))
    return out


def _block_items(st: _State, blocks: pd.DataFrame) -> tuple[dict, list[str]]:
    """Items asked once per block, analysed with the block's factor (not pooled)."""
    res, parts, sentences = {}, [], []
    for r in block_item_tests(blocks, bounds=scale_bounds(blocks)):
        item, f = r["item"], r["factor"]
        st.skipped += [{"analysis": "block-level tests", "item": item, "reason": x}
                       for x in r["skipped"]]
        parts.append(st.table(r["descriptives"], f"block_{item}_descriptives",
                              f"{item} (asked after each block): descriptives per {f}"
                              + ci_caption(scale_bounds(blocks))))
        for key in ("rm_anova", "friedman"):
            if r[key] is not None:
                parts.append(st.table(r[key], f"block_{item}_{key}", f"{item}: {key} by {f}"))
        if r["rm_anova"] is not None:
            a = r["rm_anova"].iloc[0]
            sentences.append(f"{item}, RM-ANOVA, {f}: " + apa.f_test(
                a.F, a.df1, a.df2, a.p, pes=a.partial_eta2, ges=a.ges))
        res[item] = {"factor": f, **{k: _records(r[k]) for k in
                                     ("descriptives", "rm_anova", "friedman")}}
    st.sections.append(("Block-level questionnaires (by block factor)",
                        "".join(parts) + _sentence_list(sentences)))
    return res, sentences


def _apa(out: Path, sentences: list[str]) -> str:
    """Prose paragraphs: results_apa.md (plain), results_apa.tex, and the HTML section."""
    paras = apa.paragraphs(sentences)
    atomic_write_text(out / "results_apa.md", "\n\n".join(paras) + "\n")
    atomic_write_text(out / "results_apa.tex", "\n\n".join(apa.to_latex(p) for p in paras) + "\n")
    return ('<div class="apa">' + "".join(f"<p>{apa.to_html(p)}</p>" for p in paras)
            + '<p>As text: <a href="results_apa.md">Markdown</a>, '
              '<a href="results_apa.tex">LaTeX</a>.</p></div>')


def _objective(st: _State, ratings: pd.DataFrame, metrics: pd.DataFrame | None,
               opts: ReportOptions) -> list | None:
    if metrics is None:
        return None
    if "clip_id" not in ratings.columns:
        st.skipped.append({"analysis": "objective vs perceptual", "item": None,
                           "reason": "the responses have no clip_id column to join on; map "
                                     "it with --columns clip_id=YOUR_COLUMN"})
        return None
    c = st.run("objective vs perceptual", None,
               lambda: objective_correlations(ratings, metrics, dv="rating"))
    if c is None:
        return None
    parts = [st.table(c, "objective_correlations",
                      "rank correlations of per-clip metrics with mean ratings")]
    if opts.figures:
        p = st.out / "figures" / "objective_correlations.png"
        if c["rho"].notna().any():
            figures.correlation_heatmap(c, p)
            parts.insert(0, f'<img src="figures/{p.name}" alt="objective correlations">')
    st.sections.append(("Objective metrics vs ratings", "".join(parts)))
    return _records(c)


def _sentence_list(sentences: list[str]) -> str:
    if not sentences:
        return ""
    return ('<details><summary>Result sentences (APA)</summary><ul>'
            + "".join(f"<li>{apa.to_html(s)}</li>" for s in sentences) + "</ul></details>")


CSS = """body{font-family:system-ui,sans-serif;max-width:1200px;margin:1em auto;padding:0 1em;
color:#222}h1{font-size:1.5em}h2{border-bottom:1px solid #ccc;margin-top:2em}
table{border-collapse:collapse;font-size:.8em;margin:.3em 0 1em}td,th{border:1px solid #ddd;
padding:2px 6px;text-align:right}th{background:#f3f3f3}.cap{font-weight:600;font-size:.9em}
.links{font-weight:400}img{max-width:48%;margin:4px;vertical-align:top}
.sim{background:#b00020;color:#fff;padding:.6em 1em;font-weight:700;font-size:1.1em}
.skip{background:#fff4e5;border-left:4px solid #f0a020;padding:.4em 1em}
details{margin:.5em 0}img.wide{max-width:100%}.tbl{overflow-x:auto}
.apa p{max-width:60em;line-height:1.5}sup,sub{line-height:0}
.ss{display:inline-flex;flex-direction:column;vertical-align:.45em;line-height:1}
.ss sup,.ss sub{font-size:.7em;vertical-align:baseline;line-height:1.05}"""


def build_report(responses: pd.DataFrame, out_dir: str | Path, *,
                 metrics: pd.DataFrame | None = None,
                 options: ReportOptions | None = None) -> dict:
    """Run every analysis and write the report; returns the results.json content.

    Args:
        responses: tidy table (see :mod:`analysis.tidy`), already renamed/checked.
        out_dir: report directory (created).
        metrics: per-clip objective metrics (``clip_id`` + metric columns), optional.
        options: what to run (:class:`ReportOptions`).
    """
    t0 = time.perf_counter()
    opts = options or ReportOptions()
    out = Path(out_dir)
    (out / "tables").mkdir(parents=True, exist_ok=True)
    (out / "figures").mkdir(parents=True, exist_ok=True)
    st = _State(out)
    simulated = is_simulated(responses) if opts.simulated is None else opts.simulated
    split = split_responses(responses)
    ratings = _numeric_ratings(st, split.ratings)
    session = _numeric_ratings(st, split.session)
    recog = split.recognition
    conditions = pd.concat([split.ratings[["method", "emotion"]],
                            recog[["method", "emotion"]]], ignore_index=True)
    items = sorted(ratings["item"].unique().tolist())
    if opts.items:
        unknown = [i for i in opts.items if i not in items]
        for i in unknown:
            st.skipped.append({"analysis": "all", "item": i,
                               "reason": f"item '{i}' is not in the data (items: {items})"})
        items = [i for i in opts.items if i in items]
    results: dict = {
        "meta": {"tool": "vr-study analyze", "source": opts.source, "simulated": simulated,
                 "n_participants": int(responses["participant_id"].nunique()),
                 "n_rows": int(len(responses)), "items": items,
                 "methods": _order(conditions, "method") if len(conditions) else [],
                 "emotions": _order(conditions, "emotion") if len(conditions) else [],
                 "adjust": opts.adjust, "art_error": opts.art_error,
                 "input": dict(opts.input_layout) if opts.input_layout else
                 {"kind": "long", "tool": "table given to analysis.build_report",
                  "forced": True, "note": "input: a long table passed to build_report "
                  "(no file read)"},
                 "python": platform.python_version()},
        "items": {}}
    if small_n_warning(results["meta"]["n_participants"]):
        st.warnings.append(small_n_warning(results["meta"]["n_participants"]))
    all_sentences: list[str] = []
    jobs = [(ratings[ratings["item"] == item].reset_index(drop=True), item) for item in items]
    if opts.jobs > 1 and len(jobs) > 1:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor
        ctx = multiprocessing.get_context("fork")  # workers inherit the loaded libraries
        with ProcessPoolExecutor(max_workers=min(opts.jobs, len(jobs)), mp_context=ctx) as ex:
            futures = [ex.submit(_item_job, out, d, item, opts) for d, item in jobs]
            done = _progress(futures, opts, lambda f: f.result())
    else:
        done = _progress(jobs, opts, lambda j: _item_job(out, j[0], j[1], opts))
    for item, (r, skipped, warnings_, tables) in zip(items, done):
        st.skipped += skipped
        st.warnings += warnings_
        st.tables.update(tables)
        results["items"][item] = r["results"]
        all_sentences += r["sentences"]
        st.sections.append((f"Item: {item}", r["html"] + _sentence_list(r["sentences"])))
    results["calibration"] = _validity_panel(
        st, {item: r["calibration"] for item, (r, *_) in zip(items, done)}, opts)
    results["recognition"] = _recognition(st, recog, opts)
    if results["recognition"]:
        all_sentences += results["recognition"]["sentences"]
    if len(session):
        sd = describe(session, "rating", ["item"])
        results["session_items"] = _records(sd)
        st.sections.append(("Session questionnaires (descriptives)", st.table(
            sd, "session_items_descriptives", "items answered once per session")))
    blocks = _numeric_ratings(st, split.blocks) if len(split.blocks) else split.blocks
    if len(blocks):
        results["block_items"], bs = _block_items(st, blocks)
        all_sentences += bs
    results["reliability"] = _reliability(
        st, pd.concat([ratings, session, blocks], ignore_index=True))
    results["objective"] = _objective(st, ratings, metrics, opts)
    if metrics is None:
        st.skipped.append({"analysis": "objective vs perceptual", "item": None,
                           "reason": "no metrics CSV given; pass --metrics metrics.csv from "
                                     "'vr-study metrics'"})
    results["notes"] = split.notes
    results["skipped"] = st.skipped
    results["warnings"] = st.warnings
    results["sentences"] = all_sentences
    st.sections.insert(0, ("Results (APA style)", _apa(out, all_sentences)))
    results["tables"] = st.tables
    results["meta"]["seconds"] = round(time.perf_counter() - t0, 3)
    atomic_write_text(out / "results.json", json.dumps(_clean(results), indent=1))
    atomic_write_text(out / "index.html", _html(results, st, simulated))
    return results


def _clean(obj):
    """JSON-safe: NaN/inf -> null, numpy scalars -> Python."""
    if isinstance(obj, dict):
        return {str(k): _clean(v) for k, v in obj.items() if not str(k).startswith("_")}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        return float(obj) if math.isfinite(obj) else None
    if isinstance(obj, np.bool_):
        return bool(obj)
    return obj


def _html(results: dict, st: _State, simulated: bool) -> str:
    meta = results["meta"]
    e = html.escape
    head = (f"<!doctype html><html lang='en'><head><meta charset='utf-8'>"
            f"<title>vr-study analysis report</title><style>{CSS}</style></head><body>")
    parts = [head]
    if simulated:
        parts.append('<div class="sim">SIMULATED DATA: this report analyses a simulated '
                     'study with built-in effects (analysis.simulate_study). It is not '
                     'evidence about any real method.</div>')
    parts.append(f"<h1>Analysis report{' (simulated study)' if simulated else ''}</h1>")
    parts.append(f"<p>Source: {e(str(meta['source']))}; {meta['n_participants']} participants, "
                 f"{meta['n_rows']} rows; items: {e(', '.join(meta['items']))}; methods: "
                 f"{e(', '.join(map(str, meta['methods'])))}; emotions: "
                 f"{e(', '.join(map(str, meta['emotions'])))}. P-value adjustment: "
                 f"{e(meta['adjust'])}. All numbers: <a href='results.json'>results.json</a>."
                 "</p>")
    parts.append(f"<p class='input'>{e(meta['input']['note'].splitlines()[0])}</p>")
    parts.append("<p>Methods: the crossed mixed model (participant, participant x factor "
                 "and, when clips are replicated, clip random effects, simplified from that "
                 "maximal structure by REML likelihood-ratio tests at alpha .20 as Matuschek "
                 "et al. 2017, each step listed per item; REML, Satterthwaite F) "
                 "is the primary test when several clips were rated per condition; aligned "
                 f"rank transform ANOVA ({e(ART_LABELS[meta.get('art_error', 'strata')])}) "
                 "with ART-C contrasts; repeated-measures ANOVA on participant cell "
                 "means with Greenhouse-Geisser correction; Friedman and "
                 "Wilcoxon signed-rank on participant means; ordinal models; exact binomial "
                 "tests and GEE for recognition. By-participant tests (ART, RM-ANOVA, "
                 "Friedman) generalise only to the clips used.</p>")
    if results.get("notes"):
        parts.append("<p>Data: " + "; ".join(e(n) for n in results["notes"]) + ".</p>")
    if st.skipped or st.warnings:
        items = "".join(f"<li><b>{e(s['analysis'])}</b>"
                        f"{' (' + e(str(s['item'])) + ')' if s['item'] else ''}: "
                        f"{e(s['reason'])}</li>" for s in st.skipped)
        items += "".join(f"<li>warning: {e(w)}</li>" for w in st.warnings)
        parts.append('<div class="skip"><b>Skipped analyses and warnings</b>'
                     f'<ul>{items}</ul></div>')
    parts.append("<h2>Contents</h2><ul>" + "".join(
        f'<li><a href="#s{i}">{e(t)}</a></li>' for i, (t, _) in enumerate(st.sections)) + "</ul>")
    for i, (title, body) in enumerate(st.sections):
        parts.append(f'<h2 id="s{i}">{e(title)}</h2>{body}')
    parts.append("</body></html>")
    return "\n".join(parts)
