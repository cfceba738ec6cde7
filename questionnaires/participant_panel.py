"""A participant's headset panel: waits for their session, then shows its questionnaires.

``vr-study xr run --questionnaires STUDY --participant P07`` may start before the
experimenter starts P07's session (the headset is usually put on first). Until the session
exists, :class:`ParticipantPanel` shows a card "Waiting for the session of participant P07
to start"; a background thread polls the database (every ``poll_s``, default 0.5 s) and, once
the session is there, hands everything to a
:class:`~questionnaires.headset_panel.QuestionnairePanel` for it. It keeps polling: when the
experimenter starts the participant over (``session run --restart``: the old session is
superseded), the panel moves to the new session.

After the switch the panel shows nothing until the session's first headset questionnaire
opens, so that panel is placed in front of the participant's head as it is then (the
renderer places a panel where the head looks when it appears), not where the headset was
when the waiting card came up.
"""
from __future__ import annotations

import dataclasses
import logging
import threading
from typing import Any, Callable, Mapping

import numpy as np

from questionnaires.headset_panel import QuestionnairePanel
from questionnaires.instruments import Instrument
from questionnaires.panel_layout import PanelGeometry, card
from vr_study.storage import StudyDatabase
from vr_study.xr.panel_source import PanelView, PointerEvent

log = logging.getLogger(__name__)

#: Seconds between database polls for the participant's session.
POLL_S = 0.5


def waiting_text(participant_id: str) -> tuple[str, str]:
    """(title, text) of the card shown until the participant's session exists."""
    return ("Please wait", f"Waiting for the session of participant {participant_id} to start.")


class ParticipantPanel:
    """The headset panel of ``participant_id`` (a :class:`~vr_study.xr.panel_source.PanelSource`).

    ``participant_id``: as checked by :meth:`StudyDatabase.check_participant_id`. ``make_panel``:
    session id -> the session's panel (default: a :class:`QuestionnairePanel` with
    ``geometry`` and ``client``). ``start=False`` leaves the polling thread to :meth:`start`.
    """

    def __init__(self, db: StudyDatabase, instruments: Mapping[str, Instrument], participant_id: str, *,
                 geometry: PanelGeometry | None = None, client: str = "headset", poll_s: float = POLL_S,
                 make_panel: Callable[[int], Any] | None = None, start: bool = True):
        self.db, self.participant_id = db, participant_id
        self.geometry = geometry or PanelGeometry()
        self.poll_s = float(poll_s)
        self._make = make_panel or (lambda sid: QuestionnairePanel(db, instruments, sid, geometry=self.geometry,
                                                                   client=client))
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._panel: Any = None
        self._session_id: int | None = None
        title, text = waiting_text(participant_id)
        g = self.geometry
        self._waiting = PanelView(np.asarray(card(g, title, text), dtype=np.uint8), g.width_m, 1,
                                  g.distance_m, g.drop_m)
        self._version = 1                 # PanelView.version as this source numbers them
        self._last: tuple[Any, int] | None = None     # (panel, its version) behind the last view
        self._last_view: PanelView | None = None
        self._pick()                      # a session that already exists is used at once
        if start:
            self.start()

    # -- life cycle -----------------------------------------------------------------------
    def start(self) -> None:
        """Start polling the database for the participant's (newest) session."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="participant-panel", daemon=True)
            self._thread.start()

    def close(self, timeout_s: float = 5.0) -> None:
        """Stop polling and close the session's panel."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
        with self._lock:
            panel, self._panel = self._panel, None
        if panel is not None:
            panel.close(timeout_s)

    def __enter__(self) -> "ParticipantPanel":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    @property
    def session_id(self) -> int | None:
        """The session whose questionnaires are shown (None: still waiting for it)."""
        with self._lock:
            return self._session_id

    @property
    def panel(self) -> Any:
        """The session's panel (None while waiting)."""
        with self._lock:
            return self._panel

    # -- PanelSource ------------------------------------------------------------------------
    def view(self, now_s: float) -> PanelView | None:
        """The waiting card, or the session panel's view (renumbered so versions keep rising)."""
        with self._lock:
            panel = self._panel
        if panel is None:
            view, key = self._waiting, (None, 1)
        else:
            view = panel.view(now_s)
            if view is None:
                return None
            key = (panel, view.version)
        with self._lock:
            if self._last is None or self._last[0] is not key[0] or self._last[1] != key[1]:
                self._version += 1
                self._last = key
                self._last_view = dataclasses.replace(view, version=self._version)
            return self._last_view

    def pointer(self, event: PointerEvent) -> None:
        panel = self.panel
        if panel is not None:
            panel.pointer(event)

    def key(self, key: str, now_s: float) -> None:
        panel = self.panel
        if panel is not None:
            panel.key(key, now_s)

    # -- background thread -------------------------------------------------------------------
    def _run(self) -> None:
        while not self._stop.wait(self.poll_s):
            try:
                self._pick()
            except Exception:  # noqa: BLE001 - a database hiccup must not end the panel; retried next poll
                log.exception("participant panel: polling for the session failed")

    def _pick(self) -> None:
        """Switch to the participant's newest session that is not superseded, if it is new."""
        sessions = [s for s in self.db.sessions_for(self.participant_id) if s.status != "superseded"]
        if not sessions or sessions[-1].session_id == self._session_id:
            return
        sid = sessions[-1].session_id
        log.info("participant panel: showing the questionnaires of session %s (%s)", sid, self.participant_id)
        new = self._make(sid)
        with self._lock:
            old, self._panel, self._session_id = self._panel, new, sid
        if old is not None:
            old.close()
