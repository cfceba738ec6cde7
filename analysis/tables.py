"""Write result tables as CSV, Markdown and LaTeX (no extra dependencies)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from vr_study.atomic import atomic_write_text


def _fmt(v) -> str:
    if isinstance(v, (float, np.floating)):
        if not np.isfinite(v):
            return "" if np.isnan(v) else ("inf" if v > 0 else "-inf")
        if v != 0 and (abs(v) < 1e-3 or abs(v) >= 1e5):
            return f"{v:.3g}"
        return f"{v:.3f}"
    if isinstance(v, (bool, np.bool_)):
        return "yes" if v else "no"
    return str(v)


def to_markdown(df: pd.DataFrame) -> str:
    """GitHub-flavoured Markdown table (numbers to 3 decimals / 3 significant digits)."""
    cols = [str(c) for c in df.columns]
    esc = lambda s: s.replace("|", "\\|")  # noqa: E731
    lines = ["| " + " | ".join(esc(c) for c in cols) + " |",
             "|" + "|".join("---" for _ in cols) + "|"]
    for row in df.itertuples(index=False):
        lines.append("| " + " | ".join(esc(_fmt(v)) for v in row) + " |")
    return "\n".join(lines) + "\n"


def _tex_escape(s: str) -> str:
    for a, b in (("\\", r"\textbackslash{}"), ("&", r"\&"), ("%", r"\%"), ("$", r"\$"),
                 ("#", r"\#"), ("_", r"\_"), ("{", r"\{"), ("}", r"\}"), ("^", r"\^{}"),
                 ("~", r"\~{}")):
        s = s.replace(a, b)
    return s


#: column names shown with APA symbols in LaTeX and HTML tables (CSV/Markdown keep the names)
SYMBOLS = {"F": (r"$F$", "<i>F</i>"), "p": (r"$p$", "<i>p</i>"), "t": (r"$t$", "<i>t</i>"),
           "z": (r"$z$", "<i>z</i>"), "V": (r"$V$", "<i>V</i>"), "SE": (r"\textit{SE}", "<i>SE</i>"),
           "chi2": (r"$\chi^2$", "&chi;<sup>2</sup>"),
           "partial_eta2": (r"$\eta^2_p$", "&eta;<sup>2</sup><sub>p</sub>"),
           "ges": (r"$\eta^2_G$", "&eta;<sup>2</sup><sub>G</sub>"),
           "kendall_w": (r"Kendall's $W$", "Kendall's <i>W</i>")}


def _tex_head(c) -> str:
    return SYMBOLS[c][0] if c in SYMBOLS else _tex_escape(str(c))


def to_latex(df: pd.DataFrame, caption: str = "") -> str:
    """A booktabs ``table`` environment (needs \\usepackage{booktabs})."""
    align = "".join("r" if pd.api.types.is_numeric_dtype(df[c]) else "l" for c in df.columns)
    out = [r"\begin{table}[ht]", r"\centering"]
    if caption:
        out.append(rf"\caption{{{_tex_escape(caption)}}}")
    out += [rf"\begin{{tabular}}{{{align}}}", r"\toprule",
            " & ".join(_tex_head(c) for c in df.columns) + r" \\", r"\midrule"]
    for row in df.itertuples(index=False):
        out.append(" & ".join(_tex_escape(_fmt(v)) for v in row) + r" \\")
    out += [r"\bottomrule", r"\end{tabular}", r"\end{table}"]
    return "\n".join(out) + "\n"


def to_html(df: pd.DataFrame) -> str:
    """A plain HTML table with the same number formatting as the Markdown table."""
    import html
    head = "".join(f"<th>{SYMBOLS[c][1] if c in SYMBOLS else html.escape(str(c))}</th>"
                   for c in df.columns)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(_fmt(v))}</td>" for v in row) + "</tr>"
                   for row in df.itertuples(index=False))
    return f'<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def write_table(df: pd.DataFrame, directory: Path, name: str, caption: str = "") -> dict:
    """Write name.csv, name.md and name.tex; returns their paths relative to directory's parent."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = {}
    atomic_write_text(directory / f"{name}.csv", df.to_csv(index=False))
    atomic_write_text(directory / f"{name}.md", to_markdown(df))
    atomic_write_text(directory / f"{name}.tex", to_latex(df, caption))
    for ext in ("csv", "md", "tex"):
        paths[ext] = f"{directory.name}/{name}.{ext}"
    return paths
