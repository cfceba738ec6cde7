"""Build the analysis test datasets and regenerate R's reference values for them.

Usage: .venv/bin/python scripts/make_analysis_fixtures.py [--no-r] [--dir DIR] [--r SCRIPT]

Writes tests/fixtures/analysis/*.csv (datasets; ``--dir`` elsewhere, e.g. to compare a
regeneration with the committed files) and, unless --no-r, runs in that folder:

* ``scripts/r_reference.R`` -> r_reference.json (ART, RM-ANOVA, nonparametric, ...);
* ``scripts/r_reference_lmm.R`` -> r_reference_lmm.json, clips20.csv, recog20.csv (mixed
  models; also needs r-cran-pbkrtest);
* ``scripts/r_art_strata.R`` -> r_art_strata.json (per-stratum ART, ARTool);
* ``scripts/r_reference_lrt.R`` -> r_reference_lrt.json (study_model's likelihood-ratio
  simplification; reads clips20.csv, so it runs after r_reference_lmm.R).

Needs Debian's R packages (NOT installed by scripts/install.sh; tests only read the
committed values, CI does not need R):

    apt-get install -y r-base-core r-cran-lme4 r-cran-lmertest r-cran-afex \
        r-cran-ordinal r-cran-car r-cran-emmeans r-cran-jsonlite r-cran-pbkrtest \
        r-cran-artool
"""
from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from analysis.simulate import simulate_metrics, simulate_study  # noqa: E402

FIXTURES = ROOT / "tests" / "fixtures" / "analysis"


#: R scripts run in this order, each as ``Rscript SCRIPT DIR``
R_SCRIPTS = ("r_reference.R", "r_reference_lmm.R", "r_art_strata.R", "r_reference_lrt.R")


def build(out: Path = FIXTURES) -> None:
    """Write the datasets into ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    # 1. a small simulated study in the export format (16 participants, all analyses)
    simulate_study(participants=16, seed=11).to_csv(out / "study16.csv", index=False)
    simulate_metrics(seed=11).to_csv(out / "metrics16.csv", index=False)
    rng = np.random.default_rng(2026)
    # 2. three within factors, one observation per cell, continuous response with ties
    rows = []
    for s in range(9):
        u = rng.normal(0, 1)
        for a in ("a1", "a2", "a3"):
            for b in ("b1", "b2"):
                for c in ("c1", "c2"):
                    y = (u + {"a1": 0, "a2": 0.6, "a3": 1.1}[a] + (b == "b2") * 0.4
                         + (a == "a3") * (c == "c2") * 0.9 + rng.normal(0, 1 + (a == "a2")))
                    rows.append({"subject": f"s{s}", "A": a, "B": b, "C": c,
                                 "y": round(float(y), 1)})
    pd.DataFrame(rows).to_csv(out / "within3.csv", index=False)
    # 3. mixed design: group between subjects, cond within, two replicates per cell
    rows = []
    for s in range(12):
        g = "g1" if s < 6 else "g2"
        u = rng.normal(0, 1)
        for cnd in ("x", "y", "z"):
            for rep in (1, 2):
                val = int(np.clip(np.rint(4 + u + (g == "g2") * 0.8 + {"x": 0, "y": 0.5,
                      "z": 1.2}[cnd] * (1 if g == "g1" else 0.3) + rng.normal(0, 1)), 1, 7))
                rows.append({"subject": f"m{s}", "group": g, "cond": cnd, "rep": rep,
                             "y": val})
    pd.DataFrame(rows).to_csv(out / "mixed_design.csv", index=False)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--no-r", action="store_true", help="only write the datasets")
    ap.add_argument("--dir", type=Path, default=FIXTURES,
                    help="where to write (default tests/fixtures/analysis)")
    ap.add_argument("--r", action="append", choices=R_SCRIPTS, metavar="SCRIPT",
                    help=f"run only these R scripts (repeatable; default all: {R_SCRIPTS})")
    args = ap.parse_args()
    build(args.dir)
    if not args.no_r:
        for script in [s for s in R_SCRIPTS if not args.r or s in args.r]:
            subprocess.run(["Rscript", str(ROOT / "scripts" / script), str(args.dir)],
                           check=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
