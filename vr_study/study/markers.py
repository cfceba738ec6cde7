"""Lab Streaming Layer marker stream: trial start, stimulus onset, response.

A stream of type ``Markers``, nominal rate 0 (irregular), one string channel; each sample
is a compact JSON object (``{"event": "stimulus_onset", "trial": 3, ...}``) stamped at the
source with ``pylsl.local_clock()`` (seconds), so EEG and skin-conductance recordings line
up through LSL's clock synchronisation. Tests must restrict liblsl to this machine with
``LSLAPICFG`` (see tests/lsl_loopback.cfg).
"""
from __future__ import annotations

import json
from typing import Any, Protocol


class MarkerSink(Protocol):
    def send(self, event: str, **fields: Any) -> float | None:
        """Send one marker; returns its LSL timestamp (seconds) or None when not sent."""

    def close(self) -> None: ...


class NoMarkers:
    """Marker sink that sends nothing (``--no-lsl``)."""

    def send(self, event: str, **fields: Any) -> float | None:
        return None

    def close(self) -> None:
        pass


class LslMarkers:
    """An LSL outlet of type 'Markers' (rate 0, string channel, source timestamps)."""

    def __init__(self, name: str, source_id: str):
        import pylsl  # heavy: loads liblsl

        self._pylsl = pylsl
        info = pylsl.StreamInfo(name=name, type="Markers", channel_count=1,
                                nominal_srate=pylsl.IRREGULAR_RATE, channel_format=pylsl.cf_string,
                                source_id=source_id)
        info.desc().append_child_value("manufacturer", "vr-study")
        self._outlet = pylsl.StreamOutlet(info)

    def send(self, event: str, **fields: Any) -> float:
        ts = self._pylsl.local_clock()
        self._outlet.push_sample([json.dumps({"event": event, **fields}, sort_keys=True, default=str)], ts)
        return ts

    def close(self) -> None:
        del self._outlet
