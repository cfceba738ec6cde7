"""The contract between a scene and an interactive panel shown in it (in-VR questionnaires).

The XR renderer (and the WebXR page) only draw a panel's image on a world-locked quad and
report where pointers hit it; what the panel shows and what a press does belongs to the
panel source (``questionnaires`` implements one for instruments). Nothing here knows about
questionnaires, so ``vr_study`` core stays below them.

Panel coordinates: ``u`` from 0 (left edge) to 1 (right edge), ``v`` from 0 (top edge) to
1 (bottom edge) of the panel image.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

POINTER_SOURCES = ("right", "left", "gaze", "keyboard", "mouse")
"""Where pointer events come from: a controller or tracked hand (``right``/``left``), the
head's forward ray (``gaze``, answered by dwelling), the simulator's keys or mouse."""

PANEL_KEYS = ("up", "down", "left", "right", "select", "back")
"""Keys a panel understands (the desktop simulator's arrow keys, Enter and Backspace)."""


@dataclass(frozen=True)
class PanelView:
    """What a panel shows now.

    ``image_rgba``: (H, W, 4) uint8, sRGB, row 0 at the top. ``width_m``: physical width in
    metres (height = ``width_m * H / W``). ``version`` increases whenever the image changes
    (the renderer uploads the texture again only then). ``distance_m``: how far in front of
    the participant's head the panel is placed when it first appears (world-locked from
    then on); ``drop_m``: how far below eye height its centre sits.
    """

    image_rgba: np.ndarray
    width_m: float
    version: int
    distance_m: float = 0.8
    drop_m: float = 0.1

    @property
    def height_m(self) -> float:
        h, w = self.image_rgba.shape[:2]
        return self.width_m * h / w


@dataclass(frozen=True)
class PointerEvent:
    """One pointer's state at one frame.

    ``uv``: where its ray hits the panel (see module docstring), None when it misses.
    ``select``: the select input is held (trigger, pinch; a level, not an edge: panel
    sources detect presses themselves). ``time_s``: CLOCK_MONOTONIC seconds.
    """

    source: str
    uv: tuple[float, float] | None
    select: bool
    time_s: float


class PanelSource(Protocol):
    """Something that shows a panel and reacts to pointers and keys."""

    def view(self, now_s: float) -> PanelView | None:
        """The panel to show at ``now_s`` (CLOCK_MONOTONIC s), or None for no panel.
        Called once per frame: must return quickly (cache; no blocking I/O)."""

    def pointer(self, event: PointerEvent) -> None:
        """A pointer's state this frame (called for each pointer source every frame)."""

    def key(self, key: str, now_s: float) -> None:
        """A key press (one of :data:`PANEL_KEYS`)."""
