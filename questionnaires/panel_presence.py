"""Whether a headset panel is showing a session's questionnaires: a heartbeat in the database.

A :class:`~questionnaires.headset_panel.QuestionnairePanel` whose image a front end draws
(``vr-study xr run --questionnaires``, or the WebXR page while its WebSocket is open: both
call ``view()`` every frame) writes the ``meta`` key ``headset_panel:<session id>`` every
:data:`HEARTBEAT_S` seconds: JSON with the panel's ``client`` (``headset`` for ``xr run``,
``webxr`` for the page), ``seen_at`` (Unix time, seconds) and the prompt it shows. When the
panel closes it writes ``closed: true``. The experimenter page reads it
(:func:`read_presence`): a panel seen within :data:`STALE_S` seconds is connected.

The times are wall-clock seconds of the machine that runs the panel; with a database shared
between machines (PostgreSQL) their clocks should agree to within a second or two (NTP).
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

#: Seconds between heartbeats while a front end draws the panel.
HEARTBEAT_S = 1.0
#: A heartbeat older than this many seconds means no front end draws the panel any more.
STALE_S = 5.0
#: Front ends as the experimenter page names them (the panel's ``client``).
CLIENT_LABELS = {"headset": "vr-study xr run", "webxr": "WebXR page"}


def presence_key(session_id: int) -> str:
    """The ``meta`` key of a session's panel heartbeat."""
    return f"headset_panel:{int(session_id)}"


def write_presence(db: Any, session_id: int, client: str, prompt_id: int | None, *, closed: bool = False,
                   now_unix_s: float | None = None) -> None:
    """Record that a front end draws the session's panel now (``closed``: it stopped)."""
    db.set_meta(presence_key(session_id), json.dumps(
        {"client": client, "seen_at": time.time() if now_unix_s is None else float(now_unix_s),
         "prompt_id": prompt_id, "closed": bool(closed)}, sort_keys=True))


@dataclass(frozen=True)
class PanelPresence:
    """The last heartbeat of a session's panel.

    ``age_s``: seconds since it (at the time of reading); ``connected``: a front end drew the
    panel within :data:`STALE_S` seconds and did not close it; ``prompt_id``: the prompt it
    showed (None: none open for the headset).
    """

    client: str
    seen_at_unix_s: float
    age_s: float
    prompt_id: int | None
    closed: bool

    @property
    def connected(self) -> bool:
        return not self.closed and self.age_s <= STALE_S

    @property
    def label(self) -> str:
        """The front end in words (``vr-study xr run``, ``WebXR page``, or the client as stored)."""
        return CLIENT_LABELS.get(self.client, self.client)


def read_presence(db: Any, session_id: int, now_unix_s: float | None = None) -> PanelPresence | None:
    """The session's last panel heartbeat, or None when no panel was ever drawn for it."""
    raw = db.get_meta(presence_key(session_id))
    if not raw:
        return None
    try:
        d = json.loads(raw)
        seen = float(d["seen_at"])
    except (ValueError, KeyError, TypeError):
        return None
    now = time.time() if now_unix_s is None else float(now_unix_s)
    pid = d.get("prompt_id")
    return PanelPresence(str(d.get("client") or "headset"), seen, max(0.0, now - seen),
                         int(pid) if isinstance(pid, int) else None, bool(d.get("closed")))
