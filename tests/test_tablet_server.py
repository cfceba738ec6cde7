"""The tablet server over real HTTP (uvicorn on loopback) and a real SQLite study database.

Checks the rules a participant's answers depend on: half-filled, out-of-range, unknown and
replayed submissions are refused with nothing stored; a tablet only sees its own session;
the server can restart without losing a tablet or an answer.
"""
from __future__ import annotations

import contextlib
import itertools
import re
import threading

import httpx
import pytest

from questionnaires.simulate import HttpAnswerer, csrf_field, join_session, parse_form, random_answers
from questionnaires.tablet import COMMAND_EVENT, serve
from questionnaires.tablet_context import grouped_code
from vr_study.storage import StudyDatabase, TrialRecord

_pids = itertools.count(1)
RATINGS = ["arousal_realism", "naturalness", "enjoyment", "diversity", "interaction_quality"]


def new_session(db: StudyDatabase, n_trials: int = 3) -> tuple[int, str]:
    trials = [TrialRecord(trial_index=i, block=0, trial_kind="stimulus", position_in_block=i, method="emage",
                          emotion="happy", questionnaires=["trial_ratings"]) for i in range(n_trials)]
    sid = db.create_session(f"P{next(_pids)}", "test-study", trials, plan_row=0, seed=0)
    return sid, db.session_code(sid)


@pytest.fixture(scope="module")
def db(tmp_path_factory):
    d = StudyDatabase(tmp_path_factory.mktemp("tablet") / "study.sqlite")
    yield d
    d.close()


@pytest.fixture(scope="module")
def server(db):
    s = serve(db, experimenter_token="let-me-in", poll_interval_s=0.2)
    yield s
    s.stop()


def join(server, code: str | None) -> httpx.Client:
    """A client that joined session ``code`` (or none when ``code`` is None); close it after use."""
    c = httpx.Client(base_url=server, follow_redirects=False, timeout=10)
    if code is not None:
        assert join_session(c, code).status_code == 303
    return c


@contextlib.contextmanager
def tablet(server, code: str | None):
    c = join(server, code)
    try:
        yield c
    finally:
        c.close()


def open_form(c: httpx.Client, prompt_id: int):
    r = c.get(f"/t/prompt/{prompt_id}")
    assert r.status_code == 200, r.text
    form = parse_form(r.text)
    assert form is not None and form.prompt_id == prompt_id
    return form


def full(form, value="4"):
    return {**form.hidden, "prompt_id": str(form.prompt_id), "submission_id": form.submission_id,
            **{k: value for k in form.items}}


def test_join_by_code_then_answer_one_screen(db, server):
    sid, code = new_session(db)
    pid = db.open_prompt(sid, 0, "trial_ratings", {"emotion": "happy"})
    with tablet(server, code.lower()) as c:           # codes are case-insensitive
        r = c.get("/t/")
        assert r.status_code == 303 and r.headers["location"] == f"/t/prompt/{pid}"
        form = open_form(c, pid)
        assert sorted(form.items) == sorted(RATINGS) and all(i.values == list("1234567") for i in form.items.values())
        r = c.post(f"/t/prompt/{pid}", data=full(form, "6"))
        assert r.status_code == 303 and r.headers["x-submission"] == "stored"
        assert "Please wait" in c.get("/t/").text
    rows = [r for r in db.responses(sid) if r.prompt_id == pid]
    assert sorted((r.item_id, r.value) for r in rows) == sorted((k, 6) for k in RATINGS)
    assert {r.submission_id for r in rows} == {form.submission_id}
    assert db.prompt(pid).status == "answered"


def test_half_filled_and_out_of_range_are_refused_and_nothing_is_stored(db, server):
    sid, code = new_session(db)
    pid = db.open_prompt(sid, 0, "trial_ratings", {})
    with tablet(server, code) as c:
        form = open_form(c, pid)
        half = full(form)
        del half["diversity"], half["enjoyment"]
        r = c.post(f"/t/prompt/{pid}", data=half)
        assert r.status_code == 422 and r.headers["x-submission"] == "invalid"
        assert "Nothing was saved" in r.text and r.text.count("is required") == 2
        kept = parse_form(r.text)                      # the page keeps what was answered
        assert kept.submission_id == form.submission_id
        assert re.search(r'value="4"\s+checked', r.text)
        for bad in ("0", "8", "4.5", "x"):
            r = c.post(f"/t/prompt/{pid}", data={**full(form), "naturalness": bad})
            assert r.status_code == 422, bad
        r = c.post(f"/t/prompt/{pid}", data={**full(form), "extra_item": "3"})
        assert r.status_code == 422 and "not an item" in r.text
        r = c.post(f"/t/prompt/{pid}", data={k: v for k, v in full(form).items() if k != "submission_id"})
        assert r.status_code == 400
        assert db.responses(sid) == [] and db.prompt(pid).status == "open"
        assert c.post(f"/t/prompt/{pid}", data=full(form)).status_code == 303   # then a full one is stored
    assert len(db.responses(sid)) == 5


def test_replayed_submission_is_refused_idempotently(db, server):
    sid, code = new_session(db)
    pid = db.open_prompt(sid, 0, "trial_ratings", {})
    pid2 = db.open_prompt(sid, 1, "trial_ratings", {})
    with tablet(server, code) as c:
        form = open_form(c, pid)
        assert c.post(f"/t/prompt/{pid}", data=full(form, "2")).status_code == 303
        for value in ("2", "7"):                    # same form again (back button, double tap, retry)
            r = c.post(f"/t/prompt/{pid}", data=full(form, value))
            assert r.status_code == 409 and "already recorded" in r.text and "nothing was changed" in r.text
        # the form posted to another page is refused; so is its submission id on the next prompt
        assert c.post(f"/t/prompt/{pid2}", data=full(form, "7")).status_code == 400
        r = c.post(f"/t/prompt/{pid2}", data={**full(form, "7"), "prompt_id": str(pid2)})
        assert r.status_code == 409 and r.headers["x-submission"] == "duplicate"
        assert db.prompt(pid2).status == "open"
    values = [r.value for r in db.responses(sid)]
    assert values == [2] * 5


def test_requests_without_a_valid_cookie_or_for_another_session_get_403(db, server):
    sid_a, code_a = new_session(db)
    sid_b, code_b = new_session(db)
    pa = db.open_prompt(sid_a, 0, "trial_ratings", {})
    pb = db.open_prompt(sid_b, 0, "trial_ratings", {})
    with tablet(server, None) as anon:
        assert anon.get(f"/t/prompt/{pa}").status_code == 403
        assert anon.post(f"/t/prompt/{pa}", data={"submission_id": "x", "naturalness": "1"}).status_code == 403
        assert anon.get("/t/api/state").status_code == 403
        assert anon.get("/t/").headers["location"] == "/t/join"
        r = join_session(anon, "ZZZZZZZZZ")
        assert r.status_code == 403 and "No session has the code" in r.text
        anon.cookies.set("vrs_tablet", f"tablet.{sid_b}.1999999999.{'0' * 64}")   # forged signature
        assert anon.get(f"/t/prompt/{pb}").status_code == 403
    with tablet(server, code_a) as a:
        with tablet(server, code_b) as b:
            form_b = parse_form(b.get(f"/t/prompt/{pb}").text)
        assert a.get(f"/t/prompt/{pb}").status_code == 403
        r = a.post(f"/t/prompt/{pb}", data=full(form_b))          # b's form carries b's CSRF field
        assert r.status_code == 403 and "out of date" in r.text
        r = a.post(f"/t/prompt/{pb}", data={**full(form_b), "csrf": csrf_field(a.get("/t/join").text)})
        assert r.status_code == 403 and "another session" in r.text
        assert a.get("/t/api/state").json()["prompt_id"] == pa
    assert db.responses(sid_b) == [] and db.prompt(pb).status == "open"


def test_experimenter_page_needs_its_token_and_writes_commands(db, server):
    sid, code = new_session(db)
    db.log_event(sid, "stream_stats", payload={"fps_hz": 89.7, "gaps": 0})
    with tablet(server, code) as c:                  # a tablet cookie is not an experimenter login
        assert c.get("/x/").status_code == 403
        assert c.get(f"/x/api/session/{sid}").status_code == 403
        assert c.post(f"/x/session/{sid}/command", data={"command": "skip"}).status_code == 403
    with httpx.Client(base_url=server, timeout=10) as x:
        csrf = csrf_field(x.get("/x/login").text)
        assert x.post("/x/login", data={"token": "wrong", "csrf": csrf}).status_code == 403
        r = x.post("/x/login", data={"token": "let-me-in", "csrf": csrf})
        assert r.status_code == 303 and x.get("/x/").status_code == 200 and grouped_code(code) in x.get("/x/").text
        page = x.get(f"/x/session/{sid}")
        assert page.status_code == 200 and grouped_code(code) in page.text and "fps_hz: 89.7" in page.text
        csrf = csrf_field(page.text)
        st = x.get(f"/x/api/session/{sid}").json()
        assert st["trials_total"] == 3 and st["current_trial"]["trial_index"] == 0
        assert st["stream_health"]["stream_stats"]["fps_hz"] == 89.7
        for cmd in ("pause", "resume", "repeat", "skip", "turn"):
            r = x.post(f"/x/session/{sid}/command", data={"command": cmd, "csrf": csrf},
                       headers={"accept": "application/json"})
            assert r.status_code == 200 and r.json()["command"] == cmd
        assert x.post(f"/x/session/{sid}/command", data={"command": "explode", "csrf": csrf}).status_code == 422
        # without the page's CSRF field the login cookie alone does nothing
        assert x.post(f"/x/session/{sid}/command", data={"command": "abort"}).status_code == 403
        assert x.get("/x/api/session/999999").status_code == 404
    cmds = db.events(sid, kind=COMMAND_EVENT)
    assert [e.payload["command"] for e in cmds] == ["pause", "resume", "repeat", "skip", "turn"]
    assert all(e.trial_index == 0 and e.payload["source"] == "experimenter_page" for e in cmds)
    with httpx.Client(base_url=server, timeout=10, follow_redirects=True) as x2:   # no tokens in URLs
        for url in ("/x/?token=let-me-in", "/x/login?token=let-me-in"):
            r = x2.get(url)
            assert r.status_code == 400 and "login form" in r.text
        assert x2.get("/x/").status_code == 403
    bearer = httpx.get(f"{server}/x/api/session/{sid}", headers={"authorization": "Bearer let-me-in"})
    assert bearer.status_code == 200 and bearer.json()["last_command"]["command"] == "turn"


def test_a_restarted_server_keeps_the_tablet_and_accepts_its_open_form(tmp_path):
    path = tmp_path / "restart.sqlite"
    db = StudyDatabase(path)
    sid, code = new_session(db)
    pid = db.open_prompt(sid, 0, "trial_ratings", {})
    first = serve(db)
    c = join(first, code)
    form = open_form(c, pid)
    first.stop()
    db.close()
    db2 = StudyDatabase(path)                        # a fresh process would open the file again
    second = serve(db2)
    try:
        with httpx.Client(base_url=second, cookies=c.cookies, follow_redirects=False, timeout=10) as c2:
            r = c2.post(f"/t/prompt/{pid}", data=full(form, "3"))
            assert r.status_code == 303, r.text
        assert [r.value for r in db2.responses(sid)] == [3] * 5
    finally:
        second.stop()
        c.close()
        db2.close()


def test_eight_simulated_tablets_answer_at_once(db, server):
    sessions = [new_session(db, n_trials=4) for _ in range(8)]
    prompts = {sid: [db.open_prompt(sid, t, "trial_ratings", {}) for t in range(4)] for sid, _ in sessions}
    answerers = [HttpAnswerer(server, code, random_answers(seed=i)) for i, (_, code) in enumerate(sessions)]
    barrier = threading.Barrier(8)

    def go(a: HttpAnswerer) -> None:
        a.join()
        barrier.wait()
        a.run(max_prompts=4, idle_timeout_s=10)
    threads = [threading.Thread(target=go, args=(a,)) for a in answerers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    for a, (sid, _) in zip(answerers, sessions):
        assert [r.submission for r in a.results] == ["stored"] * 4
        stored = db.responses(sid)
        assert len(stored) == 4 * 5 and {r.prompt_id for r in stored} == set(prompts[sid])
        for res in a.results:   # what the tablet sent is exactly what was committed
            got = {r.item_id: str(r.value) for r in stored if r.prompt_id == res.prompt_id}
            assert got == {k: v for k, v in res.answers.items() if k in RATINGS}
        a.stop()


def test_a_double_tap_race_stores_the_screen_once(db, server):
    sid, code = new_session(db)
    pid = db.open_prompt(sid, 0, "trial_ratings", {})
    with tablet(server, code) as c:
        form = open_form(c, pid)
    cookies = c.cookies
    barrier = threading.Barrier(4)
    codes: list[int] = []

    def tap(value: str) -> None:
        with httpx.Client(base_url=server, cookies=cookies, follow_redirects=False, timeout=10) as cl:
            barrier.wait()
            codes.append(cl.post(f"/t/prompt/{pid}", data=full(form, value)).status_code)
    threads = [threading.Thread(target=tap, args=(v,)) for v in "1234"]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(codes) == [303, 409, 409, 409]
    rows = db.responses(sid)
    assert len(rows) == 5 and len({r.value for r in rows}) == 1


def test_cancelled_prompt_and_finished_session(db, server):
    sid, code = new_session(db)
    pid = db.open_prompt(sid, 0, "trial_ratings", {})
    with tablet(server, code) as c:
        form = open_form(c, pid)
        db.redo_trial(sid, 0, reason="experimenter")      # the experimenter repeats the trial
        assert c.get("/t/api/state").json()["prompt_id"] is None
        r = c.post(f"/t/prompt/{pid}", data=full(form))
        assert r.status_code == 409 and r.headers["x-submission"] == "closed"
        assert db.responses(sid) == []
        db.set_session_status(sid, "finished")
        assert "The session is over" in c.get("/t/").text
        assert join_session(c, code).status_code == 403


def test_standalone_server_refuses_bad_input_in_one_line(tmp_path):
    import subprocess
    import sys
    r = subprocess.run([sys.executable, "-m", "vr_study.cli", "tablet", "serve", str(tmp_path / "missing.sqlite")],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and r.stderr.count("\n") == 1
    assert r.stderr.startswith("error: ") and "missing.sqlite: does not exist" in r.stderr
    assert not (tmp_path / "missing.sqlite").exists()
    StudyDatabase(tmp_path / "s.sqlite").close()
    (tmp_path / "inst").mkdir()
    (tmp_path / "inst" / "bad.yaml").write_text("id: bad\ntitle: B\nsource: s\nitems: []\n")
    r = subprocess.run([sys.executable, "-m", "vr_study.cli", "tablet", "serve", str(tmp_path / "s.sqlite"), "--instruments",
                        str(tmp_path / "inst")], capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "bad.yaml:4: field 'items'" in r.stderr, r.stderr


def test_simulated_tablet_rides_out_a_server_restart(tmp_path):
    db = StudyDatabase(tmp_path / "restart2.sqlite")
    sid, code = new_session(db, n_trials=2)
    pids = [db.open_prompt(sid, t, "trial_ratings", {}) for t in range(2)]
    first = serve(db)
    port = int(first.rsplit(":", 1)[1])
    answerer = HttpAnswerer(first, code, random_answers(seed=3), poll_interval_s=0.05)
    assert answerer.answer_next(timeout_s=10).submission == "stored"
    first.stop()
    second_box = []
    starter = threading.Timer(0.7, lambda: second_box.append(serve(db, port=port)))
    starter.start()
    try:
        res = answerer.answer_next(timeout_s=20)       # the server is down when this starts
        assert res is not None and res.submission == "stored" and res.prompt_id == pids[1]
    finally:
        starter.join()
        for s in second_box:
            s.stop()
        answerer.stop()
    assert len(db.responses(sid)) == 10
    db.close()


def test_custom_instruments_folder_and_randomized_order(tmp_path):
    folder = tmp_path / "instruments"
    folder.mkdir()
    (folder / "shuffled.yaml").write_text(
        "id: shuffled\ntitle: Shuffled\nsource: test\nrandomize_items: true\nitems:\n"
        + "".join(f"  - {{id: q{i}, type: likert, text: Question {i}}}\n" for i in range(6)))
    db = StudyDatabase(tmp_path / "custom.sqlite")
    sid, code = new_session(db)
    pids = [db.open_prompt(sid, t, "shuffled", {}) for t in range(3)]
    s = serve(db, instruments_dir=folder)
    try:
        inst = s.app.state.instruments["shuffled"]
        with tablet(s, code) as c:
            for pid in pids:
                form = open_form(c, pid)
                assert list(form.items) == [i.id for i in inst.presentation_order(pid)]
                assert c.post(f"/t/prompt/{pid}", data=full(form, "2")).status_code == 303
        assert len({tuple(inst.item_ids)} | {tuple(i.id for i in inst.presentation_order(p)) for p in pids}) > 1
        assert len(db.responses(sid)) == 18
    finally:
        s.stop()
        db.close()


def test_tokens_are_bound_to_secret_kind_subject_and_age():
    from questionnaires import tokens
    tok = tokens.sign(b"k1", "tablet", "12", issued_s=1_000)
    assert tokens.verify(b"k1", tok, "tablet") == "12"
    assert tokens.verify(b"k2", tok, "tablet") is None                    # other secret
    assert tokens.verify(b"k1", tok, "experimenter") is None              # other kind
    assert tokens.verify(b"k1", tok.replace(".12.", ".13."), "tablet") is None   # other session
    assert tokens.verify(b"k1", tok, "tablet", max_age_s=60) is None      # expired
    assert tokens.verify(b"k1", "garbage", "tablet") is None and tokens.verify(b"k1", None, "tablet") is None
