"""Routing screens to the tablet or the headset: the spec, the session runner, the tablet pages, the CLI."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from questionnaires.simulate import join_session, parse_form
from questionnaires.tablet import serve
from study_helpers import SHORT_SPEC, make_study
from vr_study.storage import StudyDatabase
from vr_study.study.answerers import ScriptedAnswerer, fixed_answers
from vr_study.study.drivers import SimulatedDriver
from vr_study.study.session import run_session
from vr_study.study.spec import SpecError, load_spec, parse_spec

ROOT = Path(__file__).resolve().parent.parent
BASE = SHORT_SPEC.format(kind="playback")


def with_q(extra: str) -> str:
    return BASE.replace("  timeout_s: 60\n", "  timeout_s: 60\n" + extra)


def line_of(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


def test_spec_routes_the_whole_study_or_single_instruments():
    spec = parse_spec(with_q("  mode: headset\n"), "s.yaml")
    assert [spec.questionnaires.channel(i) for i in ("trial_ratings", "sam")] == ["headset", "headset"]
    spec = parse_spec(with_q("  mode: headset\n  tablet: [emotion_recognition]\n"), "s.yaml")
    assert spec.questionnaires.channel("emotion_recognition") == "tablet"
    assert spec.questionnaires.channel("sam") == "headset"
    spec = parse_spec(with_q("  headset: [sam]\n"), "s.yaml")   # mode defaults to tablet
    assert spec.questionnaires.mode == "tablet" and spec.questionnaires.channel("sam") == "headset"
    assert spec.questionnaires.channel("trial_ratings") == "tablet"


@pytest.mark.parametrize("extra, needle, field, words", [
    ("  mode: goggles\n", "mode: goggles", "questionnaires.mode", "'tablet' or 'headset'"),
    ("  mode: headset\n  headset: [sam]\n", "headset: [sam]", "questionnaires.headset", "mode is already headset"),
    ("  headset: [sam, sam]\n", "headset: [sam, sam]", "questionnaires.headset", "twice"),
    ("  tablet: [sam]\n", "tablet: [sam]", "questionnaires.tablet", "mode is already tablet"),
    ("  headset: [sma]\n", "headset: [sma]", "questionnaires.headset[0]", "did you mean 'sam'"),
    ("  headset: [godspeed]\n", "headset: [godspeed]", "questionnaires.headset[0]", "is not asked in this study"),
])
def test_bad_routing_is_one_line_naming_file_line_and_field(extra, needle, field, words):
    text = with_q(extra)
    with pytest.raises(SpecError) as e:
        parse_spec(text, "s.yaml")
    first = e.value.problems[0]
    assert first.startswith(f"s.yaml:{line_of(text, needle)}: {field}"), first
    assert words in first and "\n" not in first


def test_session_marks_each_prompt_with_its_channel_and_headset_answers_count(tmp_path):
    spec_path = make_study(tmp_path / "study")
    spec_path.write_text(spec_path.read_text().replace("  timeout_s: 60\n", "  timeout_s: 60\n  headset: [sam]\n"))
    spec = load_spec(spec_path)
    db = StudyDatabase(spec.database, participant_pattern=spec.study.participant_pattern)
    answers = {"trial_ratings": dict.fromkeys(["arousal_realism", "naturalness", "enjoyment", "diversity",
                                               "interaction_quality"], 4),
               "emotion_recognition": {"emotion": "$emotion", "confidence": 4},
               "sam": {"valence": 6, "arousal": 4, "dominance": 5}}
    out = run_session(spec, db, "P01", SimulatedDriver(speed=50), speed=50,
                      answerer=ScriptedAnswerer(db, fixed_answers(answers)))
    assert out.status == "finished"
    channels = {(p.instrument_id, p.context["answer_in"]) for p in db.prompts(out.session_id)}
    assert channels == {("trial_ratings", "tablet"), ("emotion_recognition", "tablet"), ("sam", "headset")}
    db.close()


def test_tablet_asks_to_answer_in_the_headset_and_refuses_a_posted_form(tmp_path):
    db = StudyDatabase(tmp_path / "study.sqlite")
    from vr_study.storage import TrialRecord
    sid = db.create_session("P01", "s", [TrialRecord(0, 0, "playback", 0, questionnaires=["sam", "trial_ratings"])],
                            plan_row=0, seed=0)
    headset = db.open_prompt(sid, 0, "sam", {"answer_in": "headset"})
    url = serve(db, experimenter_token="tok", poll_interval_s=0.2)
    try:
        with httpx.Client(base_url=url, follow_redirects=False, timeout=10) as c:
            assert join_session(c, db.session_code(sid)).status_code == 303
            state = c.get("/t/api/state").json()
            assert state["prompt_id"] == headset and state["answer_in"] == "headset"
            page = c.get(f"/t/prompt/{headset}")
            assert page.status_code == 200 and "Please answer in the headset" in page.text
            assert parse_form(page.text) is None      # no form to fill in on the tablet
            join_page = c.get("/t/join")
            csrf = join_page.text.split('name="csrf" value="')[1].split('"')[0]
            r = c.post(f"/t/prompt/{headset}", data={"csrf": csrf, "prompt_id": str(headset), "submission_id": "x1",
                                                     "valence": "5", "arousal": "5", "dominance": "5"})
            assert r.status_code == 409 and r.headers["X-Submission"] == "other_channel"
            assert db.responses(sid) == [] and db.prompt(headset).status == "open"
            # once answered in the headset, the tablet moves on to its own prompt and shows the form
            db.submit_prompt(headset, {"valence": 5, "arousal": 5, "dominance": 5}, "h1", "headset")
            tablet = db.open_prompt(sid, 0, "trial_ratings", {"answer_in": "tablet"})
            assert c.get("/t/api/state").json()["prompt_id"] == tablet
            form = parse_form(c.get(f"/t/prompt/{tablet}").text)
            assert form is not None and form.instrument_id == "trial_ratings"
    finally:
        url.stop()
        db.close()


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "vr_study.cli", *args], capture_output=True, text=True, timeout=120,
                          env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})


@pytest.mark.parametrize("args, words", [
    (["--participant", "P01"], "'--participant' is only used with --questionnaires"),
    (["--questionnaires", "{spec}"], "'--questionnaires' needs --participant"),
    (["--questionnaires", "{spec}", "--participant", "Alice"], "id 'Alice' does not match the pattern"),
    (["--questionnaires", "{missing}", "--participant", "P01"], "does not exist"),
    (["--questionnaires", "{spec}", "--participant", "P01", "--panel-px-per-deg", "0"], "'--panel-px-per-deg' is 0"),
])
def test_xr_run_questionnaire_options_are_checked(tmp_path, args, words):
    spec = make_study(tmp_path / "study")
    StudyDatabase(load_spec(spec).database).close()
    args = [a.format(spec=spec, missing=tmp_path / "nope.sqlite") for a in args]
    r = cli("xr", "run", "--simulate", "--frames", "1", *args)
    assert r.returncode == 2 and r.stderr.startswith("error: ") and words in r.stderr, r.stderr
    assert "Traceback" not in r.stderr


def test_xr_run_before_the_session_exists_waits_for_it(tmp_path):
    """No session for P09 yet (no database either): the renderer runs and shows the waiting card."""
    spec = make_study(tmp_path / "study")
    r = cli("xr", "run", "--simulate", "--frames", "2", "--eye-size", "160x180", "--questionnaires", str(spec),
            "--participant", "P9", "--capture-dir", str(tmp_path / "cap"))
    assert r.returncode == 0, r.stderr
    assert 'note: P09 has no session yet; the headset shows "Waiting for the session of participant P09 to start."' \
        in r.stderr
    db = StudyDatabase(load_spec(spec).database)         # created with the spec's id pattern, as session run would
    assert db.participant_pattern == load_spec(spec).study.participant_pattern and db.sessions() == []
    db.close()


def test_scripted_headset_session_exports_the_same_rows_as_a_tablet_session(tmp_path):
    """`session run --simulate --scripted-answers` answers headset screens on the panel; the
    export is the same as when every screen is answered on the tablet (timing aside)."""
    import csv

    from vr_study.cli.study import simulate_participant

    exports, kinds = {}, {}
    for mode in ("tablet", "headset"):
        spec_path = make_study(tmp_path / mode)
        if mode == "headset":
            spec_path.write_text(spec_path.read_text().replace("  timeout_s: 60\n",
                                                               "  timeout_s: 60\n  mode: headset\n"))
        out = simulate_participant(spec_path, "P01", tmp_path / f"{mode}-export", speed=50)
        assert out["exit_code"] == 0
        with open(out["export_dir"] / "responses.csv", newline="") as fh:
            rows = list(csv.DictReader(fh))
        exports[mode] = [{k: v for k, v in r.items() if k not in ("answered_at", "rt_s")} for r in rows]
        db = StudyDatabase(load_spec(spec_path).database)
        clients = {r.client for r in db.responses()}
        kinds[mode] = [e.kind for e in db.events() if not e.kind.startswith("tablet_")]   # pairing is async
        db.close()
        assert (clients == {"headset (scripted)"}) == (mode == "headset"), clients
    assert len(exports["headset"]) == 4 * (5 + 2) + 3
    assert exports["headset"] == exports["tablet"]
    assert kinds["headset"] == kinds["tablet"]          # the same events, in the same order


FEEDBACK = ("id: feedback\ntitle: Feedback\nsource: test\nitems:\n  - {id: overall, type: likert, text: Overall}\n"
            "  - {id: comments, type: text, text: \"Any comments?\"%s}\n")


@pytest.mark.parametrize("routing, field, fix", [
    ("  mode: headset\n", "questionnaires.mode", "route it to the tablet: questionnaires.tablet: [feedback]"),
    ("  mode: headset\n  tablet: [emotion_recognition]\n", "questionnaires.mode",
     "route it to the tablet: questionnaires.tablet: [emotion_recognition, feedback]"),
    ("  headset: [sam, feedback]\n", "questionnaires.headset[1]",
     "answer it on the tablet: remove it from questionnaires.headset"),
])
def test_required_free_text_in_the_headset_is_refused_before_the_session(tmp_path, routing, field, fix):
    """No keyboard in VR: `study validate` and `session run` refuse the spec (one line, exit 2)
    instead of the panel stopping mid-session; an optional text item or the tablet is fine."""
    spec = make_study(tmp_path / "study")
    (spec.parent / "extra").mkdir()
    (spec.parent / "extra" / "feedback.yaml").write_text(FEEDBACK % "")
    text = spec.read_text().replace("after_session: [sam]", "after_session: [sam, feedback]")
    text = text.replace("  timeout_s: 60\n", "  timeout_s: 60\n  instruments_dir: extra\n" + routing)
    spec.write_text(text)
    line = line_of(text, routing.splitlines()[-1].strip() if field.endswith("]") else "mode: headset")
    expect = (f"error: {spec}:{line}: {field}: instrument 'feedback' is answered in the headset but its item "
              f"'comments' asks for required typed text, which cannot be typed in VR; {fix}")
    r = cli("study", "validate", str(spec), "--no-library")
    assert r.returncode == 2 and r.stderr.strip() == expect, r.stderr
    r = cli("session", "run", str(spec), "--participant", "P01", "--simulate", "--no-tablet", "--no-lsl")
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and r.stderr.startswith(expect), r.stderr
    assert "Traceback" not in r.stderr and not (spec.parent / "data" / "study.sqlite").exists()
    # the fix the message names makes the spec valid; so does making the text item optional
    fixed = text.replace("  headset: [sam, feedback]\n", "  headset: [sam]\n") if "headset:" in routing else \
        text.replace(routing, "  mode: headset\n  " + fix.split("questionnaires.")[-1] + "\n")
    spec.write_text(fixed)
    assert cli("study", "validate", str(spec), "--no-library").returncode == 0
    spec.write_text(text)
    (spec.parent / "extra" / "feedback.yaml").write_text(FEEDBACK % ", required: false")
    r = cli("study", "validate", str(spec), "--no-library")
    assert r.returncode == 0, r.stderr


def test_experimenter_page_shows_where_each_prompt_is_answered_and_whether_the_panel_is_drawn(tmp_path):
    """The experimenter page says "in the headset" / "on the tablet" per open questionnaire, and
    whether a front end draws the headset panel (its heartbeat; a red alert while a headset
    questionnaire waits and none does)."""
    import html
    import re
    import threading
    import time

    from questionnaires.headset_panel import QuestionnairePanel
    from questionnaires.instruments import load_instruments
    from questionnaires.simulate import csrf_field
    from vr_study.storage import TrialRecord

    def live(x: httpx.Client) -> tuple[str, dict]:
        text = html.unescape(re.sub(r"\s+", " ", x.get(f"/x/session/{sid}/live").text))
        return text, x.get(f"/x/api/session/{sid}").json()

    def panel_line(text: str) -> str:
        m = re.search(r'<p data-f="headset_panel"[^>]*>(.*?)</p>', text)
        return m.group(0) if m else ""

    db = StudyDatabase(tmp_path / "study.sqlite")
    sid = db.create_session("P07", "s", [TrialRecord(0, 0, "playback", 0, questionnaires=["sam", "trial_ratings"])],
                            plan_row=0, seed=0)
    url = serve(db, experimenter_token="tok", poll_interval_s=0.2)
    panel = None
    try:
        with httpx.Client(base_url=url, follow_redirects=False, timeout=10) as x:
            assert x.post("/x/login", data={"token": "tok", "csrf": csrf_field(x.get("/x/login").text)}
                          ).status_code == 303
            tablet = db.open_prompt(sid, 0, "trial_ratings", {"answer_in": "tablet"})
            text, st = live(x)
            assert "<h2>Headset panel</h2>" not in text and st["headset_panel"] is None   # tablet-only so far
            assert [p["answer_in"] for p in st["open_prompts"]] == ["tablet"]
            assert re.search(r"<td>trial_ratings</td><td>#0</td> <td [^>]*>on the tablet</td>", text), text
            headset = db.open_prompt(sid, 0, "sam", {"answer_in": "headset"})
            text, st = live(x)
            assert re.search(r"<td>sam</td><td>#0</td> <td [^>]*>in the headset</td>", text), text
            line = panel_line(text)
            assert 'class="alert"' in line and "no headset panel has shown this session yet" in line
            assert "--questionnaires STUDY.yaml --participant P07" in line
            assert st["headset_panel"]["connected"] is False and st["headset_panel"]["waiting_prompt_ids"] == [headset]

            # a front end (here: this thread, as the renderer's frame loop) draws the panel
            panel = QuestionnairePanel(db, load_instruments(), sid, client="headset")
            stop = threading.Event()
            frames = threading.Thread(target=lambda: [panel.view(time.monotonic()) or stop.wait(1 / 90)
                                                      for _ in iter(stop.is_set, True)], daemon=True)
            frames.start()
            deadline = time.monotonic() + 10
            while not (st := live(x)[1])["headset_panel"]["connected"] and time.monotonic() < deadline:
                time.sleep(0.1)
            text, st = live(x)
            h = st["headset_panel"]
            assert h["connected"] and h["client"] == "vr-study xr run" and h["seen_s_ago"] < 3
            assert h["showing_prompt_id"] == headset
            line = panel_line(text)
            assert line.startswith('<p data-f="headset_panel">Connected (vr-study xr run): drawn ') and \
                f"showing questionnaire {headset}" in line and "alert" not in line
            # the front end stops drawing (renderer closed): the page says so again
            stop.set()
            frames.join(5)
            panel.close()
            panel = None
            text, st = live(x)
            assert st["headset_panel"]["connected"] is False
            assert "Not connected (last drawn by the vr-study xr run" in panel_line(text)
            assert tablet in [p["prompt_id"] for p in st["open_prompts"]]
    finally:
        if panel is not None:
            panel.close()
        url.stop()
        db.close()
