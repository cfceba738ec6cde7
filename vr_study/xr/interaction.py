"""Per frame: a panel source's view placed in the world, and pointers routed to it.

Both frame loops (OpenXR and the simulator) call :meth:`PanelInteraction.update` once per
frame with an :class:`~vr_study.xr.input.InputSnapshot`. It asks the
:class:`~vr_study.xr.panel_source.PanelSource` for its view, places a panel when it first
appears (``distance_m`` ahead of the head along its horizontal forward direction,
``drop_m`` below eye height, facing the participant; world-locked until the source shows
no panel), sends one :class:`~vr_study.xr.panel_source.PointerEvent` per hand and one for
``gaze`` (the head's forward ray) and hands the rays to draw to the overlay.

Thumbsticks move the panel's focus like arrow keys (:mod:`vr_study.xr.stick_keys`: one key
per push, repeating while held). After a stick was used, within :data:`STICK_SELECT_S`
seconds, pulling that hand's trigger while its ray is off the panel presses the focused
control (the ``select`` key), so a participant can answer with stick and trigger alone; a
trigger pulled while the ray is on the panel presses what it points at, as before.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vr_study.xr.input import HANDS, HandInput, InputSnapshot
from vr_study.xr.panel_source import PanelSource, PanelView, PointerEvent
from vr_study.xr.raycast import RAY_LENGTH_M, PanelPlacement, forward_ray, intersect_panel, place_panel
from vr_study.xr.stick_keys import StickKeys

#: Seconds after a hand's last thumbstick key during which its trigger, pulled with the ray
#: off the panel, presses the focused control.
STICK_SELECT_S = 10.0


@dataclass(frozen=True)
class PointerHit:
    """Where one pointer's ray went this frame: ``uv`` on the panel or None; ``end`` (3,)
    STAGE metres (the hit point, or :data:`RAY_LENGTH_M` along the ray)."""

    source: str
    uv: tuple[float, float] | None
    start: tuple[float, float, float]
    end: tuple[float, float, float]


class PanelInteraction:
    """Routes one frame's input to ``source`` and keeps the panel's world placement."""

    def __init__(self, source: PanelSource):
        self.source = source
        self.view: PanelView | None = None
        self.placement: PanelPlacement | None = None
        self.hits: dict[str, PointerHit] = {}
        self.keys: list[str] = []       # keys sent to the source this frame (thumbsticks, triggers)
        self._sticks = StickKeys()
        self._stick_at: dict[str, float] = {}    # hand -> time of its last thumbstick key (s)

    def update(self, snap: InputSnapshot) -> list[tuple[np.ndarray, np.ndarray, bool]]:
        """One frame: returns the rays to draw (start, end, hit dot) for tracked hands."""
        view = self.source.view(snap.time_s)
        self.keys = []
        if view is None:
            self.placement = None
            self._sticks.reset()
            self._stick_at.clear()
        elif self.placement is None and snap.head is not None:
            self.placement = place_panel(snap.head, view.width_m, view.height_m, view.distance_m, view.drop_m)
        elif self.placement is not None and (view.width_m, view.height_m) != (self.placement.width_m,
                                                                              self.placement.height_m):
            p = self.placement  # same place, new size (a taller page)
            self.placement = PanelPlacement(p.center, p.yaw_rad, view.width_m, view.height_m)
        self.view = view
        panel = self.placement if view is not None else None
        rays = []
        self.hits = {}
        for name in HANDS:
            hand = snap.hand(name)
            uv = None
            if hand.aim is not None:
                origin, direction = forward_ray(hand.aim)
                hit = intersect_panel(origin, direction, panel) if panel is not None else None
                end = origin + direction * (hit[1] if hit else RAY_LENGTH_M)
                uv = hit[0] if hit else None
                rays.append((origin, end, hit is not None))
                self.hits[name] = PointerHit(name, uv, tuple(origin), tuple(end))
            self.source.pointer(PointerEvent(name, uv, bool(hand.select), snap.time_s))
            if panel is not None:
                self._stick_keys(name, hand, uv, snap.time_s)
        gaze_uv = None
        if snap.head is not None and panel is not None:
            origin, direction = forward_ray(snap.head)
            hit = intersect_panel(origin, direction, panel)
            if hit is not None:
                gaze_uv = hit[0]
                self.hits["gaze"] = PointerHit("gaze", gaze_uv, tuple(origin), tuple(origin + direction * hit[1]))
        self.source.pointer(PointerEvent("gaze", gaze_uv, False, snap.time_s))
        return rays

    def _stick_keys(self, name: str, hand: HandInput, uv: tuple[float, float] | None, time_s: float) -> None:
        """Thumbstick pushes as arrow keys; the trigger off the panel soon after as ``select``."""
        keys = self._sticks.update(name, hand.thumbstick, time_s)
        if keys:
            self._stick_at[name] = time_s
        if hand.select_pressed and uv is None and time_s - self._stick_at.get(name, -float("inf")) <= STICK_SELECT_S:
            keys.append("select")
        for key in keys:
            self.source.key(key, time_s)
        self.keys += keys
