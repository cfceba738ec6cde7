"""End to end: a `questionnaires: {mode: headset}` session answered in the headset.

The session runs (simulated stimuli) in a thread; `vr-study xr run --questionnaires STUDY
--participant ID` renders on the project's headless OpenXR test runtime, whose scripted
right controller points at the panel and pulls the trigger. Checked: a half-filled page is
refused, the first page is committed before the panel advances, a renderer killed with
SIGKILL resumes the prompt at its second page when started again, the captured eye images
show the panel, and the database holds exactly the answers given, from the "headset".
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from questionnaires.headset_panel import draft_key
from questionnaires.instruments import load_instruments
from questionnaires.panel_layout import BG, PanelGeometry, paginate, render_page
from study_helpers import make_study
from vr_study.formats import write_motion
from vr_study.motion import MotionClip
from vr_study.storage import StudyDatabase
from vr_study.study.drivers import SimulatedDriver
from vr_study.study.session import run_session
from vr_study.study.spec import load_spec
from vr_study.xr.capture import read_ppm
from vr_study.xr.testruntime import build_test_runtime, runtime_env

ROOT = Path(__file__).resolve().parent.parent
TOUCH = "/interaction_profiles/oculus/touch_controller"
EYE_W, EYE_H = 320, 360
HEAD_Y = 1.6
GEOMETRY = PanelGeometry()        # what the CLI uses (--panel-px-per-deg 25)


def sam_pages() -> list:
    """The SAM pages as the panel lays them out (same instrument, geometry and prompt order)."""
    inst = load_instruments()["sam"]
    items = inst.presentation_order(0)
    groups = paginate(inst, items, {}, GEOMETRY)
    return [render_page(inst, g, {}, GEOMETRY, where="", page=i, pages=len(groups)) for i, g in enumerate(groups)]


def aim_at(layout, kind: str, item: str | None = None, value=None) -> list[float]:
    """A controller pose whose ray (straight ahead, -Z) hits the centre of a control.

    The panel appears 0.8 m ahead of the head at (0, 1.6, 0) looking down -Z, its centre
    0.1 m below eye height; u runs along +X, v down.
    """
    w, h = layout.image.size
    c = next(c for c in layout.controls if c.kind == kind and (kind != "option" or (c.item_id, c.value) == (item, value)))
    u, v = c.center[0] / w, c.center[1] / h
    width_m, height_m = GEOMETRY.width_m, GEOMETRY.width_m * h / w
    return [(u - 0.5) * width_m, HEAD_Y - GEOMETRY.drop_m + (0.5 - v) * height_m, -0.3, 0.0, 0.0, 0.0, 1.0]


def clicks(targets: list[list[float]], start: int = 20, every: int = 45) -> list[dict]:
    """Script lines: point at each target, then press and release the trigger."""
    lines = [{"frame": 0, "hand": "right", "profile": TOUCH, "aim": [0.2, 1.0, -0.1]}]
    for i, aim in enumerate(targets):
        f = start + i * every
        lines += [{"frame": f, "hand": "right", "aim": aim}, {"frame": f + 15, "hand": "right", "select": 1},
                  {"frame": f + 18, "hand": "right", "select": 0}]
    return lines


def renderer(tmp: Path, name: str, spec: Path, clip: Path, manifest: Path, script: list[dict], frames: int,
             capture_every: int = 0) -> subprocess.Popen:
    path = tmp / f"{name}.jsonl"
    path.write_text("".join(json.dumps(x) + "\n" for x in script))
    env = {k: v for k, v in os.environ.items() if not k.startswith("XR_")}
    env.pop("DISPLAY", None)
    env["PYTHONPATH"] = f"{ROOT}{os.pathsep}{env.get('PYTHONPATH', '')}"
    env.update(runtime_env(manifest, view_size=(EYE_W, EYE_H), head_pose=f"0,{HEAD_Y},0", paced=True,
                           input_script=path, capture_dir=tmp / f"{name}-cap" if capture_every else None,
                           capture_every=capture_every or 1))
    return subprocess.Popen([sys.executable, "-m", "vr_study.cli", "xr", "run", "--clip", str(clip),
                             "--frames", str(frames), "--questionnaires", str(spec), "--participant", "P01",
                             "--skinning", "cpu", "--frame-log", str(tmp / f"{name}-frames.jsonl")],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for(cond, timeout_s: float, what: str, proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout_s
    while not cond():
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"the renderer ended before {what}: {proc.stderr.read()[-3000:]}")
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


@pytest.mark.slow
def test_headset_session_answered_with_the_controller_survives_a_renderer_crash(tmp_path):
    folder = tmp_path / "study"
    spec_path = make_study(folder)
    text = spec_path.read_text()
    text = text.replace("  after_trial: [trial_ratings, emotion_recognition]\n", "  after_trial: []\n")
    text = text.replace("  timeout_s: 60\n", "  timeout_s: 60\n  mode: headset\n")
    spec_path.write_text(text)
    spec = load_spec(spec_path)
    db = StudyDatabase(spec.database, participant_pattern=spec.study.participant_pattern)
    clip = tmp_path / "still.npz"
    write_motion(MotionClip.zeros(30, 30.0, num_expression=10, num_betas=10), clip)
    manifest = build_test_runtime(tmp_path / "xr-runtime")

    outcome = []
    session = threading.Thread(target=lambda: outcome.append(
        run_session(spec, db, "P01", SimulatedDriver(speed=50), speed=50)), daemon=True)
    session.start()
    wait_for(lambda: any(p.status == "open" for s in db.sessions() for p in db.prompts(s.session_id)), 60,
             "the SAM prompt")
    sid = db.sessions()[0].session_id
    (prompt,) = db.open_prompts(sid)
    assert prompt.instrument_id == "sam" and prompt.context["answer_in"] == "headset"
    pages = sam_pages()
    assert [p.item_ids for p in pages] == [["valence", "arousal"], ["dominance"]]

    # 1st renderer: valence 3, Next (refused: arousal missing), arousal 7, Next (committed); then killed
    first = renderer(tmp_path, "first", spec_path, clip, manifest, clicks([
        aim_at(pages[0], "option", "valence", 3), aim_at(pages[0], "next"),
        aim_at(pages[0], "option", "arousal", 7), aim_at(pages[0], "next")]), frames=100000, capture_every=15)
    try:
        wait_for(lambda: db.get_meta(draft_key(prompt.prompt_id)), 120, "the first page's commit", first)
        draft = json.loads(db.get_meta(draft_key(prompt.prompt_id)))
        assert draft["answers"] == {"valence": 3, "arousal": 7} and draft["page"] == 1
        time.sleep(0.5)
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(30)
    assert db.responses(sid) == [] and db.prompt(prompt.prompt_id).status == "open"
    # the frame log holds the four trigger presses (two answers, two Next); the draft holds
    # both answers, so the first Next (arousal still unanswered) committed nothing
    log = [json.loads(x) for x in (tmp_path / "first-frames.jsonl").read_text().splitlines()]
    presses = [r["frame"] for r in log if r["controllers"].get("right", {}).get("select_pressed")]
    assert len(presses) == 4
    # the eye images show the panel: its dark background ahead, the chosen answer in the accent
    # colour, and (after the refused Next) the unanswered item framed in red
    caps = [read_ppm(p).astype(int) for p in sorted((tmp_path / "first-cap").glob("frame*_eye0.ppm"))]
    assert len(caps) > 5

    def upper_half_of_panel(rgb):
        """The panel's upper half (the first items; the pointer ray ends lower, on the buttons)."""
        panel = np.all(np.abs(rgb - np.array(BG[:3])) < 12, axis=-1)
        rows, cols = np.nonzero(panel)
        assert panel.sum() > 0.05 * EYE_W * EYE_H and abs(cols.mean() - EYE_W / 2) < EYE_W * 0.1
        return rgb[rows.min():(rows.min() + rows.max()) // 2, cols.min():cols.max()]

    def selected(rgb):                                # the accent fill of a chosen answer
        r, g, b = (rgb[..., i] for i in range(3))
        return int(((b - r > 60) & (b > 180)).sum())

    def framed_red(rgb):                              # the frame around an unanswered item
        r, g, b = (rgb[..., i] for i in range(3))
        return int(((r - g > 50) & (r - b > 50)).sum())
    tops = [upper_half_of_panel(rgb) for rgb in caps]
    assert selected(tops[0]) == 0 and framed_red(tops[0]) == 0
    assert max(selected(t) for t in tops) > 10       # valence 3 chosen
    assert max(framed_red(t) for t in tops) > 30     # arousal missing after the refused Next

    # 2nd renderer: the panel is back at page 2 (dominance); answer it and submit
    second = renderer(tmp_path, "second", spec_path, clip, manifest, clicks([
        aim_at(pages[1], "option", "dominance", 4), aim_at(pages[1], "submit")]), frames=100000)
    try:
        wait_for(lambda: not session.is_alive(), 120, "the session's end", second)
    finally:
        second.send_signal(signal.SIGTERM)
        try:
            second.wait(30)
        except subprocess.TimeoutExpired:
            second.kill()
    assert outcome and outcome[0].status == "finished"
    rows = db.responses(sid)
    assert {r.item_id: r.value for r in rows} == {"valence": 3, "arousal": 7, "dominance": 4}
    assert {r.client for r in rows} == {"headset"}
    assert {r.submission_id for r in rows} == {draft["submission_id"]}      # one screen, stored once
    answered = db.events(sid, kind="prompt_answered")
    assert len(answered) == 1 and answered[0].payload["client"] == "headset"
    assert [e.kind for e in db.events(sid, kind="response")] == ["response"]
    db.close()


@pytest.mark.slow
def test_renderer_started_before_the_session_waits_for_it_then_the_controller_answers(tmp_path):
    """`xr run --questionnaires` started before the experimenter starts the session shows the
    waiting card, picks the session up when it starts (no restart of the renderer) and the
    scripted controller answers its SAM screen; the panel's heartbeat says it was drawn."""
    from questionnaires.panel_presence import read_presence
    from questionnaires.participant_panel import waiting_text

    folder = tmp_path / "study"
    spec_path = make_study(folder)
    text = spec_path.read_text()
    text = text.replace("  after_trial: [trial_ratings, emotion_recognition]\n", "  after_trial: []\n")
    text = text.replace("  timeout_s: 60\n", "  timeout_s: 60\n  mode: headset\n")
    spec_path.write_text(text)
    spec = load_spec(spec_path)
    clip = tmp_path / "still.npz"
    write_motion(MotionClip.zeros(30, 30.0, num_expression=10, num_betas=10), clip)
    manifest = build_test_runtime(tmp_path / "xr-runtime")
    pages = sam_pages()
    start = 270              # 3 s at 90 Hz: the session below opens its prompt ~20 frames after it starts
    proc = renderer(tmp_path, "early", spec_path, clip, manifest, clicks([
        aim_at(pages[0], "option", "valence", 2), aim_at(pages[0], "option", "arousal", 8),
        aim_at(pages[0], "next"), aim_at(pages[1], "option", "dominance", 6), aim_at(pages[1], "submit")],
        start=start), frames=100000, capture_every=30)
    log_path = tmp_path / "early-frames.jsonl"
    db = None
    try:
        wait_for(lambda: log_path.exists() and log_path.read_text().count("\n") >= 30, 120, "the first frames", proc)
        # the waiting card is up: the panel's dark background fills the middle of the eye image
        wait_for(lambda: list((tmp_path / "early-cap").glob("frame*_eye0.ppm")), 30, "a captured frame", proc)
        first = read_ppm(sorted((tmp_path / "early-cap").glob("frame*_eye0.ppm"))[0]).astype(int)
        card = np.all(np.abs(first[..., :3] - np.array(BG[:3])) < 12, axis=-1)
        rows, cols = np.nonzero(card)
        assert card.mean() > 0.08 and abs(cols.mean() - EYE_W / 2) < EYE_W * 0.1
        db = StudyDatabase(spec.database, participant_pattern=spec.study.participant_pattern)
        assert db.sessions() == []
        frames_before = log_path.read_text().count("\n")
        assert frames_before < start, "the machine is too slow for the scripted click frames"
        outcome = []
        session = threading.Thread(target=lambda: outcome.append(
            run_session(spec, db, "P01", SimulatedDriver(speed=50), speed=50)), daemon=True)
        session.start()
        wait_for(lambda: not session.is_alive(), 120, "the session's end", proc)
        presence = read_presence(db, outcome[0].session_id)
        assert presence is not None and presence.connected and presence.client == "headset"
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
    stderr = proc.stderr.read()
    assert f'"{waiting_text("P01")[1]}"' in stderr, stderr[-2000:]
    assert outcome and outcome[0].status == "finished"
    sid = outcome[0].session_id
    rows = db.responses(sid)
    assert {r.item_id: r.value for r in rows} == {"valence": 2, "arousal": 8, "dominance": 6}
    assert {r.client for r in rows} == {"headset"}
    assert read_presence(db, sid).closed           # the renderer ended cleanly: the page says not connected
    db.close()
