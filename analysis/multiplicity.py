"""Multiple-comparison p-value adjustment (Holm, Bonferroni, Benjamini-Hochberg)."""
from __future__ import annotations

import numpy as np

from analysis.design import AnalysisError


def adjust_p(p: np.ndarray, method: str = "holm") -> np.ndarray:
    """Multiple-comparison adjustment, as R's ``p.adjust``; NaNs are left out and kept.

    ``holm`` (default), ``bonferroni``, ``fdr_bh`` (Benjamini-Hochberg, R's "BH") or
    ``none``. Written out because statsmodels' ``multipletests`` costs ~0.1 s per call
    here, which adds up over the report's hundreds of contrast families.
    """
    p = np.asarray(p, dtype=float)
    out = p.copy()
    if method in (None, "none") or len(p) == 0:
        return out
    ok = np.isfinite(p)
    q = p[ok]
    m = len(q)
    if m == 0:
        return out
    order = np.argsort(q, kind="stable")
    ranked = q[order]
    if method == "holm":
        adj = np.maximum.accumulate((m - np.arange(m)) * ranked)
    elif method == "bonferroni":
        adj = m * ranked
    elif method in ("fdr_bh", "BH"):
        adj = np.minimum.accumulate((m / np.arange(m, 0, -1)) * ranked[::-1])[::-1]
    else:
        raise AnalysisError(f"unknown p-value adjustment '{method}'",
                            "use holm, bonferroni, fdr_bh or none")
    res = np.empty(m)
    res[order] = np.minimum(adj, 1.0)
    out[ok] = res
    return out
