"""Block-level items: questionnaires answered once per block (e.g. SAM after each emotion
block), analysed with the factor that defines the block instead of pooled over blocks.

Pooling such answers (one mean over all blocks) hides exactly the effect the block design
was made to show (how participants felt after happy vs neutral clips) and treats repeated
answers of one participant as independent. Here each item gets descriptives per level of
its block factor and the within-subject test of that factor on participant means:
repeated-measures ANOVA (Greenhouse-Geisser) and Friedman.
"""
from __future__ import annotations

import pandas as pd

from analysis.descriptives import describe
from analysis.design import AnalysisError
from analysis.nonparametric import friedman
from analysis.repeated_measures import rm_anova


def block_item_tests(df: pd.DataFrame, dv: str = "rating", subject: str = "participant_id",
                     bounds: tuple[float, float] | None = None) -> list[dict]:
    """Per item (rows of one item, column ``block_factor`` naming its factor):
    ``{"item", "factor", "descriptives", "rm_anova", "friedman", "skipped"}`` (tables as
    DataFrames, None when a test cannot run; ``skipped`` lists the reasons)."""
    out = []
    for item, g in df.groupby("item", sort=True):
        factor = str(g["block_factor"].iloc[0])
        res = {"item": item, "factor": factor,
               "descriptives": describe(g, dv, [factor], subject, bounds),
               "rm_anova": None, "friedman": None, "skipped": []}
        if g[factor].nunique() < 2:
            res["skipped"].append(f"factor '{factor}' has a single level")
        else:
            for key, fn in (("rm_anova", lambda: rm_anova(g, dv, [factor], subject)),
                            ("friedman", lambda: friedman(g, dv, factor, subject))):
                try:
                    res[key] = fn()
                except (AnalysisError, ValueError) as e:
                    res["skipped"].append(f"{key}: {e}")
        out.append(res)
    return out
