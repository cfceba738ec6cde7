"""Scale reliability: Cronbach's alpha for multi-item instruments."""
from __future__ import annotations

from typing import Sequence

import pandas as pd

from analysis.design import AnalysisError, check_columns


def cronbach_alpha(df: pd.DataFrame, items: Sequence[str] | None = None, *,
                   item: str = "item", value: str = "value_scored",
                   index: Sequence[str] = ("participant_id", "trial_index")) -> dict:
    """Cronbach's alpha of items answered together (long format in).

    Each combination of ``index`` columns (e.g. participant and trial) is one response
    occasion; rows with any item missing are dropped. Uses reverse-scored values.
    alpha = k/(k-1) * (1 - sum(item variances) / variance(sum score)), sample variances.

    Returns ``{"alpha", "k", "n", "items"}``.
    """
    check_columns(df, [item, value, *index])
    work = df if items is None else df[df[item].isin(items)]
    wide = work.pivot_table(index=list(index), columns=item, values=value, aggfunc="mean")
    wide = wide.apply(pd.to_numeric, errors="coerce").dropna()
    k = wide.shape[1]
    if k < 2:
        raise AnalysisError("fewer than two items", "alpha needs a multi-item scale")
    if len(wide) < 3:
        raise AnalysisError("fewer than three complete response sets",
                            "collect more responses for this scale")
    X = wide.to_numpy(dtype=float)
    total_var = X.sum(axis=1).var(ddof=1)
    if total_var == 0:
        raise AnalysisError("the sum score has zero variance (all answers equal)",
                            "alpha is undefined for constant responses")
    alpha = k / (k - 1) * (1 - X.var(axis=0, ddof=1).sum() / total_var)
    return {"alpha": float(alpha), "k": int(k), "n": int(len(X)),
            "items": [str(c) for c in wide.columns]}
