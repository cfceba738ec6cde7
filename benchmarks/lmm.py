"""Benchmark: one mixed-model fit with Satterthwaite F tests (what calibration repeats).

Design: 20 participants x 4 methods x 2 emotions x 2 clips per cell (320 ratings), data
simulated with participant, participant x method and clip variance. Timed:
``analysis.study_model(df, "y", ["method", "emotion"], "pid", clip="clip")`` (maximal
participant x within structure, singular components dropped, crossed clip, REML and
Satterthwaite F tests) and ``analysis.mixedlm`` of the kept model with ``ddf="Kenward-Roger"``.

Baseline (same process, same data): statsmodels ``MixedLM`` fitting the same variance
components (REML, ``vc_formula``; no denominator df at all), the usual Python route. Whether
its REML variance estimates equal ours (rtol 1e-3) is reported: on these crossed designs
statsmodels' optimiser often stops short of the REML optimum (ours equal lme4's, see
tests/test_analysis_reference.py). Last line: one JSON object.

    .venv/bin/python benchmarks/lmm.py [--quick] [--fits N]
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

import analysis  # noqa: E402


def simulate(rng, participants=20, clips=2):
    rows = []
    clip_eff = {(m, e, c): rng.normal(0, 0.5) for m in range(4) for e in range(2)
                for c in range(clips)}
    for p in range(participants):
        up, um = rng.normal(0, 0.8), rng.normal(0, 0.5, 4)
        for m in range(4):
            for e in range(2):
                for c in range(clips):
                    rows.append((f"P{p:02d}", f"M{m}", f"E{e}", f"M{m}E{e}C{c}",
                                 4 + up + um[m] + clip_eff[m, e, c] + rng.normal()))
    return pd.DataFrame(rows, columns=["pid", "method", "emotion", "clip", "y"])


def baseline(d):
    import statsmodels.formula.api as smf

    data = d.assign(_all=1, pm=d["pid"] + ":" + d["method"],
                    pe=d["pid"] + ":" + d["emotion"])
    vcf = {"a_pid": "0 + C(pid)", "b_pm": "0 + C(pm)", "c_pe": "0 + C(pe)",
           "d_clip": "0 + C(clip)"}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = smf.mixedlm(analysis.factorial_formula("y", ["method", "emotion"]), data,
                        groups="_all", vc_formula=vcf, re_formula="0")
        r = m.fit(reml=True, method=["lbfgs"])
    return dict(zip(sorted(vcf), np.asarray(r.vcomp, float)))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--fits", type=int, default=None)
    a = ap.parse_args()
    n = a.fits or (20 if a.quick else 100)
    rng = np.random.default_rng(1)
    data = [simulate(rng) for _ in range(n)]
    analysis.study_model(data[0], "y", ["method", "emotion"], "pid", clip="clip")  # warm-up
    t = []
    structures = {}
    for d in data:
        t0 = time.perf_counter()
        f = analysis.study_model(d, "y", ["method", "emotion"], "pid", clip="clip")
        t.append(time.perf_counter() - t0)
        structures[f.structure] = structures.get(f.structure, 0) + 1
    cpu0 = time.process_time()
    tk = []
    for d in data[:max(3, n // 10)]:
        t0 = time.perf_counter()
        analysis.mixedlm(d, "y ~ C(method, Sum)*C(emotion, Sum) + (1|pid) + (1|pid:method)"
                            " + (1|pid:emotion) + (1|clip)", ddf="Kenward-Roger")
        tk.append(time.perf_counter() - t0)
    tb, agree = [], 0
    for d in data[:max(3, n // 10)]:
        t0 = time.perf_counter()
        ref = baseline(d)
        tb.append(time.perf_counter() - t0)
        ours = analysis.mixedlm(d, "y ~ C(method, Sum)*C(emotion, Sum) + (1|pid) + "
                                   "(1|pid:method) + (1|pid:emotion) + (1|clip)"
                                ).variance_components
        agree += bool(np.allclose([ours["pid"], ours["pid:method"], ours["pid:emotion"],
                                   ours["clip"]],
                                  [ref["a_pid"], ref["b_pm"], ref["c_pe"], ref["d_clip"]],
                                  rtol=1e-3, atol=1e-4))
    print(f"study_model (REML + Satterthwaite), 320 rows: median {np.median(t)*1e3:.0f} ms, "
          f"p90 {np.percentile(t, 90)*1e3:.0f} ms over {n} fits")
    print(f"kept structures: {structures}")
    print(f"mixedlm Kenward-Roger (4 components): median {np.median(tk)*1e3:.0f} ms")
    print(f"baseline statsmodels MixedLM (REML only): median {np.median(tb)*1e3:.0f} ms; "
          f"variances equal ours in {agree} of {len(tb)} fits")
    print(json.dumps({"benchmark": "lmm", "fits": n, "rows": len(data[0]),
                      "study_model_median_s": round(float(np.median(t)), 4),
                      "study_model_p90_s": round(float(np.percentile(t, 90)), 4),
                      "kenward_roger_median_s": round(float(np.median(tk)), 4),
                      "baseline_statsmodels_median_s": round(float(np.median(tb)), 4),
                      "baseline_variances_equal_ours": f"{agree}/{len(tb)}",
                      "load1": round(os.getloadavg()[0], 2),
                      "cpu_s_kr_and_baseline": round(time.process_time() - cpu0, 2)}))


if __name__ == "__main__":
    main()
