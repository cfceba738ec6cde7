"""vr_study."""
