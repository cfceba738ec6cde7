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


def declared_scales(df: pd.DataFrame, *, item: str = "item", subscale: str = "subscale",
                    instrument: str = "instrument") -> dict[str, list[str]]:
    """The subscales the instruments declare: ``{"instrument/subscale": [items]}``.

    Read from the export's ``subscale`` column (``;``-separated when an item belongs to
    several subscales, as Godspeed's Artificial/Lifelike does). Items without a subscale
    belong to no scale: an instrument's items are never pooled into one scale because they
    were asked together.
    """
    if subscale not in df.columns:
        return {}
    inst = df[instrument].astype(str) if instrument in df.columns else pd.Series("", index=df.index)
    out: dict[str, list[str]] = {}
    pairs = pd.DataFrame({"i": inst, "s": df[subscale].astype(str), "item": df[item].astype(str)})
    for r in pairs.drop_duplicates().itertuples():
        for sub in (x.strip() for x in r.s.split(";")):
            if sub:
                name = f"{r.i}/{sub}" if r.i else sub
                out.setdefault(name, [])
                if r.item not in out[name]:
                    out[name].append(r.item)
    return dict(sorted(out.items()))


def scale_reliability(df: pd.DataFrame, scales: dict[str, Sequence[str]], *,
                      value: str = "value_scored",
                      index: Sequence[str] = ("participant_id", "trial_index"),
                      subject: str = "participant_id") -> tuple[list[dict], list[str]]:
    """Cronbach's alpha of each declared scale with two or more items.

    Args:
        df: long table (``item``, ``value``, the ``index`` columns).
        scales: ``{name: items}``, e.g. from :func:`declared_scales` or an instrument's
            subscales (passed in as data; this layer does not read instruments).
    Returns:
        (rows ``{"scale", "alpha", "k", "n", "n_participants", "items", "warning"}``,
        notes about scales that were not computed). ``n`` counts complete response sets
        (one per ``index`` combination); ``warning`` is set when n < k, where alpha is
        not a usable estimate.
    """
    rows, notes = [], []
    single = [name for name, items in scales.items() if len(items) < 2]
    if single:
        notes.append(f"single-item subscale(s) {', '.join(single)} have no Cronbach's alpha")
    for name, items in scales.items():
        if len(items) < 2:
            continue
        part = df[df["item"].isin(items)]
        try:
            a = cronbach_alpha(part, items, item="item", value=value, index=index)
        except AnalysisError as e:
            notes.append(f"{name}: {e}")
            continue
        warn = ""
        if a["n"] < a["k"]:
            warn = (f"only {a['n']} complete response sets for {a['k']} items: alpha is not "
                    "a usable estimate (needs n > k)")
        n_p = int(part[subject].nunique()) if subject in part.columns else None
        rows.append({"scale": name, **a, "n_participants": n_p, "warning": warn})
    return rows, notes
