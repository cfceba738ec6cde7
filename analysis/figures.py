"""Report figures (matplotlib, Agg backend): violin/box plots with significance marks,
interaction plots, recognition accuracy, confusion matrices, correlation heatmaps.

Every function draws one figure from plain DataFrames and saves it as PNG; none keeps
state between calls.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

COLORS = ("#4477AA", "#EE6677", "#228833", "#CCBB44", "#66CCEE", "#AA3377", "#BBBBBB")
DPI = 96


def stars(p: float) -> str:
    """``***`` p < .001, ``**`` < .01, ``*`` < .05, else ``ns``."""
    return "***" if p < 0.001 else "**" if p < 0.01 else "*" if p < 0.05 else "ns"


def _save(fig, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp.png")
    fig.savefig(tmp, dpi=DPI)  # layout="constrained" at creation: one draw, nothing clipped
    plt.close(fig)
    tmp.replace(path)


def rating_distribution(df: pd.DataFrame, dv: str, x: str, hue: str | None, path: Path, *,
                        x_order: Sequence, hue_order: Sequence = (), title: str = "",
                        marks: pd.DataFrame | None = None, scale: tuple | None = None,
                        label: str = "") -> None:
    """Violins with boxes per x level (and hue level); brackets for significant pairs.

    ``marks``: rows with ``level1, level2, p`` (pairs of x levels, adjusted p); only
    p < .05 is drawn.
    """
    hues = list(hue_order) if hue else [None]
    width = 0.8 / len(hues)
    fig, ax = plt.subplots(figsize=(1.6 + 1.5 * len(x_order), 3.6), layout="constrained")
    y = pd.to_numeric(df[dv], errors="coerce")
    for hi, h in enumerate(hues):
        data, pos = [], []
        for xi, xv in enumerate(x_order):
            sel = (df[x] == xv) & ((df[hue] == h) if h is not None else True)
            v = y[sel].dropna().to_numpy()
            if len(v):
                data.append(v)
                pos.append(xi + (hi - (len(hues) - 1) / 2) * width)
        if not data:
            continue
        color = COLORS[hi % len(COLORS)]
        varied = [d if np.ptp(d) > 0 else d + np.array([0] * (len(d) - 1) + [1e-6]) for d in data]
        vp = ax.violinplot(varied, positions=pos, widths=width * 0.95, showextrema=False)
        for body in vp["bodies"]:
            body.set_facecolor(color)
            body.set_alpha(0.35)
        ax.boxplot(data, positions=pos, widths=width * 0.3, showfliers=False,
                   patch_artist=True, boxprops={"facecolor": color, "alpha": 0.9},
                   medianprops={"color": "black"})
        if h is not None:
            ax.plot([], [], color=color, lw=6, alpha=0.6, label=str(h))
    ax.set_xticks(range(len(x_order)))
    ax.set_xticklabels([str(v) for v in x_order], rotation=15)
    lo, hi_ = (scale if scale else (np.nanmin(y), np.nanmax(y)))
    top = hi_
    if marks is not None and len(marks):
        sig = marks[marks["p"] < 0.05]
        step = 0.12 * (hi_ - lo if hi_ > lo else 1)
        level = top + step
        for r in sig.itertuples():
            if r.level1 not in x_order or r.level2 not in x_order:
                continue
            a, b = sorted((list(x_order).index(r.level1), list(x_order).index(r.level2)))
            ax.plot([a, a, b, b], [level - step * 0.3, level, level, level - step * 0.3],
                    color="black", lw=0.8)
            ax.text((a + b) / 2, level, stars(r.p), ha="center", va="bottom", fontsize=8)
            level += step
        top = level
    ax.set_ylim(lo - 0.5, top + 0.5)
    if scale:
        _scale_ticks(ax, scale)
    ax.set_ylabel(label or dv)
    ax.set_title(title, fontsize=10)
    if hue:
        ax.legend(title=hue, fontsize=8, frameon=False, loc="lower right")
    _save(fig, path)


def _scale_ticks(ax, scale: tuple) -> None:
    """Ticks only at the rating scale's points (at most 11 of them)."""
    lo, hi = scale
    step = max(1, int(np.ceil((hi - lo) / 10)))
    ax.set_yticks(np.arange(lo, hi + 1e-9, step))


def interaction_plot(cells: pd.DataFrame, x: str, trace: str, path: Path, *,
                     x_order: Sequence, trace_order: Sequence, title: str = "",
                     label: str = "mean (95% CI)", scale: tuple | None = None) -> None:
    """Means with 95% CIs (columns ``mean, ci_low, ci_high``) per x, one line per trace.

    ``scale`` (min, max): the y axis shows the rating scale (the CIs are expected to be
    clipped to it already, see :func:`analysis.descriptives.describe`).
    """
    fig, ax = plt.subplots(figsize=(1.6 + 1.3 * len(x_order), 3.4), layout="constrained")
    for ti, t in enumerate(trace_order):
        d = cells[cells[trace] == t].set_index(x).reindex(list(x_order))
        xs = np.arange(len(x_order)) + (ti - (len(trace_order) - 1) / 2) * 0.06
        ax.errorbar(xs, d["mean"], yerr=[d["mean"] - d["ci_low"], d["ci_high"] - d["mean"]],
                    marker="o", capsize=3, color=COLORS[ti % len(COLORS)], label=str(t))
    ax.set_xticks(range(len(x_order)))
    ax.set_xticklabels([str(v) for v in x_order], rotation=15)
    if scale:
        ax.set_ylim(scale[0] - 0.2, scale[1] + 0.2)
        _scale_ticks(ax, scale)
    ax.set_ylabel(label)
    ax.set_title(title, fontsize=10)
    ax.legend(title=trace, fontsize=8, frameon=False)
    _save(fig, path)


def accuracy_plot(acc: pd.DataFrame, path: Path, *, x_order: Sequence,
                  hue_order: Sequence) -> None:
    """Recognition accuracy bars with Clopper-Pearson CIs and the chance line."""
    fig, ax = plt.subplots(figsize=(1.6 + 1.5 * len(x_order), 3.4), layout="constrained")
    width = 0.8 / max(len(hue_order), 1)
    for hi, h in enumerate(hue_order):
        d = acc[acc["emotion"] == h].set_index("method").reindex(list(x_order))
        xs = np.arange(len(x_order)) + (hi - (len(hue_order) - 1) / 2) * width
        ax.bar(xs, d["accuracy"], width * 0.9, color=COLORS[hi % len(COLORS)], label=str(h),
               yerr=[d["accuracy"] - d["ci_low"], d["ci_high"] - d["accuracy"]], capsize=3)
        for xv, (a, p) in zip(xs, zip(d["accuracy"], d["p"])):
            if np.isfinite(a):
                ax.text(xv, min(a + 0.12, 1.02), stars(p), ha="center", fontsize=8)
    ax.axhline(acc["chance"].iloc[0], color="black", ls="--", lw=1, label="chance")
    ax.set_ylim(0, 1.1)
    ax.set_xticks(range(len(x_order)))
    ax.set_xticklabels([str(v) for v in x_order], rotation=15)
    ax.set_ylabel("recognition accuracy")
    ax.legend(fontsize=8, frameon=False, ncol=3, loc="upper left")
    _save(fig, path)


#: the confusion figure is drawn for this page width (the report is 1200 px wide at most)
CONFUSION_WIDTH_IN = 11.0


def confusion_plot(matrices: dict[str, pd.DataFrame], path: Path, *, ncols: int | None = None
                   ) -> None:
    """One heatmap per method: row percentages (colour and number) with counts beneath.

    Panels are laid out in a grid (2 per row for 2 or 4 methods or more than 5 answer
    options, else up to 3)
    so that the figure, at :data:`CONFUSION_WIDTH_IN` inches and 96 dpi, fits a report page
    without being scaled down: labels stay at 10-11 pt on screen. Long answer labels are
    wrapped.
    """
    import textwrap

    n = len(matrices)
    k = max(m.shape[1] for m in matrices.values())
    r = max(m.shape[0] for m in matrices.values())
    ncols = ncols or (min(n, 2) if k > 5 or n in (2, 4) else min(n, 3))
    nrows = int(np.ceil(n / ncols))
    height = min(1.4 + 0.6 * r, 0.9 * CONFUSION_WIDTH_IN / ncols)  # per row of panels
    fig, axes = plt.subplots(nrows, ncols, figsize=(CONFUSION_WIDTH_IN, height * nrows),
                             squeeze=False, layout="constrained")
    fs = 10 if k <= 5 else 8
    wrap = lambda t: textwrap.fill(str(t), 12)  # noqa: E731
    for ax, (name, m) in zip(axes.flat, matrices.items()):
        prop = m.div(m.sum(axis=1).replace(0, np.nan), axis=0).fillna(0).to_numpy()
        ax.imshow(prop, vmin=0, vmax=1, cmap="Blues", aspect="auto")
        for i in range(prop.shape[0]):
            for j in range(prop.shape[1]):
                ax.text(j, i, f"{100 * prop[i, j]:.0f}%\n({m.iat[i, j]})", ha="center",
                        va="center", fontsize=fs - 1,
                        color="white" if prop[i, j] > 0.5 else "black")
        ax.set_xticks(range(m.shape[1]))
        ax.set_xticklabels([wrap(c) for c in m.columns], rotation=30 if k > 4 else 0,
                           ha="right" if k > 4 else "center", fontsize=fs)
        ax.set_yticks(range(m.shape[0]))
        ax.set_yticklabels([wrap(r) for r in m.index], fontsize=fs)
        ax.set_title(str(name), fontsize=fs + 1)
        ax.set_xlabel("answer", fontsize=fs)
        ax.set_ylabel("intended emotion", fontsize=fs)
    for ax in list(axes.flat)[n:]:
        ax.axis("off")
    _save(fig, path)


def correlation_heatmap(cor: pd.DataFrame, path: Path) -> None:
    """Spearman rho, items (rows) x metrics (columns), with significance stars."""
    piv = cor.pivot(index="item", columns="metric", values="rho")
    pp = cor.pivot(index="item", columns="metric", values="rho_p_holm").reindex_like(piv)
    fig, ax = plt.subplots(figsize=(1.2 + 1.1 * piv.shape[1], 0.8 + 0.5 * piv.shape[0]),
                           layout="constrained")
    im = ax.imshow(piv.to_numpy(dtype=float), vmin=-1, vmax=1, cmap="RdBu_r")
    for i in range(piv.shape[0]):
        for j in range(piv.shape[1]):
            v, p = piv.iat[i, j], pp.iat[i, j]
            if np.isfinite(v):
                s = f"{v:.2f}" + ("" if not np.isfinite(p) or p >= .05 else stars(p))
                ax.text(j, i, s, ha="center", va="center", fontsize=7)
    ax.set_xticks(range(piv.shape[1]))
    ax.set_xticklabels(piv.columns, rotation=30, fontsize=8)
    ax.set_yticks(range(piv.shape[0]))
    ax.set_yticklabels(piv.index, fontsize=8)
    fig.colorbar(im, ax=ax, label="Spearman rho")
    _save(fig, path)
