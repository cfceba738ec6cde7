"""Benchmark: the whole analysis report of a simulated 48-participant study.

Measures ``analysis.build_report`` (every analysis, tables, figures, HTML, JSON) on the
study of the paper's design (4 methods x 2 emotions x 2 clips, 5 rating items, emotion
recognition; 4608 rows), target < 20 s on 2 cores with `vr-study analyze`'s default of one
worker process per core (also timed in one process).

Baseline (same process): the ART ANOVAs of all items done the usual Python way, one
statsmodels formula OLS per aligned response with participant dummies and
``anova_lm(typ=3)`` (what one writes without ARTool), against our ``analysis.art`` on
the same data; the F values are checked equal. The last line printed is one JSON object.

    .venv/bin/python benchmarks/analysis.py [--quick] [--participants N]
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

import analysis  # noqa: E402
from analysis.aligned_rank import align, art_rank  # noqa: E402
from analysis.design import effect_terms, factor_codes  # noqa: E402


def baseline_art(d, factors, subject):
    """ART with statsmodels formulas: one OLS + Type III anova_lm per effect."""
    import statsmodels.formula.api as smf
    from statsmodels.stats.anova import anova_lm

    d = d.reset_index(drop=True).copy()
    y = d["value"].astype(float).to_numpy()
    codes, nl = factor_codes(d, factors)
    out = {}
    rhs = f"C({subject}, Sum) + " + "*".join(f"C({f}, Sum)" for f in factors)
    for term in effect_terms(factors):
        d["_r"] = art_rank(align(y, codes, nl, factors, term))
        tab = anova_lm(smf.ols(f"_r ~ {rhs}", d).fit(), typ=3)
        name = ":".join(f"C({f}, Sum)" for f in term)
        out[":".join(term)] = float(tab.loc[name, "F"])
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="16 participants (< 60 s)")
    ap.add_argument("--participants", type=int, default=None)
    args = ap.parse_args()
    n = args.participants or (16 if args.quick else 48)
    warnings.simplefilter("ignore")
    data = analysis.simulate_study(participants=n, seed=1)
    metrics = analysis.simulate_metrics(seed=1)
    factors, subject = ["method", "emotion"], "participant_id"
    # warm the imports (statsmodels, matplotlib) so both sides are timed without them
    analysis.art(data[data["item"] == "naturalness"], "value", factors, subject, error="pooled")
    import matplotlib.pyplot  # noqa: F401
    import statsmodels.formula.api  # noqa: F401

    with tempfile.TemporaryDirectory() as tmp:
        t0, c0 = time.perf_counter(), time.process_time()
        res = analysis.build_report(data, Path(tmp) / "report", metrics=metrics)
        report_s, report_cpu = time.perf_counter() - t0, time.process_time() - c0
        n_tables = len(list((Path(tmp) / "report" / "tables").glob("*.csv")))
        n_figs = len(list((Path(tmp) / "report" / "figures").glob("*.png")))
        # `vr-study analyze`'s default: the items split over one worker process per usable core
        cores = len(os.sched_getaffinity(0))
        t0 = time.perf_counter()
        analysis.build_report(data, Path(tmp) / "report2", metrics=metrics,
                              options=analysis.ReportOptions(jobs=cores))
        jobs_s = time.perf_counter() - t0
    items = sorted(data.loc[data["instrument"] == "animation_rating", "item"].unique())
    t0 = time.perf_counter()
    ours = {i: analysis.art(data[data["item"] == i], "value", factors, subject,
                                 error="pooled") for i in items}
    art_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    base = {i: baseline_art(data[data["item"] == i], factors, subject) for i in items}
    base_s = time.perf_counter() - t0
    for i in items:
        np.testing.assert_allclose(ours[i]["F"], [base[i][t] for t in ours[i]["term"]],
                                   rtol=1e-8)
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs (other work "
          "sharing the CPUs inflates wall time; CPU time is the process's own)")
    print(f"participants {n}, rows {len(data)}: report {report_s:.2f} s wall "
          f"({report_cpu:.2f} s CPU), {n_tables} tables, {n_figs} figures, "
          f"{len(res['skipped'])} skipped"
          + f"; with the CLI default (--jobs {cores}): {jobs_s:.2f} s wall")
    print(f"ART ANOVA, {len(items)} items: ours {art_s:.3f} s, statsmodels-formula baseline "
          f"{base_s:.3f} s (same F values)")
    print(json.dumps({"benchmark": "analysis", "participants": n, "rows": len(data),
                      "report_s": round(report_s, 3), "report_cpu_s": round(report_cpu, 3),
                      "cores": cores, "report_cli_default_s": round(jobs_s, 3),
                      "target_s": 20.0, "within_target": jobs_s < 20.0,
                      "within_target_one_process": report_s < 20.0,
                      "tables": n_tables, "figures": n_figs,
                      "art_s": round(art_s, 4), "baseline": "statsmodels formula OLS + "
                      "anova_lm(typ=3) per aligned response", "art_baseline_s": round(base_s, 4),
                      "art_speedup": round(base_s / art_s, 2),
                      "load_average_1min": round(os.getloadavg()[0], 2)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
