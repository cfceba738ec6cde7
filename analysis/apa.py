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


# --- rendering: plain (Markdown, JSON) -> HTML / LaTeX, and prose paragraphs -----------------
#
# The functions above write plain ASCII ("F(3, 45) = 2.10, p = .032, partial eta^2 = .12");
# results.json and Markdown keep that form. HTML and LaTeX get APA typography: italic
# statistic symbols (F, t, p, z, V, N, W, r), eta squared with subscript p (partial) or G
# (generalized), chi squared, epsilon, and a multiplication sign in interaction terms.
# In HTML the eta's sub- and superscript are wrapped in <span class="ss"> so a style sheet
# can stack them (the report's does); without one they read as eta^2 p.

import html as _html  # noqa: E402
import re as _re  # noqa: E402

_SYMBOLS = [  # (plain regex, HTML, LaTeX); applied after escaping, in this order
    (r"partial eta\^2", '&eta;<span class="ss"><sup>2</sup><sub>p</sub></span>', r"$\\eta^2_p$"),
    (r"generalized eta\^2", '&eta;<span class="ss"><sup>2</sup><sub>G</sub></span>',
     r"$\\eta^2_G$"),
    (r"\bchi\^2", "&chi;<sup>2</sup>", r"$\\chi^2$"),
    (r"\beps =", "&epsilon; =", r"$\\varepsilon$ ="),
    (r"\br_rb\b", "<i>r</i><sub>rb</sub>", r"$r_{\\mathrm{rb}}$"),
    (r"Kendall's W", "Kendall's <i>W</i>", r"Kendall's $W$"),
    (r"\b([FtT])\(", r"<i>\1</i>(", r"$\1$("),
    (r"\b([pzVN]) (=|&lt;|<|&gt;|>)", r"<i>\1</i> \2", r"$\1 \2$"),
]


def to_html(text: str) -> str:
    """An APA sentence or paragraph as HTML (escaped, with italic symbols)."""
    s = _html.escape(text, quote=False)
    for rx, h, _ in _SYMBOLS:
        s = _re.sub(rx, h, s)
    return s.replace(" x ", " &times; ")


_TEX = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
        "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\^{}"}


def to_latex(text: str) -> str:
    """An APA sentence or paragraph as LaTeX text (escaped, symbols in math mode)."""
    s = text
    protected = []
    for rx, _, tex in _SYMBOLS:  # replace symbols by placeholders before escaping
        def keep(m, tex=tex):
            protected.append(m.expand(tex))
            return f"\x00{len(protected) - 1}\x00"
        s = _re.sub(rx, keep, s)
    s = "".join(_TEX.get(ch, ch) for ch in s)
    s = s.replace("<", "$<$").replace(">", "$>$").replace(" x ", r" $\times$ ")
    return _re.sub("\x00(\\d+)\x00", lambda m: protected[int(m.group(1))], s)


_P = _re.compile(r"\bp ([<=]) (\d*\.\d+)")


def _significant(stats_text: str, alpha: float = 0.05) -> bool | None:
    m = _P.search(stats_text)
    if not m:
        return None
    return m.group(1) == "<" or float(m.group(2)) < alpha


def _effect(term: str) -> str:
    if ":" in term:
        return "the " + " x ".join(term.split(":")) + " interaction"
    return f"the main effect of {term}"


def paragraphs(sentences: list[str], alpha: float = 0.05) -> list[str]:
    """Group ``"subject, test, term: statistics"`` sentences into one prose paragraph per
    subject and test, in plain text (render with :func:`to_html` / :func:`to_latex`).

    Effects read "The main effect of method was significant, F(...) = ..., p < .001, ...";
    pairwise and per-cell results read "EMAGE vs TalkSHOW: V = ...".
    """
    groups: dict[tuple[str, str], list[tuple[str, str]]] = {}
    for s in sentences:
        head, sep, stats_text = s.partition(": ")
        if not sep:
            continue
        parts = [x.strip() for x in head.split(", ")]
        if len(parts) >= 3:
            subject, test, term = parts[0], ", ".join(parts[1:-1]), parts[-1]
        elif len(parts) == 2:
            subject, test, term = parts[0], "accuracy vs chance", parts[1]
        else:
            continue
        groups.setdefault((subject, test), []).append((term, stats_text))
    out = []
    for (subject, test), rows in groups.items():
        body = []
        for term, st in rows:
            sig = _significant(st, alpha)
            pairwise = " vs " in term or "/" in term
            if pairwise or sig is None:
                body.append(f"{term.replace('/', ', ')}: {st}.")
            else:
                word = "was significant" if sig else "was not significant"
                body.append(f"{_effect(term)[0].upper()}{_effect(term)[1:]} {word}, {st}.")
        out.append(f"{subject[:1].upper()}{subject[1:]} ({test}). " + " ".join(body))
    return out
