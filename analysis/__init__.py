"""Statistics for VR animation studies: from the tidy export to a published report.

Python API (long-format DataFrames in, DataFrames out; same numbers as
``vr-study analyze``)::

    import analysis
    analysis.art(df, "value", ["method", "emotion"], "participant_id")
    analysis.art_contrasts(df, "value", ["method", "emotion"], "participant_id",
                           "method:emotion", adjust="holm")
    analysis.rm_anova(df, "value", ["method", "emotion"], "participant_id")
    fit = analysis.mixedlm(df, analysis.factorial_formula("value", ["method", "emotion"]),
                           "participant_id", vc={"clip": "clip_id"})
    fit.tests, fit.emmeans("method"), fit.pairwise("method")
    fit = analysis.study_model(df, "value", ["method", "emotion"], "participant_id",
                               clip="clip_id")   # LRT-simplified (simplify="lrt"); fit.structure, fit.steps
    analysis.clmm(df, "value", ["method", "emotion"], "participant_id")
    analysis.recognition_glmm(rec, clip="clip_id")     # binomial GLMM (Laplace)
    analysis.friedman(df, "value", "method", "participant_id")
    analysis.wilcoxon_pairwise(df, "value", "method", "participant_id")
    analysis.build_report(analysis.simulate_study(48, seed=1), "report/")

Heavy modules (statsmodels, matplotlib) load on first use.
"""
from __future__ import annotations

import importlib

_EXPORTS = {
    "art": "analysis.aligned_rank", "art_contrasts": "analysis.aligned_rank",
    "art_checks": "analysis.aligned_rank", "adjust_p": "analysis.multiplicity",
    "art_arrays": "analysis.aligned_rank", "cell_means": "analysis.strata",
    "calibrate": "analysis.calibration", "power": "analysis.power",
    "rm_anova": "analysis.repeated_measures",
    "mixedlm": "analysis.mixed", "factorial_formula": "analysis.mixed",
    "MixedLMResult": "analysis.mixed", "study_model": "analysis.mixed",
    "friedman": "analysis.nonparametric", "wilcoxon_pairwise": "analysis.nonparametric",
    "ordered_logit": "analysis.ordinal", "ordinal_gee": "analysis.ordinal",
    "clmm": "analysis.ordinal", "glmm_binomial": "analysis.glmm",
    "GLMMResult": "analysis.glmm",
    "recognition_glmm": "analysis.recognition",
    "accuracy": "analysis.recognition", "confusion": "analysis.recognition",
    "gee_binomial": "analysis.recognition",
    "cronbach_alpha": "analysis.reliability",
    "objective_correlations": "analysis.objective",
    "describe": "analysis.descriptives",
    "simulate_study": "analysis.simulate", "simulate_metrics": "analysis.simulate",
    "build_report": "analysis.report", "ReportOptions": "analysis.report",
    "load_responses": "analysis.tidy",
    "read_responses": "analysis.tidy", "declared_scales": "analysis.reliability",
    "scale_reliability": "analysis.reliability", "block_item_tests": "analysis.block_items",
    "AnalysisError": "analysis.design",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'analysis' has no attribute {name!r}")
