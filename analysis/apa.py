"""APA-style result sentences: ``F(3, 141) = 12.34, p < .001, partial eta^2 = .21``."""
from __future__ import annotations

import math


def p_text(p: float) -> str:
    """``p < .001`` or ``p = .032`` (no leading zero, 3 decimals)."""
    if p is None or not math.isfinite(p):
        return "p = n/a"
    if p < 0.001:
        return "p < .001"
    return f"p = {_nz(p, 3)}"


def _nz(v: float, d: int = 2) -> str:
    """Number without leading zero (for values bounded by 1: p, eta^2, r, W)."""
    s = f"{v:.{d}f}"
    return s.replace("0.", ".", 1) if s.startswith(("0.", "-0.")) else s


def _df(v: float) -> str:
    return f"{v:.0f}" if abs(v - round(v)) < 1e-9 else f"{v:.2f}"


def f_test(F: float, df1: float, df2: float, p: float, *, pes: float | None = None,
           ges: float | None = None, note: str = "") -> str:
    """``F(df1, df2) = F, p, partial eta^2[, generalized eta^2]``."""
    s = f"F({_df(df1)}, {_df(df2)}) = {F:.2f}, {p_text(p)}"
    if note:
        s += f" ({note})"
    if pes is not None and math.isfinite(pes):
        s += f", partial eta^2 = {_nz(pes)}"
    if ges is not None and math.isfinite(ges):
        s += f", generalized eta^2 = {_nz(ges)}"
    return s


def chi2_test(chi2: float, df: float, p: float, *, n: int | None = None,
              w: float | None = None) -> str:
    """``chi^2(df[, N = n]) = x, p[, Kendall's W = w]``."""
    head = f"chi^2({_df(df)}" + (f", N = {n})" if n is not None else ")")
    s = f"{head} = {chi2:.2f}, {p_text(p)}"
    if w is not None and math.isfinite(w):
        s += f", Kendall's W = {_nz(w)}"
    return s


def wilcoxon(V: float, z: float, p: float, rb: float, adjust: str = "Holm") -> str:
    """``V = 105, z = 2.55, p = .032 (Holm), r_rb = .75``."""
    zs = f"{z:.2f}" if math.isfinite(z) else "n/a"
    return f"V = {V:g}, z = {zs}, {p_text(p)} ({adjust}), r_rb = {_nz(rb)}"


def t_test(t: float, df: float, p: float, adjust: str = "Holm") -> str:
    """``t(df) = t, p (Holm)``."""
    return f"t({_df(df)}) = {t:.2f}, {p_text(p)} ({adjust})"


def accuracy(acc: float, k: int, n: int, chance: float, p: float) -> str:
    """``72% correct (23/32) vs chance 25%, p < .001 (binomial test)``."""
    return (f"{100 * acc:.0f}% correct ({k}/{n}) vs chance {100 * chance:.0f}%, "
            f"{p_text(p)} (exact binomial test)")
