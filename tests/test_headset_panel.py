"""The in-headset questionnaire panel driven through its PanelSource API against a real database.

Pointers, gaze and keys press the panel's controls as the XR renderer would report them;
the checks are on what a participant sees (pixels of the panel image) and what the study
database holds afterwards.
"""
from __future__ import annotations

import json
import time

import numpy as np
import pytest

from questionnaires.headset_panel import DWELL_S, INCOMPLETE_MESSAGE, QuestionnairePanel, draft_key
from questionnaires.instruments import load_instruments
from questionnaires.panel_layout import ACCENT, BG, ERROR, FOCUS, PanelGeometry
from questionnaires.submission import HEADSET, TABLET, ScreenRefused, submit_screen
from vr_study.storage import StudyDatabase, TrialRecord
from vr_study.xr.panel_source import PanelSource, PointerEvent

RATINGS = ["arousal_realism", "naturalness", "enjoyment", "diversity", "interaction_quality"]
INSTRUMENTS = load_instruments()


@pytest.fixture
def db(tmp_path):
    d = StudyDatabase(tmp_path / "study.sqlite")
    yield d
    d.close()


def new_session(db: StudyDatabase, questionnaires=("trial_ratings", "emotion_recognition"), n: int = 2) -> int:
    trials = [TrialRecord(trial_index=i, block=0, trial_kind="playback", position_in_block=i, method="emage",
                          emotion="happy", questionnaires=list(questionnaires)) for i in range(n)]
    return db.create_session(f"P{len(db.sessions()) + 1:02d}", "test-study", trials, plan_row=0, seed=0)


def open_headset(db: StudyDatabase, sid: int, instrument: str, trial: int = 0, **context) -> int:
    return db.open_prompt(sid, trial, instrument, {"emotion": "happy", "answer_in": HEADSET, **context})


class Hand:
    """A controller: points at panel coordinates and clicks (select level per frame)."""

    def __init__(self, panel: QuestionnairePanel, source: str = "right"):
        self.panel, self.source, self.t = panel, source, time.monotonic()

    def frame(self, uv, select: bool) -> None:
        self.t += 1 / 90
        self.panel.pointer(PointerEvent(self.source, uv, select, self.t))

    def click(self, uv) -> None:
        assert uv is not None
        self.frame(uv, False)
        self.frame(uv, True)
        self.frame(uv, False)

    def answer(self, item: str, value) -> None:
        self.click(self.panel.control_uv("option", item, value))

    def press(self, kind: str) -> None:
        self.click(self.panel.control_uv(kind))
        assert self.panel.sync()


def fill(panel: QuestionnairePanel, item: str, value) -> np.ndarray:
    """The colour of an option's button (beside its label)."""
    assert panel.sync()                               # the drawing thread has caught up
    img = panel.view(time.monotonic()).image_rgba
    box = next(c.box for c in panel.controls() if c.item_id == item and c.value == value)
    return img[(box[1] + box[3]) // 2, box[0] + 8, :3]


def near(color, target, tol=12) -> bool:
    return bool(np.all(np.abs(np.asarray(color, int) - np.asarray(target[:3], int)) <= tol))


@pytest.fixture
def panel_for(db):
    made = []

    def make(sid, **kw):
        p = QuestionnairePanel(db, INSTRUMENTS, sid, poll_s=0.05, **kw)
        made.append(p)
        assert p.sync()
        return p
    yield make
    for p in made:
        p.close()


def test_geometry_gives_headset_resolution_and_readable_text():
    g = PanelGeometry()
    w, h = g.size_px
    # 25 px/deg at 0.8 m: 1790 px per metre, the 0.64 m panel about 1150 px wide
    assert g.px_per_m == pytest.approx(25 / (0.8 * np.pi / 180))
    assert abs(w - 0.64 * g.px_per_m) <= 8 and abs(h - 0.52 * g.px_per_m) <= 8
    assert g.px(1.2) == 30                 # body text: 1.2 degrees of visual angle
    sharper = PanelGeometry(px_per_deg=35)
    assert sharper.size_px[0] > w


def test_panel_shows_only_headset_prompts_and_lays_out_hit_regions(db, panel_for):
    sid = new_session(db)
    panel = panel_for(sid)
    source: PanelSource = panel                       # what the XR renderer and the WebXR bridge hold
    assert all(callable(getattr(source, m)) for m in ("view", "pointer", "key"))
    assert panel.view(time.monotonic()) is None            # nothing open: no panel
    db.open_prompt(sid, 0, "trial_ratings", {"answer_in": TABLET})
    assert panel.sync() and panel.view(time.monotonic()) is None   # a tablet prompt is not shown here
    pid = open_headset(db, sid, "emotion_recognition", trial=1)
    assert panel.sync()
    view = panel.view(time.monotonic())
    assert view is not None and view.image_rgba.dtype == np.uint8 and view.image_rgba.shape[2] == 4
    assert view.height_m == pytest.approx(0.52, abs=0.01)
    st = panel.state()
    assert st.prompt_id == pid and st.pages == 1
    h, w = view.image_rgba.shape[:2]
    ctls = panel.controls()
    options = [c for c in ctls if c.kind == "option" and c.item_id == "emotion"]
    assert [c.value for c in options] == list(INSTRUMENTS["emotion_recognition"].item("emotion").options)
    for c in ctls:                                     # inside the image, no two overlap
        x0, y0, x1, y1 = c.box
        assert 0 <= x0 < x1 <= w and 0 <= y0 < y1 <= h
        for d in ctls:
            if d is not c:
                assert x1 <= d.box[0] or d.box[2] <= x0 or y1 <= d.box[1] or d.box[3] <= y0
    # every control is hit at its centre, and shows its label in bright text on a button
    img = view.image_rgba[..., :3].astype(int)
    for c in options:
        x0, y0, x1, y1 = c.box
        patch = img[y0 + 4:y1 - 4, x0 + 4:x1 - 4]
        assert (patch.sum(axis=2) > 600).sum() > 40, f"no text on {c.label}"
    # the title is drawn near the top: bright pixels in the header band
    assert (img[: h // 8].sum(axis=2) > 600).sum() > 500


def test_controller_press_counts_once_per_rising_edge_and_is_drawn(db, panel_for):
    sid = new_session(db)
    open_headset(db, sid, "trial_ratings")
    panel = panel_for(sid)
    hand = Hand(panel)
    uv3 = panel.control_uv("option", "arousal_realism", 3)
    uv6 = panel.control_uv("option", "arousal_realism", 6)
    hand.frame(uv3, True)                             # press on 3 ...
    hand.frame(uv6, True)                             # ... drag to 6 while held: no second press
    hand.frame(uv6, False)
    assert panel.state().answers == {"arousal_realism": 3}
    assert near(fill(panel, "arousal_realism", 3), ACCENT) and not near(fill(panel, "arousal_realism", 6), ACCENT)
    hand.frame(None, True)                            # pressing while pointing away does nothing
    hand.frame(uv6, True)                             # still held: not a new press
    assert panel.state().answers == {"arousal_realism": 3}
    hand.frame(uv6, False)
    hand.frame(uv6, True)
    assert panel.state().answers == {"arousal_realism": 6}
    left = Hand(panel, "left")                        # each source has its own edge
    left.click(panel.control_uv("option", "naturalness", 2))
    assert panel.state().answers == {"arousal_realism": 6, "naturalness": 2}


def test_gaze_dwell_selects_after_dwell_time_with_a_visible_progress_bar(db, panel_for):
    sid = new_session(db)
    open_headset(db, sid, "trial_ratings")
    panel = panel_for(sid)
    uv = panel.control_uv("option", "naturalness", 5)
    box = next(c.box for c in panel.controls() if c.item_id == "naturalness" and c.value == 5)
    t0 = time.monotonic()
    t = t0
    while t < t0 + 0.7 * DWELL_S:
        panel.pointer(PointerEvent("gaze", uv, False, t))
        t += 1 / 90
    assert panel.state().answers == {}
    assert panel.sync()
    img = panel.view(t).image_rgba
    bar = img[box[3] + 4:box[3] + 9, box[0]:box[2], :3]
    filled = np.all(np.abs(bar.astype(int) - np.array(FOCUS[:3])) < 20, axis=2).mean()
    assert 0.5 < filled < 0.85                        # about 70 % of the bar is filled
    while t < t0 + DWELL_S + 0.05:
        panel.pointer(PointerEvent("gaze", uv, False, t))
        t += 1 / 90
    assert panel.state().answers == {"naturalness": 5}
    for _ in range(200):                              # staying there does not press again or toggle
        panel.pointer(PointerEvent("gaze", uv, False, t))
        t += 1 / 90
    assert panel.state().answers == {"naturalness": 5}
    # glancing away resets the dwell: two short looks do not add up
    uv2 = panel.control_uv("option", "naturalness", 2)
    for look in range(2):
        start = t
        while t < start + 0.6 * DWELL_S:
            panel.pointer(PointerEvent("gaze", uv2, False, t))
            t += 1 / 90
        panel.pointer(PointerEvent("gaze", None, False, t))
    assert panel.state().answers == {"naturalness": 5}


def test_keys_move_focus_select_and_go_back(db, panel_for):
    sid = new_session(db)
    pid = open_headset(db, sid, "trial_ratings")
    panel = panel_for(sid)
    now = time.monotonic()
    panel.key("down", now)                            # the first key shows the focus on the first item
    panel.key("left", now)
    panel.key("select", now)                          # middle (4) then left: 3
    assert panel.state().answers == {"arousal_realism": 3}
    assert panel.sync()
    img = panel.view(now).image_rgba
    box = next(c.box for c in panel.controls() if c.item_id == "arousal_realism" and c.value == 3)
    ring = img[box[1] - 4, box[0]:box[2], :3]         # yellow focus outline just above the button
    assert np.all(np.abs(ring.astype(int) - np.array(FOCUS[:3])) < 30, axis=1).mean() > 0.5
    panel.key("down", now)
    for _ in range(3):
        panel.key("right", now)
    panel.key("select", now)
    assert panel.state().answers["naturalness"] == 7 or panel.state().answers["naturalness"] == 6
    panel.key("down", now)                            # to the buttons: Next
    panel.key("select", now)
    assert panel.sync() and panel.state().page == 1
    panel.key("back", now)                            # back to page 1, answers kept
    assert panel.state().page == 0 and panel.state().answers["arousal_realism"] == 3
    assert db.prompt(pid).status == "open"


def test_half_filled_pages_and_screens_are_refused_and_nothing_is_stored(db, panel_for):
    sid = new_session(db)
    pid = open_headset(db, sid, "trial_ratings")
    panel = panel_for(sid)
    hand = Hand(panel)
    first_page = list(dict.fromkeys(c.item_id for c in panel.controls() if c.kind == "option"))
    hand.answer(first_page[0], 4)
    hand.press("next")
    st = panel.state()
    assert st.page == 0 and st.message == INCOMPLETE_MESSAGE and st.missing == (first_page[1],)
    assert not db.get_meta(draft_key(pid))            # nothing committed
    # the missing item is framed in red
    assert panel.sync()
    img = panel.view(time.monotonic()).image_rgba[..., :3].astype(int)
    red = np.all(np.abs(img - np.array(ERROR[:3])) < 25, axis=2)
    rows = np.where(red.any(axis=1))[0]
    item_box = next(c.box for c in panel.controls() if c.item_id == first_page[1])
    assert red.sum() > 500 and rows.min() < item_box[1] < rows.max()
    # the same shared path refuses a half-filled screen sent directly
    from questionnaires.scoring import AnswerError
    with pytest.raises(AnswerError) as e:
        submit_screen(db, db, INSTRUMENTS, sid, pid, {first_page[0]: 4}, "half", "headset", HEADSET)
    assert set(e.value.problems) == set(RATINGS) - {first_page[0]}
    assert db.responses(sid) == [] and db.prompt(pid).status == "open"


def test_each_page_is_committed_before_the_panel_advances_then_the_screen_is_stored(db, panel_for):
    sid = new_session(db)
    pid = open_headset(db, sid, "trial_ratings")
    panel = panel_for(sid)
    hand = Hand(panel)
    values = dict(zip(RATINGS, [5, 4, 3, 6, 2]))
    pages_seen = []
    while panel.state().prompt_id == pid:
        st = panel.state()
        pages_seen.append(st.page)
        for item in dict.fromkeys(c.item_id for c in panel.controls() if c.kind == "option"):
            hand.answer(item, values[item])
        if panel.control_uv("next") is not None:
            hand.press("next")
            draft = json.loads(db.get_meta(draft_key(pid)))
            # committed: every answer given so far is in the database before the page changed
            assert draft["page"] == st.page + 1 and draft["answers"] == panel.state().answers
            assert panel.state().page == st.page + 1
            assert db.prompt(pid).status == "open"
        else:
            hand.press("submit")
    assert pages_seen == list(range(len(pages_seen))) and len(pages_seen) >= 2
    rows = db.responses(sid)
    assert {r.item_id: r.value for r in rows} == values
    assert {r.client for r in rows} == {"headset"} and len({r.submission_id for r in rows}) == 1
    assert db.prompt(pid).status == "answered"
    ev = db.events(sid, kind="prompt_answered")
    assert [(e.payload["prompt_id"], e.payload["client"], e.payload["n_items"]) for e in ev] == [(pid, "headset", 5)]
    assert not db.get_meta(draft_key(pid))            # the draft is cleared
    assert panel.state().card == "Thank you"
    panel.view(time.monotonic() + 10)                 # the thank-you card goes away
    assert panel.sync() and panel.view(time.monotonic() + 10) is None


def test_stored_rows_match_a_tablet_submission_except_the_client(db):
    """Storage does not know the channel: the same answers give the same rows and events."""
    sid_a, sid_b = new_session(db), new_session(db)
    answers = {"emotion": "sad", "confidence": 3}
    pa = open_headset(db, sid_a, "emotion_recognition")
    pb = db.open_prompt(sid_b, 0, "emotion_recognition", {"emotion": "happy", "answer_in": TABLET})
    submit_screen(db, db, INSTRUMENTS, sid_a, pa, answers, "a1", "headset", HEADSET)
    submit_screen(db, db, INSTRUMENTS, sid_b, pb, answers, "b1", "10.0.0.2 Safari", TABLET)

    def norm(rows):
        return [(r.trial_index, r.attempt, r.instrument_id, r.item_id, r.value) for r in rows]
    assert norm(db.responses(sid_a)) == norm(db.responses(sid_b))
    assert [e.kind for e in db.events(sid_a)] == [e.kind for e in db.events(sid_b)]
    # each channel only answers its own prompts
    pc = open_headset(db, sid_b, "trial_ratings", trial=1)
    with pytest.raises(ScreenRefused) as e:
        submit_screen(db, db, INSTRUMENTS, sid_b, pc, dict.fromkeys(RATINGS, 4), "b2", "tablet", TABLET)
    assert e.value.reason == "other_channel"
    with pytest.raises(ScreenRefused) as e:           # a replay of a stored screen changes nothing
        submit_screen(db, db, INSTRUMENTS, sid_a, pa, answers, "a1", "headset", HEADSET)
    assert e.value.reason == "closed" and len(db.responses(sid_a)) == 2


def test_a_restarted_panel_resumes_at_the_first_uncommitted_page(db):
    sid = new_session(db)
    pid = open_headset(db, sid, "trial_ratings")
    first = QuestionnairePanel(db, INSTRUMENTS, sid, poll_s=0.05)
    assert first.sync()
    hand = Hand(first)
    page0 = list(dict.fromkeys(c.item_id for c in first.controls() if c.kind == "option"))
    for item in page0:
        hand.answer(item, 7)
    hand.press("next")
    page1 = list(dict.fromkeys(c.item_id for c in first.controls() if c.kind == "option"))
    hand.answer(page1[0], 1)                          # answered but not committed: lost in the crash
    submission_id = json.loads(db.get_meta(draft_key(pid)))["submission_id"]
    first.close()                                     # the renderer process dies here

    second = QuestionnairePanel(db, INSTRUMENTS, sid, poll_s=0.05)
    try:
        assert second.sync()
        st = second.state()
        assert st.prompt_id == pid and st.page == 1 and st.answers == dict.fromkeys(page0, 7)
        assert [c.item_id for c in second.controls() if c.kind == "option"][0] == page1[0]
        hand2 = Hand(second)
        hand2.press("back")                           # earlier answers are shown selected
        assert near(fill(second, page0[0], 7), ACCENT)
        hand2.press("next")
        for item in page1:
            hand2.answer(item, 2)
        hand2.press("submit")
    finally:
        second.close()
    rows = db.responses(sid)
    assert {r.item_id: r.value for r in rows} == {**dict.fromkeys(page0, 7), **dict.fromkeys(page1, 2)}
    assert {r.submission_id for r in rows} == {submission_id}


def test_sam_manikins_are_drawn_and_prompts_follow_each_other(db, panel_for):
    sid = new_session(db, questionnaires=("sam", "emotion_recognition"), n=1)
    p1 = open_headset(db, sid, "sam")
    panel = panel_for(sid)
    hand = Hand(panel)
    # a manikin (light plate with dark ink) above the odd points of the 9-point scale
    img = panel.view(time.monotonic()).image_rgba[..., :3].astype(int)
    btn = next(c for c in panel.controls() if c.item_id == "valence" and c.value == 1)
    x = (btn.box[0] + btn.box[2]) // 2
    above = img[max(0, btn.box[1] - 90):btn.box[1] - 6, x - 30:x + 30]
    assert (above.sum(axis=1) > 650).any() and (above.sum(axis=2) < 150).sum() > 30
    seen = set()
    while panel.state().prompt_id == p1:
        for item in dict.fromkeys(c.item_id for c in panel.controls() if c.kind == "option"):
            hand.answer(item, 5)
            seen.add(item)
        hand.press("next" if panel.control_uv("next") else "submit")
    assert seen == {"valence", "arousal", "dominance"} and db.prompt(p1).status == "answered"
    p2 = open_headset(db, sid, "emotion_recognition")
    assert panel.sync() and panel.state().prompt_id == p2     # the next prompt replaces the card


def test_prompt_answered_or_cancelled_elsewhere_leaves_the_panel(db, panel_for):
    sid = new_session(db)
    pid = open_headset(db, sid, "emotion_recognition")
    panel = panel_for(sid)
    assert panel.state().prompt_id == pid
    db.cancel_prompt(pid, reason="skip")
    assert panel.sync() and panel.state().prompt_id is None and panel.view(time.monotonic()) is None


def test_required_free_text_cannot_be_answered_in_the_headset(db, panel_for, tmp_path):
    from questionnaires.instruments import parse_instrument

    inst = parse_instrument("id: comments\ntitle: Comments\nsource: test\nitems:\n"
                            "  - {id: remarks, type: text, text: 'Anything else?'}\n")
    sid = new_session(db, questionnaires=("comments",), n=1)
    open_headset(db, sid, "comments")
    panel = QuestionnairePanel(db, {**INSTRUMENTS, "comments": inst}, sid, poll_s=0.05)
    try:
        assert panel.sync()
        assert panel.controls() == [] and panel.view(time.monotonic()) is not None   # an explanation card
    finally:
        panel.close()


def test_gaze_dwell_pauses_while_a_controller_points_at_the_panel(db, panel_for):
    sid = new_session(db)
    open_headset(db, sid, "trial_ratings")
    panel = panel_for(sid)
    looked_at = panel.control_uv("option", "naturalness", 5)
    pointed_at = panel.control_uv("option", "arousal_realism", 2)
    t = time.monotonic()
    for _ in range(int(3 * DWELL_S * 90)):           # the controller rests on the panel without pressing
        panel.pointer(PointerEvent("right", pointed_at, False, t))
        panel.pointer(PointerEvent("gaze", looked_at, False, t))
        t += 1 / 90
    assert panel.state().answers == {}


def test_participant_panel_waits_for_the_session_then_follows_a_restart(db):
    """Before the participant's session exists the panel says so; it picks the session up when
    the experimenter starts it (answerable prompts), and moves to a restarted session."""
    from questionnaires.participant_panel import ParticipantPanel

    def wait_until(cond, what: str, timeout_s: float = 10.0):
        deadline = time.monotonic() + timeout_s
        while not (got := cond()):
            assert time.monotonic() < deadline, f"timed out waiting for {what}"
            time.sleep(0.02)
        return got

    def mostly_panel_background(img) -> float:
        return float(np.all(np.abs(img[..., :3].astype(int) - np.array(BG[:3])) < 6, axis=-1).mean())

    trials = [TrialRecord(0, 0, "playback", 0, method="emage", emotion="happy", questionnaires=["sam"])]
    versions = []
    with ParticipantPanel(db, INSTRUMENTS, "P07", poll_s=0.05) as panel:
        waiting = panel.view(time.monotonic())
        assert panel.session_id is None and waiting is not None
        assert mostly_panel_background(waiting.image_rgba) > 0.9          # a card: a few lines of text
        versions.append(waiting.version)
        assert panel.view(time.monotonic()).version == waiting.version     # unchanged: no new upload
        panel.pointer(PointerEvent("right", (0.5, 0.5), True, time.monotonic()))   # nothing to press: ignored

        sid = db.create_session("P07", "s", trials, plan_row=0, seed=0)
        wait_until(lambda: panel.session_id == sid, "the session to be picked up")
        # no prompt yet: no panel (the next one is placed where the participant looks then)
        assert wait_until(lambda: panel.view(time.monotonic()) is None, "the waiting card to go")
        pid = open_headset(db, sid, "sam")
        view = wait_until(lambda: panel.view(time.monotonic()), "the SAM page")
        versions.append(view.version)
        assert panel.panel.state().prompt_id == pid and mostly_panel_background(view.image_rgba) < 0.9
        hand = Hand(panel.panel)
        hand.answer("valence", 3)
        assert panel.panel.sync() and near(fill(panel.panel, "valence", 3), ACCENT)
        versions.append(panel.view(time.monotonic()).version)

        # the experimenter starts P07 over: the panel moves to the new session's prompts
        new = db.create_session("P07", "s", trials, plan_row=0, seed=0, supersede=True)
        wait_until(lambda: panel.session_id == new, "the restarted session")
        pid2 = open_headset(db, new, "sam")
        wait_until(lambda: panel.panel.sync() and panel.panel.state().prompt_id == pid2, "the new session's prompt")
        versions.append(wait_until(lambda: panel.view(time.monotonic()), "the new page").version)
    assert versions == sorted(versions) and len(set(versions)) == len(versions)   # the renderer re-uploads each
    assert db.responses(sid) == [] and db.prompt(pid).status == "open"


def test_thumbstick_and_trigger_alone_answer_a_screen(db, panel_for):
    """The renderer's per-frame routing (PanelInteraction) with a real panel: the stick moves
    the focus, the trigger (ray off the panel) chooses; the whole SAM screen is stored."""
    from vr_study.xr.input import HandInput, InputSnapshot
    from vr_study.xr.interaction import PanelInteraction
    from vr_study.xr.viewmath import Pose

    sid = new_session(db, ("sam",), n=1)
    pid = open_headset(db, sid, "sam")
    panel = panel_for(sid)
    assert panel.sync()
    routing = PanelInteraction(panel)
    head, low = Pose((0.0, 1.6, 0.0)), Pose((0.2, 1.0, -0.1))       # the controller points at the floor
    t = [time.monotonic()]
    held = [False]

    def frame(stick=(0.0, 0.0), select=False):
        t[0] += 1 / 90
        hand = HandInput("right", "/interaction_profiles/oculus/touch_controller", low, None, select,
                         select and not held[0], stick)
        held[0] = select
        routing.update(InputSnapshot(t[0], head, {"right": hand}))
        return list(routing.keys)

    def push(direction):
        stick = {"up": (0, 1), "down": (0, -1), "left": (-1, 0), "right": (1, 0)}[direction]
        keys = frame(stick) + frame()
        assert keys == [direction]

    def pull():
        assert frame(select=True) + frame() == ["select"]
        assert panel.sync()

    push("down")                   # the first push shows the focus: valence, middle option (5)
    push("right")
    push("right")
    pull()                         # valence 7
    push("down")
    push("left")
    pull()                         # arousal 6 (the focus keeps its column, 7, then moves one left)
    assert panel.state().answers == {"valence": 7, "arousal": 6}
    push("down")                   # the buttons: Next
    pull()
    assert panel.state().page == 1
    pull()                         # dominance, middle option (the focus starts there on the new page)
    push("down")
    pull()                         # Submit
    assert {r.item_id: r.value for r in db.responses(sid)} == {"valence": 7, "arousal": 6, "dominance": 5}
    assert db.prompt(pid).status == "answered"
