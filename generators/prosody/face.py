"""Which expression coefficient moves which part of the face: the generator's one mapping.

The generator drives named face controls (mouth open, smile, cheek raise, brow raise,
blink, mouth wide/round). Real SMPL-X/FLAME expression components have no fixed meaning,
so vr-study's default body names its expression basis (``vr_study.body.EXPRESSION_NAMES``)
and a control drives the coefficient whose name is one of the control's aliases below.
With a real SMPL-X model the same coefficient indices are used, but they do not have
these meanings there. Coefficients are unitless, about -2..2 at the extremes.
"""
from __future__ import annotations

from vr_study.body import EXPRESSION_NAMES

#: generator control -> names it may have in the body's expression list (first found wins)
CONTROL_ALIASES: dict[str, tuple[str, ...]] = {
    "mouth_open": ("mouth_open", "jaw_open"),
    "smile": ("smile", "mouth_smile"),
    "cheek_raise": ("cheek_raise", "cheeks_up"),
    "brow_raise": ("brows_up", "brow_raise", "brow_up"),
    "blink": ("blink", "eyes_closed", "eye_blink"),  # AU45: the default body's lids close over the eyes
    "mouth_wide": ("mouth_stretch", "mouth_wide", "lips_wide"),
    "mouth_round": ("lip_pucker", "mouth_round", "pucker"),
}


def control_indices(names: tuple[str, ...] | None = None) -> dict[str, int]:
    """control -> expression coefficient index, for the controls the basis has."""
    names = tuple(n.lower() for n in (names or EXPRESSION_NAMES))
    out = {}
    for control, aliases in CONTROL_ALIASES.items():
        for a in aliases:
            if a in names:
                out[control] = names.index(a)
                break
    return out
