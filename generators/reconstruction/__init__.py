"""Reconstruction baseline: SMPL-X motion from a video of a real person.

MediaPipe Holistic finds body, hand and face landmarks in every frame
(:mod:`.landmarks`); SMPL-X body, hands, jaw and expression are fitted to them over the
whole sequence (:mod:`.fit`, through the keypoint-only model of :mod:`.keypoints`); the
result is resampled to the output rate (:mod:`.pipeline`). PIXIE/DECA results are read by
:mod:`vr_study.formats.pixie`.
"""
from .fit import FitOptions, FitResult, fit_landmarks
from .pipeline import ReconstructOptions, extract_landmarks, reconstruct

__all__ = ["FitOptions", "FitResult", "ReconstructOptions", "extract_landmarks", "fit_landmarks", "reconstruct"]
