"""XrTime -> CLOCK_MONOTONIC seconds for runtimes without XR_KHR_convert_timespec_time.

With the extension the runtime converts its own times (exact). Without it, the mapping is
calibrated from the frame loop itself: each ``xrWaitFrame`` returns the runtime's
predicted display time ``P`` (XrTime, ns) and period, and we note the monotonic time ``r``
at which it returned. ``r - P`` is the clock offset minus how far ahead of the display the
runtime releases the application, plus scheduling delay (never negative). The smallest
``r - P`` over the last :attr:`WaitFrameClock.window` frames removes the scheduling delay;
adding :attr:`WaitFrameClock.lead_periods` predicted display periods (how long before the
frame it predicts the runtime wakes the application: two periods, one to render and one to
composite, the pipelining of Monado's default pacing and of the project's headless
runtime) gives the offset. That lead cannot be measured without the extension; a runtime
that wakes the application earlier or later shifts every display time by the difference
(one 90 Hz period is 11.1 ms), so prefer runtimes that offer the extension. Every display time
then is the runtime's own prediction ``P`` shifted by that offset, so frame-to-frame
spacing is the runtime's exactly, and the offset follows slow clock drift.
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field


@dataclass
class WaitFrameClock:
    """Offset between XrTime and CLOCK_MONOTONIC, learned from ``xrWaitFrame`` returns.

    ``lead_periods``: display periods between ``xrWaitFrame`` returning and the display time
    it predicts; ``window``: frames over which the smallest ``r - P`` is taken.
    """

    lead_periods: float = 2.0
    window: int = 90
    _gaps: deque = field(default_factory=deque, repr=False)
    _period_s: float = 0.0

    def observe(self, returned_monotonic_s: float, predicted_display_ns: int, period_ns: int) -> None:
        """Record one ``xrWaitFrame``: when it returned (s, monotonic) and what it predicted."""
        self._gaps.append(returned_monotonic_s - predicted_display_ns * 1e-9)
        while len(self._gaps) > self.window:
            self._gaps.popleft()
        if period_ns > 0:
            self._period_s = period_ns * 1e-9

    @property
    def calibrated(self) -> bool:
        return bool(self._gaps)

    @property
    def offset_s(self) -> float:
        """CLOCK_MONOTONIC minus XrTime, seconds (after at least one :meth:`observe`)."""
        if not self._gaps:
            raise RuntimeError("observe an xrWaitFrame first")
        return min(self._gaps) + self.lead_periods * self._period_s

    def to_monotonic_s(self, xr_time_ns: int) -> float:
        """The monotonic time (s) of the XrTime ``xr_time_ns``."""
        return xr_time_ns * 1e-9 + self.offset_s
