"""Questionnaires answered inside the headset: a :class:`~vr_study.xr.panel_source.PanelSource`.

:class:`QuestionnairePanel` shows one session's open prompts that the spec routes to the
headset (``questionnaires.mode: headset``, or the instrument listed under
``questionnaires.headset``; the prompt's context says ``answer_in: headset``), oldest first,
as a world-locked panel (:mod:`questionnaires.panel_layout`: text sized in degrees of
visual angle for the headset's resolution).

Answering:

- a controller or tracked hand (``right``/``left``) or the simulator's mouse: point and
  press select (trigger, pinch, click); a press counts on its rising edge, per source;
- gaze (``gaze``): look at an answer for :data:`DWELL_S` seconds; a yellow bar under it
  fills while you dwell; look away and back to dwell again. Dwell is paused while a hand
  points at the panel (and for :data:`HAND_GRACE_S` after), so controller users do not
  select what they happen to look at;
- keys (``up``/``down`` move between items and the buttons, ``left``/``right`` between the
  options of an item, ``select`` presses, ``back`` goes to the previous page).

A screen too long for one panel is split into pages. **Next** checks the page (every
required item answered) and commits the page's answers to the database before the panel
advances (a draft in the ``meta`` table, key ``panel_draft:<prompt id>``); the last page's
submit button stores the whole screen through :mod:`questionnaires.submission`, the same
path and checks as the tablet (a half-filled screen is refused and shows "Please answer all
items" with the missing items framed in red). A panel process that crashes and restarts
shows the same open prompt again at its first uncommitted page, with the committed answers
selected, and submits with the same submission id (a screen is never stored twice).

Threads: the renderer calls :meth:`view`, :meth:`pointer` and :meth:`key` every frame; they
only touch memory (microseconds). A background thread polls the database (every
``poll_s``, default 0.25 s), lays out new prompts and does every write; a drawing thread
redraws the image after each visible change (hover, selection, dwell progress, page) and
publishes it for :meth:`view`. While a front end calls :meth:`view`, the background thread
also writes a heartbeat once a second (:mod:`questionnaires.panel_presence`), which the
experimenter page shows as "headset panel connected".
"""
from __future__ import annotations

import json
import logging
import queue
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np

from questionnaires.instruments import Instrument
from questionnaires.panel_layout import (ERROR, MUTED, Control, PageLayout, PanelGeometry, card, compose, paginate,
                                         panel_supported, render_page)
from questionnaires.panel_presence import HEARTBEAT_S, write_presence
from questionnaires.scoring import AnswerError, validate_answers
from questionnaires.submission import HEADSET, ScreenRefused, answer_channel, submit_screen
from vr_study.storage import GroupCommitter, Prompt, StudyDatabase
from vr_study.xr.panel_source import PANEL_KEYS, POINTER_SOURCES, PanelView, PointerEvent

log = logging.getLogger(__name__)

#: Seconds of looking at an answer that select it (gaze-and-dwell).
DWELL_S = 1.2
#: Gaze dwell pauses while a hand (controller, tracked hand, mouse) pointed at the panel within
#: this many seconds: someone answering with a controller does not select what they look at.
HAND_GRACE_S = 2.0
#: Seconds between database polls for new or closed prompts.
POLL_S = 0.25
#: Seconds the "saved" card stays up after a screen is stored (unless the next prompt comes).
SAVED_CARD_S = 1.5
#: The message shown when a page or screen is submitted with items unanswered.
INCOMPLETE_MESSAGE = "Please answer all items"


def draft_key(prompt_id: int) -> str:
    """The ``meta`` key of a prompt's committed pages (JSON: answers, page, submission id)."""
    return f"panel_draft:{int(prompt_id)}"


@dataclass
class _Screen:
    """The prompt being answered and the panel's progress through it."""

    prompt: Prompt
    inst: Instrument | None
    pages: list[PageLayout]
    answers: dict[str, Any]
    page: int
    submission_id: str
    omitted: list[str] = field(default_factory=list)   # optional free-text items (no keyboard in VR)
    problem: tuple[str, str] | None = None             # (title, text): cannot be answered here


@dataclass(frozen=True)
class PanelState:
    """What the panel shows, for tests and other front ends (the WebXR page).

    ``prompt_id`` None: no headset prompt is open. ``page``/``pages``: 0-based page and count.
    """

    prompt_id: int | None
    instrument_id: str | None
    page: int
    pages: int
    answers: dict[str, Any]
    missing: tuple[str, ...]
    message: str
    busy: bool
    card: str


class QuestionnairePanel:
    """The in-headset questionnaire panel of one session (see the module docstring).

    ``store``: where screens are committed (the database itself by default, or a
    :class:`~vr_study.storage.GroupCommitter` shared with a tablet server); ``client``: the
    stored rows' ``client`` field. ``start=False`` leaves the background thread to
    :meth:`start` (tests).
    """

    def __init__(self, db: StudyDatabase, instruments: Mapping[str, Instrument], session_id: int, *,
                 geometry: PanelGeometry | None = None, store: StudyDatabase | GroupCommitter | None = None,
                 dwell_s: float = DWELL_S, poll_s: float = POLL_S, client: str = "headset", start: bool = True):
        self.db, self.instruments, self.session_id = db, dict(instruments), int(session_id)
        self.geometry = geometry or PanelGeometry()
        self.store = store if store is not None else db
        self.dwell_s, self.poll_s, self.client = float(dwell_s), float(poll_s), client
        self._lock = threading.Lock()
        self._jobs: queue.Queue = queue.Queue()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._screen: _Screen | None = None
        self._busy = False
        self._message, self._message_color = "", ERROR
        self._missing: list[str] = []
        self._card: tuple[str, str, float] | None = None   # title, text, until (monotonic s; inf: until cleared)
        self._hover: dict[str, Control | None] = {}
        self._held: dict[str, bool] = {}
        self._dwell: tuple[Control, float] | None = None   # gaze target, since (s)
        self._dwell_fired = False
        self._dwell_frac = 0.0
        self._hand_on_panel_s = -float("inf")   # when a hand last pointed at the panel (s)
        self._focus: tuple[int, int] | None = None
        self._changed = 0          # bumped on every visible change (self._touch)
        self._drawn = 0            # the change the published view shows
        self._version = 0          # PanelView.version
        self._published: PanelView | None = None
        self._draw_cv = threading.Condition(self._lock)
        self._drawer: threading.Thread | None = None
        self._marks = 0            # sync() requests made / answered
        self._marks_done = 0
        self._poll_cv = threading.Condition()
        self._viewed_s = -float("inf")   # when a front end last asked for the view (monotonic s)
        self._beat_s = -float("inf")     # when the last heartbeat was written (monotonic s)
        if start:
            self.start()

    # -- life cycle -----------------------------------------------------------------------
    def start(self) -> None:
        """Start the background threads (database polls and writes; drawing)."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="questionnaire-panel", daemon=True)
            self._thread.start()
            self._drawer = threading.Thread(target=self._draw_loop, name="questionnaire-panel-draw", daemon=True)
            self._drawer.start()

    def close(self, timeout_s: float = 5.0) -> None:
        """Stop the background thread (finishing a write in progress)."""
        self._stop.set()
        self._jobs.put(("stop",))
        with self._lock:
            self._draw_cv.notify_all()
        for th in (self._thread, self._drawer):
            if th is not None:
                th.join(timeout_s)
        if self._beat_s > -float("inf"):      # a front end drew it: say it is gone (experimenter page)
            try:
                write_presence(self.db, self.session_id, self.client, None, closed=True)
            except Exception:  # noqa: BLE001 - the database may be gone already; the heartbeat goes stale
                log.warning("questionnaire panel: could not record that it closed")

    def __enter__(self) -> "QuestionnairePanel":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def sync(self, timeout_s: float = 5.0) -> bool:
        """Wait until the writes queued before this call are done, the database was polled
        after them and the view shows the result (tests, and front ends that want the next
        prompt now). True when that happened within ``timeout_s`` seconds."""
        with self._poll_cv:
            self._marks += 1
            mark = self._marks
        self._jobs.put(("mark", mark))       # the queue is FIFO: everything before it is done first
        deadline = time.monotonic() + timeout_s
        with self._poll_cv:
            while self._marks_done < mark:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._poll_cv.wait(left)
        with self._lock:
            while self._drawn != self._changed:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._draw_cv.wait(left)
        return True

    # -- PanelSource ------------------------------------------------------------------------
    def view(self, now_s: float) -> PanelView | None:
        """The panel now (None when no headset prompt is open): the image the drawing thread
        published last. Never waits for the database or for drawing."""
        with self._lock:
            self._viewed_s = time.monotonic()
            if self._card is not None and self._screen is None and now_s >= self._card[2]:
                self._card = None
                self._touch()
            return self._published

    def pointer(self, event: PointerEvent) -> None:
        """A pointer's state this frame: hover, select on its rising edge, gaze dwell."""
        if event.source not in POINTER_SOURCES:
            return
        with self._lock:
            was_held = self._held.get(event.source, False)
            self._held[event.source] = bool(event.select)
            layout = self._layout()
            ctl = None
            if layout is not None and event.uv is not None and not self._busy:
                w, h = layout.image.size
                ctl = layout.hit(event.uv[0] * w, event.uv[1] * h)
            if self._hover.get(event.source) != ctl:
                self._hover[event.source] = ctl
                self._touch()
            if ctl is not None and event.select and not was_held:
                self._activate(ctl)
            if event.source == "gaze":
                hand_recent = event.time_s - self._hand_on_panel_s < HAND_GRACE_S
                self._gaze(None if hand_recent else ctl, event.time_s)
            elif event.uv is not None:
                self._hand_on_panel_s = event.time_s

    def key(self, key: str, now_s: float) -> None:
        """Arrow keys move the focus, ``select`` presses, ``back`` goes to the previous page."""
        if key not in PANEL_KEYS:
            return
        with self._lock:
            layout = self._layout()
            if layout is None or self._busy:
                return
            rows = _rows(layout)
            if self._focus is None:
                self._focus = self._first_focus(layout, rows)
                self._touch()
                if key != "select":
                    return
            r, c = self._focus
            if key in ("up", "down"):
                r = max(0, min(len(rows) - 1, r + (1 if key == "down" else -1)))
                c = self._col_in(rows[r], c)
            elif key in ("left", "right"):
                c = max(0, min(len(rows[r]) - 1, c + (1 if key == "right" else -1)))
            elif key == "select":
                self._activate(rows[r][min(c, len(rows[r]) - 1)])
                return
            elif key == "back":
                back = [x for x in layout.controls if x.kind == "back"]
                if back:
                    self._activate(back[0])
                return
            self._focus = (r, c)
            self._touch()

    # -- introspection ---------------------------------------------------------------------------
    def state(self) -> PanelState:
        """A snapshot of what the panel shows."""
        with self._lock:
            s = self._screen
            return PanelState(prompt_id=s.prompt.prompt_id if s else None,
                              instrument_id=s.prompt.instrument_id if s else None,
                              page=s.page if s else 0, pages=len(s.pages) if s else 0,
                              answers=dict(s.answers) if s else {}, missing=tuple(self._missing),
                              message=self._message, busy=self._busy, card=self._card[0] if self._card else "")

    def controls(self) -> list[Control]:
        """The current page's controls (pixel boxes in the image of :meth:`view`)."""
        with self._lock:
            layout = self._layout()
            return list(layout.controls) if layout is not None else []

    def control_uv(self, kind: str = "option", item_id: str | None = None, value: Any = None
                   ) -> tuple[float, float] | None:
        """Panel coordinates (u, v) of the centre of a control on the current page, or None."""
        with self._lock:
            layout = self._layout()
            if layout is None:
                return None
            w, h = layout.image.size
            for c in layout.controls:
                if c.kind == kind and (kind != "option" or (c.item_id == item_id and c.value == value)):
                    x, y = c.center
                    return (x / w, y / h)
        return None

    # -- drawing (under the lock) -------------------------------------------------------------------
    def _layout(self) -> PageLayout | None:
        s = self._screen
        return s.pages[s.page] if s is not None and s.pages else None

    def _touch(self) -> None:
        """Something visible changed (call under the lock): the drawing thread redraws."""
        self._changed += 1
        self._draw_cv.notify_all()

    def _snapshot(self) -> tuple | None:
        """What to draw, copied under the lock (drawn outside it)."""
        s = self._screen
        if s is None and self._card is None:
            return None
        if s is None or not s.pages:
            title, text = s.problem if s is not None and s.problem else \
                (self._card[:2] if self._card is not None else ("", ""))
            return ("card", title, text)
        layout = s.pages[s.page]
        rows = _rows(layout)
        focus = None
        if self._focus is not None:
            r = min(self._focus[0], len(rows) - 1)
            focus = rows[r][min(self._focus[1], len(rows[r]) - 1)]
        dwell = (self._dwell[0], self._dwell_frac) if self._dwell is not None and not self._dwell_fired else None
        return ("page", layout, dict(s.answers), [c for c in self._hover.values() if c is not None], focus, dwell,
                list(self._missing), "Saving..." if self._busy else self._message,
                MUTED if self._busy else self._message_color)

    def _draw_loop(self) -> None:
        """The drawing thread: redraw after every visible change, publish for :meth:`view`."""
        cards: dict[tuple[str, str], Any] = {}
        while True:
            with self._lock:
                while self._drawn == self._changed and not self._stop.is_set():
                    self._draw_cv.wait(0.5)
                if self._stop.is_set():
                    return
                target, snap = self._changed, self._snapshot()
            try:
                view = None
                if snap is not None:
                    if snap[0] == "card":
                        if snap[1:] not in cards:
                            cards[snap[1:]] = np.asarray(card(self.geometry, snap[1], snap[2]), dtype=np.uint8)
                        pixels = cards[snap[1:]]
                    else:
                        _, layout, answers, hover, focus, dwell, missing, message, colour = snap
                        pixels = np.asarray(compose(layout, answers, hover=hover, focus=focus, dwell=dwell,
                                                    missing=missing, message=message, message_color=colour),
                                            dtype=np.uint8)
                    self._version += 1
                    g = self.geometry
                    view = PanelView(pixels, g.width_m, self._version, g.distance_m, g.drop_m)
            except Exception:  # noqa: BLE001 - keep showing the last image rather than end the panel
                log.exception("questionnaire panel: drawing failed")
                view = self._published
            with self._lock:
                self._published = view
                self._drawn = target
                self._draw_cv.notify_all()

    # -- interaction (under the lock) -----------------------------------------------------------------
    def _gaze(self, ctl: Control | None, t: float) -> None:
        if ctl is None:
            if self._dwell is not None:
                self._dwell, self._dwell_fired, self._dwell_frac = None, False, 0.0
                self._touch()
            return
        if self._dwell is None or self._dwell[0] != ctl:
            self._dwell, self._dwell_fired, self._dwell_frac = (ctl, t), False, 0.0
            self._touch()
            return
        if self._dwell_fired:
            return
        frac = (t - self._dwell[1]) / self.dwell_s if self.dwell_s > 0 else 1.0
        if frac >= 1.0:
            self._dwell_fired = True
            self._touch()
            self._activate(ctl)
        elif int(frac * 20) != int(self._dwell_frac * 20):   # redraw in 5 % steps
            self._dwell_frac = frac
            self._touch()

    def _activate(self, ctl: Control) -> None:
        s = self._screen
        if s is None or s.inst is None or self._busy:
            return
        self._touch()
        if ctl.kind == "option":
            s.answers[ctl.item_id] = ctl.value
            if ctl.item_id in self._missing:
                self._missing.remove(ctl.item_id)
                if not self._missing:
                    self._message = ""
            return
        if ctl.kind == "back":
            if s.page > 0:
                self._goto(s.page - 1)
            return
        problems = self._problems(s)
        page_ids = s.pages[s.page].item_ids
        if ctl.kind == "next":
            here = [i for i in page_ids if i in problems]
            if here:
                self._missing, self._message, self._message_color = here, INCOMPLETE_MESSAGE, ERROR
                return
            self._busy = True
            self._jobs.put(("page", s.prompt.prompt_id, s.page, dict(s.answers), s.submission_id))
            return
        if problems:                                     # submit with items missing somewhere
            first = next(i for i, pg in enumerate(s.pages) if any(x in problems for x in pg.item_ids))
            if first != s.page:
                self._goto(first)
            self._missing = [i for i in s.pages[s.page].item_ids if i in problems]
            self._message, self._message_color = INCOMPLETE_MESSAGE, ERROR
            return
        self._busy = True
        self._jobs.put(("submit", s.prompt.prompt_id, dict(s.answers), s.submission_id))

    def _problems(self, s: _Screen) -> dict[str, str]:
        """What the shared validation says about the answers so far (item id -> problem)."""
        try:
            validate_answers(s.inst, s.answers)
        except AnswerError as e:
            return e.problems
        return {}

    def _goto(self, page: int) -> None:
        s = self._screen
        assert s is not None
        s.page = page
        self._missing, self._message = [], ""
        self._hover = {k: None for k in self._hover}
        self._dwell, self._dwell_fired = None, False
        if self._focus is not None:
            self._focus = self._first_focus(s.pages[page], _rows(s.pages[page]))
        self._touch()

    def _first_focus(self, layout: PageLayout, rows: list[list[Control]]) -> tuple[int, int]:
        s = self._screen
        for r, row in enumerate(rows):
            item = row[0].item_id
            if row[0].kind == "option" and (s is None or s.answers.get(item) is None):
                return (r, len(row) // 2)
        return (len(rows) - 1, len(rows[-1]) - 1)

    def _col_in(self, row: list[Control], col: int) -> int:
        s = self._screen
        if row and row[0].kind == "option" and s is not None and row[0].item_id in s.answers:
            for c in row:
                if c.value == s.answers[row[0].item_id]:
                    return c.col
        if row and row[0].kind != "option":
            return len(row) - 1
        return min(col, len(row) - 1)

    # -- background thread -------------------------------------------------------------------
    def _run(self) -> None:
        wait_s = 0.0                       # poll at once when started
        while not self._stop.is_set():
            try:
                job = self._jobs.get(timeout=wait_s)
            except queue.Empty:
                job = None
            wait_s = self.poll_s
            try:
                if job is not None and job[0] == "page":
                    self._commit_page(*job[1:])
                elif job is not None and job[0] == "submit":
                    self._submit(*job[1:])
                self._poll()
                self._heartbeat()
            except Exception:  # noqa: BLE001 - a database hiccup must not end the panel; retried next poll
                log.exception("questionnaire panel: background work failed")
                with self._lock:
                    if self._busy:
                        self._busy = False
                        self._message, self._message_color = "Could not save; please try again", ERROR
                        self._touch()
            finally:
                if job is not None and job[0] == "mark":
                    with self._poll_cv:
                        self._marks_done = max(self._marks_done, job[1])
                        self._poll_cv.notify_all()

    def _heartbeat(self) -> None:
        """While a front end draws the panel, record it every :data:`HEARTBEAT_S` seconds
        (:mod:`questionnaires.panel_presence`; the experimenter page shows it)."""
        now = time.monotonic()
        with self._lock:
            drawn = now - self._viewed_s <= 2 * HEARTBEAT_S
            shown = self._screen.prompt.prompt_id if self._screen is not None else None
        if drawn and now - self._beat_s >= HEARTBEAT_S:
            self._beat_s = now
            write_presence(self.db, self.session_id, self.client, shown)

    def _commit_page(self, prompt_id: int, page: int, answers: dict[str, Any], submission_id: str) -> None:
        """Store the answers so far, then show the next page."""
        self.db.set_meta(draft_key(prompt_id), json.dumps(
            {"answers": answers, "page": page + 1, "submission_id": submission_id}, sort_keys=True))
        with self._lock:
            s = self._screen
            self._busy = False
            if s is not None and s.prompt.prompt_id == prompt_id:
                self._goto(min(page + 1, len(s.pages) - 1))
            self._touch()

    def _submit(self, prompt_id: int, answers: dict[str, Any], submission_id: str) -> None:
        """Store the whole screen through the tablet's path; then thank and wait for the next prompt."""
        title, text = "Thank you", "Your answers are saved."
        try:
            submit_screen(self.db, self.store, self.instruments, self.session_id, prompt_id, answers,
                          submission_id, self.client, HEADSET)
        except AnswerError as e:
            with self._lock:
                self._busy = False
                s = self._screen
                if s is not None and s.prompt.prompt_id == prompt_id:
                    first = next((i for i, pg in enumerate(s.pages) if any(x in e.problems for x in pg.item_ids)),
                                 s.page)
                    self._goto(first)
                    self._missing = [i for i in s.pages[first].item_ids if i in e.problems]
                self._message, self._message_color = INCOMPLETE_MESSAGE, ERROR
                self._touch()
            return
        except ScreenRefused as e:
            if e.reason not in ("closed", "duplicate"):
                with self._lock:
                    self._busy = False
                    self._message, self._message_color = str(e)[:90], ERROR
                    self._touch()
                return
            title, text = "Already recorded", "These answers were already recorded."
        if self.db.get_meta(draft_key(prompt_id)):
            self.db.set_meta(draft_key(prompt_id), "")
        with self._lock:
            self._busy = False
            if self._screen is not None and self._screen.prompt.prompt_id == prompt_id:
                self._screen = None
            self._missing, self._message, self._focus = [], "", None
            self._card = (title, text, time.monotonic() + SAVED_CARD_S)
            self._touch()

    def _poll(self) -> None:
        """Drop a prompt that was closed elsewhere; lay out the oldest open headset prompt."""
        mine = [p for p in self.db.open_prompts(self.session_id) if answer_channel(p) == HEADSET]
        with self._lock:
            cur = self._screen
            if cur is not None and cur.prompt.prompt_id not in {p.prompt_id for p in mine} and not self._busy:
                self._screen = None
                self._missing, self._message = [], ""
                self._touch()
            need = self._screen is None and not self._busy and bool(mine)
        if need:
            screen = self._load(mine[0])
            with self._lock:
                if self._screen is None and not self._busy:
                    self._screen = screen
                    self._card = None
                    self._hover = {k: None for k in self._hover}
                    self._dwell, self._dwell_fired, self._focus = None, False, None
                    self._touch()

    def _load(self, prompt: Prompt) -> _Screen:
        """Lay out a prompt's pages and pick up its committed pages (resume)."""
        inst = self.instruments.get(prompt.instrument_id)
        if inst is None:
            return _Screen(prompt, None, [], {}, 0, "", problem=(
                "Please call the experimenter", f"Unknown questionnaire '{prompt.instrument_id}'."))
        items = inst.presentation_order(prompt.prompt_id)
        typed = [it for it in items if not panel_supported(it)]
        if any(it.required for it in typed):
            return _Screen(prompt, inst, [], {}, 0, "", problem=(
                "Please call the experimenter", f"'{inst.title}' asks for typed text, which cannot be answered "
                "in the headset. Route it to the tablet (questionnaires.tablet in the study spec)."))
        shown = [it for it in items if panel_supported(it)]
        context = dict(prompt.context or {})
        groups = paginate(inst, shown, context, self.geometry)
        where = self._where(prompt)
        pages = [render_page(inst, grp, context, self.geometry, page=i, pages=len(groups),
                             where=f"{where}Page {i + 1} of {len(groups)}") for i, grp in enumerate(groups)]
        draft: dict[str, Any] = {}
        raw = self.db.get_meta(draft_key(prompt.prompt_id))
        if raw:
            try:
                draft = json.loads(raw)
            except ValueError:
                draft = {}
        answers = {k: v for k, v in dict(draft.get("answers") or {}).items() if k in inst.item_ids}
        page = max(0, min(int(draft.get("page", 0) or 0), len(pages) - 1))
        submission_id = str(draft.get("submission_id") or uuid.uuid4().hex)
        return _Screen(prompt, inst, pages, answers, page, submission_id, [it.id for it in typed])

    def _where(self, prompt: Prompt) -> str:
        """ "Questionnaire k of n - " when the step asks several (as the tablet's page count)."""
        try:
            step = self.db.trial(self.session_id, prompt.trial_index)
        except KeyError:
            return ""
        if prompt.instrument_id in step.questionnaires and len(step.questionnaires) > 1:
            return f"Questionnaire {step.questionnaires.index(prompt.instrument_id) + 1} of " \
                   f"{len(step.questionnaires)} - "
        return ""


def _rows(layout: PageLayout) -> list[list[Control]]:
    """The page's controls by key-navigation row (items, then the buttons), each by column."""
    rows: dict[int, list[Control]] = {}
    for c in layout.controls:
        rows.setdefault(c.row, []).append(c)
    return [sorted(rows[r], key=lambda c: c.col) for r in sorted(rows)]
