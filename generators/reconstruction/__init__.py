"""Reconstruction baseline: SMPL-X motion from a video of a real person (MediaPipe + fit)."""
