"""A controller's thumbstick as the panel's arrow keys.

Pushing a thumbstick (or a Vive trackpad, which OpenXR reports the same way) past
:data:`PRESS` in one direction gives one key (``up``/``down``/``left``/``right``: the axis
pushed furthest; OpenXR's +y is forward, i.e. ``up``); holding it repeats the key after
:data:`REPEAT_DELAY_S` every :data:`REPEAT_EVERY_S` seconds, as a keyboard does; it counts
as released below :data:`RELEASE` (hysteresis, so a stick resting near the threshold does
not chatter). Pure logic on (x, y) samples; :class:`vr_study.xr.interaction.PanelInteraction`
feeds it every frame.
"""
from __future__ import annotations

from dataclasses import dataclass, field

#: Deflection (0..1, along the axis pushed furthest) that presses a direction.
PRESS = 0.6
#: Deflection below which a pressed direction is released.
RELEASE = 0.3
#: Seconds a direction is held before it repeats, then seconds between repeats.
REPEAT_DELAY_S = 0.5
REPEAT_EVERY_S = 0.2


def stick_direction(x: float, y: float) -> tuple[str, float]:
    """The key of the axis pushed furthest and how far (0..1): ``(key, deflection)``."""
    if abs(x) > abs(y):
        return ("right" if x > 0 else "left"), abs(x)
    return ("up" if y > 0 else "down"), abs(y)


@dataclass
class StickKeys:
    """Turns per-frame thumbstick samples of each hand into key presses."""

    _held: dict[str, tuple[str, float]] = field(default_factory=dict)   # hand -> (key, next repeat time s)

    def update(self, hand: str, stick: tuple[float, float], time_s: float) -> list[str]:
        """Keys this frame for ``hand`` (0 or 1 of them). ``time_s``: monotonic seconds."""
        key, amount = stick_direction(float(stick[0]), float(stick[1]))
        held = self._held.get(hand)
        if held is not None and (amount < RELEASE or (key != held[0] and amount >= PRESS)):
            del self._held[hand]                       # released (or swung over to another direction)
            held = None
        if held is None:
            if amount >= PRESS:
                self._held[hand] = (key, time_s + REPEAT_DELAY_S)
                return [key]
            return []
        if time_s >= held[1]:
            due = held[1] + REPEAT_EVERY_S                 # on the grid; after a stall, from now (no burst)
            self._held[hand] = (held[0], due if due > time_s else time_s + REPEAT_EVERY_S)
            return [held[0]]
        return []

    def reset(self) -> None:
        """Forget held directions (the panel went away)."""
        self._held.clear()
