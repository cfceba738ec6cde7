"""Group commit: screens arriving together share one transaction, each accepted or refused alone.

Real SQLite files (WAL, synchronous=FULL), a real PostgreSQL cluster, real HTTP through the
tablet server. A refused screen (replay, second screen for an answered prompt, bad value,
unknown prompt) leaves nothing behind; the others of its batch are committed, and nobody
hears "stored" before the commit.
"""
from __future__ import annotations

import os
import random
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
from sqlalchemy import event, insert

from questionnaires.simulate import join_session, parse_form
from questionnaires.tablet import serve
from test_storage_postgres import pg_url  # noqa: F401 - the throw-away PostgreSQL cluster fixture
from vr_study.storage import (Committed, DuplicateSubmission, GroupCommitter, InvalidAnswer, PromptClosed,
                              StudyDatabase, Submission, TrialRecord, UnknownPrompt)
from vr_study.storage import schema

ROOT = Path(__file__).resolve().parent.parent
RATINGS = ["arousal_realism", "naturalness", "enjoyment", "diversity", "interaction_quality"]


def _session(db: StudyDatabase, participant: str, n: int) -> tuple[int, list[int]]:
    trials = [TrialRecord(i, 0, "stimulus", i, {"method": "emage", "emotion": "happy"}, ["trial_ratings"],
                          method="emage", emotion="happy") for i in range(n)]
    sid = db.create_session(participant, "s", trials, plan_row=0, seed=0)
    return sid, [db.open_prompt(sid, i, "trial_ratings", {}) for i in range(n)]


def _count_transactions(db: StudyDatabase) -> dict[str, int]:
    counts = {"commit": 0, "savepoint": 0, "rollback_savepoint": 0, "release_savepoint": 0}
    for name in counts:
        def bump(*_args, _name=name, **_kw):
            counts[_name] += 1
        event.listen(db.engine, name, bump)
    return counts


def _check_batch(db: StudyDatabase, participant: str) -> None:
    """One batch with two good screens and six that must be refused, on any backend."""
    sid, p = _session(db, participant, 7)
    db.submit_prompt(p[0], {"naturalness": 2}, f"{participant}-old", "t0")
    with db.engine.begin() as c:  # another writer already stored an item of trial 6 (prompt still open)
        c.execute(insert(schema.responses).values(
            prompt_id=p[6], session_id=sid, trial_index=6, attempt=0, instrument_id="trial_ratings",
            item_id="naturalness", value_json="6", value_num=6.0, submission_id="elsewhere", client="other",
            answered_at="2026-11-29T00:00:00+00:00", answered_mono_ns=0))
    counts = _count_transactions(db)
    batch = [
        Submission(p[1], {"naturalness": 5, "comment": "fine"}, f"{participant}-a", "t1"),  # stored
        Submission(p[2], {"naturalness": 4}, f"{participant}-old", "t2"),     # replay of a stored screen
        Submission(p[3], {"naturalness": float("nan")}, f"{participant}-nan", "t3"),  # not storable
        Submission(p[6], {"enjoyment": 2, "naturalness": 1}, f"{participant}-z", "t8"),  # unique key taken
        Submission(p[4], {"naturalness": 7, "enjoyment": None}, f"{participant}-b", "t4"),  # stored
        Submission(p[1], {"naturalness": 1}, f"{participant}-c", "t5"),       # 2nd screen, same batch
        Submission(p[5], {"naturalness": 3}, f"{participant}-b", "t6"),       # replay within the batch
        Submission(987654, {"naturalness": 3}, f"{participant}-x", "t7"),     # no such prompt
    ]
    outcomes = db.submit_prompts_batch(batch)
    kinds = [None if o is None else type(o) for o in outcomes]
    assert kinds == [None, DuplicateSubmission, InvalidAnswer, DuplicateSubmission, None, PromptClosed,
                     DuplicateSubmission, UnknownPrompt]
    # one transaction; a savepoint around each screen that got to writing rows, and the one the
    # database refused rolled back to it (its "enjoyment" row, written first, is gone too)
    assert counts == {"commit": 1, "savepoint": 3, "rollback_savepoint": 1, "release_savepoint": 2}
    stored = {(r.prompt_id, r.item_id): (r.value, r.submission_id) for r in db.responses(sid)}
    assert stored == {(p[0], "naturalness"): (2, f"{participant}-old"), (p[6], "naturalness"): (6, "elsewhere"),
                      (p[1], "naturalness"): (5, f"{participant}-a"), (p[1], "comment"): ("fine", f"{participant}-a"),
                      (p[4], "naturalness"): (7, f"{participant}-b"), (p[4], "enjoyment"): (None, f"{participant}-b")}
    assert [x.status for x in db.prompts(sid)] == ["answered", "answered", "open", "open", "answered", "open", "open"]
    answered = [e.payload["prompt_id"] for e in db.events(sid, kind="prompt_answered")]
    assert answered == [p[0], p[1], p[4]]
    # the refused screens can still be answered properly afterwards
    assert db.submit_prompts_batch([Submission(p[2], {"naturalness": 4}, f"{participant}-new", "t2")]) == [None]


def test_one_batch_stores_exactly_the_acceptable_screens_sqlite(tmp_path):
    db = StudyDatabase(tmp_path / "study.sqlite")
    try:
        _check_batch(db, "P01")
        assert db.integrity_check() == ["ok"]
    finally:
        db.close()
    # what was committed is on disk for any other reader
    raw = sqlite3.connect(tmp_path / "study.sqlite")
    assert raw.execute("SELECT COUNT(DISTINCT submission_id) FROM responses").fetchone()[0] == 5  # 4 + "elsewhere"
    raw.close()


@pytest.mark.slow
def test_one_batch_stores_exactly_the_acceptable_screens_postgresql(pg_url):  # noqa: F811
    db = StudyDatabase(pg_url)
    try:
        _check_batch(db, "P71")
    finally:
        db.close()


def _hold_write_lock(path) -> sqlite3.Connection:
    """Another process-like writer holding SQLite's write lock: commits wait until it lets go."""
    raw = sqlite3.connect(path, isolation_level=None)
    raw.execute("BEGIN IMMEDIATE")
    return raw


def _wait_until(cond, timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not cond():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_committer_batches_concurrent_screens_and_refuses_only_the_bad_ones(tmp_path):
    db = StudyDatabase(tmp_path / "study.sqlite")
    sid, p = _session(db, "P02", 8)
    committer = GroupCommitter(db)
    raw = _hold_write_lock(tmp_path / "study.sqlite")
    results: dict[str, object] = {}

    def tablet(name: str, prompt_id: int, answers, submission_id: str) -> None:
        try:
            results[name] = committer.submit(prompt_id, answers, submission_id, name)
        except Exception as e:  # noqa: BLE001 - the test looks at which one
            results[name] = e

    first = committer.submit_future(p[0], {"naturalness": 1}, "s0", "first")
    _wait_until(lambda: committer.queued == 0)  # taken into a batch that waits for the lock
    jobs = [(f"good{k}", p[k], {it: k for it in RATINGS}, f"s{k}") for k in range(1, 6)]
    jobs += [("replay", p[6], {"naturalness": 3}, "s0"),          # replay of the first screen's id
             ("other", p[1], {"naturalness": 2}, "s1-other"),  # a 2nd screen for good1's prompt
             ("nan", p[7], {"naturalness": float("inf")}, "s7")]
    barrier = threading.Barrier(len(jobs))
    threads = [threading.Thread(target=lambda j=j: (barrier.wait(), tablet(*j))) for j in jobs]
    for t in threads:
        t.start()
    _wait_until(lambda: committer.queued == len(jobs))
    assert db.count_responses() == 0 and not results and not first.done()  # nobody hears back before a commit
    raw.rollback()
    raw.close()
    for t in threads:
        t.join(30)
    committer.close()
    assert first.result(0).batch_size == 1
    # good1 and "other" answer the same prompt in the same batch: the earlier one wins
    winner = "good1" if isinstance(results["good1"], Committed) else "other"
    loser = {"good1": "other", "other": "good1"}[winner]
    assert isinstance(results[loser], PromptClosed)
    for name in [winner] + [f"good{k}" for k in range(2, 6)]:
        r = results[name]
        assert isinstance(r, Committed) and r.batch_size == len(jobs), r  # one transaction for all 8
        assert r.queued_s > 0 and r.commit_s > 0
    assert isinstance(results["replay"], DuplicateSubmission)
    assert isinstance(results["nan"], InvalidAnswer)
    stored = {}
    for r in db.responses(sid):
        stored.setdefault(r.submission_id, set()).add(r.item_id)
    assert stored == {"s0": {"naturalness"}, **{f"s{k}": set(RATINGS) for k in range(2, 6)},
                      **({"s1": set(RATINGS)} if winner == "good1" else {"s1-other": {"naturalness"}})}
    assert [x.status for x in db.prompts(sid)] == ["answered"] * 6 + ["open", "open"]
    assert db.integrity_check() == ["ok"]
    with pytest.raises(RuntimeError, match="closed"):
        committer.submit(p[6], {"naturalness": 3}, "late", "t")
    db.close()


def test_eight_tablets_over_http_with_a_double_tap_and_an_out_of_range_answer(tmp_path):
    """Through the real server: the batch that stores six screens refuses a double tap; an
    out-of-range screen never reaches the database; each reply comes after the commit."""
    path = tmp_path / "study.sqlite"
    db = StudyDatabase(path)
    sessions = [_session(db, f"P{10 + k}", 1) for k in range(8)]
    codes = [db.session_code(sid) for sid, _ in sessions]
    server = serve(db, experimenter_token="x")
    committer = server.app.state.committer
    reached = []
    original = committer.submit_future

    def counting(*args, **kwargs):
        reached.append(args[2])
        return original(*args, **kwargs)
    committer.submit_future = counting
    clients = [httpx.Client(base_url=server, follow_redirects=False, timeout=30) for _ in range(9)]
    try:
        forms = []
        for k, c in enumerate(clients):
            if k == 8:                               # client 8 is tablet 0's second finger
                c.cookies = clients[0].cookies       # (the same device: a session holds one tablet)
                continue
            assert join_session(c, codes[k]).status_code == 303
        for k in range(8):
            form = parse_form(clients[k].get(f"/t/prompt/{sessions[k][1][0]}").text)
            data = {**form.hidden, "prompt_id": str(form.prompt_id), "submission_id": form.submission_id,
                    **{it: str(1 + (k + j) % 7) for j, it in enumerate(RATINGS)}}
            if k == 7:
                data["naturalness"] = "8"  # the scale is 1..7
            forms.append(data)
        forms.append(dict(forms[0]))  # double tap: the same form posted twice at once
        raw = _hold_write_lock(path)
        replies: dict[int, httpx.Response] = {}
        barrier = threading.Barrier(9)

        def post(k: int) -> None:
            barrier.wait()
            replies[k] = clients[k].post(f"/t/prompt/{forms[k]['prompt_id']}", data=forms[k])
        threads = [threading.Thread(target=post, args=(k,)) for k in range(9)]
        for t in threads:
            t.start()
        _wait_until(lambda: len(reached) == 8 and 7 in replies)  # 7 screens + the double tap queued
        assert sorted(replies) == [7] and replies[7].status_code == 422  # only the refusal answered
        assert db.count_responses() == 0
        raw.rollback()
        raw.close()
        for t in threads:
            t.join(30)
        status = {k: (r.status_code, r.headers.get("x-submission")) for k, r in replies.items()}
        tapped = [status[0], status[8]]
        assert sorted(tapped) == [(303, "stored"), (409, "duplicate")]
        assert all(status[k] == (303, "stored") for k in range(1, 7)) and status[7] == (422, "invalid")
        batches = [int(r.headers["server-timing"].split("batch;desc=")[1]) for r in replies.values()
                   if r.status_code == 303]
        assert max(batches) >= 4  # screens that waited together were committed together
        stored = {r.session_id for r in db.responses()}
        assert stored == {sid for sid, _ in sessions[:7]} and db.count_responses() == 7 * len(RATINGS)
        assert [x.status for x in db.prompts(sessions[7][0])] == ["open"]
        # every reply carries the security headers; static files stay cacheable
        assert all(r.headers["x-frame-options"] == "DENY" and r.headers["cache-control"] == "no-store"
                   and "default-src 'self'" in r.headers["content-security-policy"] for r in replies.values())
        css = clients[0].get("/static/tablet.css")
        assert css.status_code == 200 and "cache-control" not in css.headers and css.headers["x-frame-options"] == "DENY"
    finally:
        for c in clients:
            c.close()
        server.stop()
        db.close()


def _start_server(path, port: int) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-m", "vr_study.cli", "tablet", "serve", str(path), "--port", str(port),
                             "--experimenter-token", "x"], cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/t/join", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        assert proc.poll() is None and time.monotonic() < deadline, "tablet server did not start"
        time.sleep(0.05)


@pytest.mark.slow
def test_sigkilled_tablet_server_loses_no_acknowledged_screen_and_stores_none_twice(tmp_path):
    """8 tablets answer as fast as they can; the server process is SIGKILLed at random moments
    (mid-batch, mid-flush, mid-reply). Every screen a tablet was told is stored is there with all
    its items; a screen whose reply was lost is re-sent after the restart and stored exactly once."""
    path, rounds, rng = tmp_path / "study.sqlite", 30, random.Random(5)
    db = StudyDatabase(path)
    sessions = [_session(db, f"P{30 + k}", rounds) for k in range(8)]
    codes = [db.session_code(sid) for sid, _ in sessions]
    db.close()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    acked: set[str] = set()                        # submission ids a tablet heard "stored" for
    done: list[set[int]] = [set() for _ in range(8)]  # prompts a tablet is finished with
    in_flight: list[dict | None] = [None] * 8        # the form a tablet was sending when it lost the server
    lock = threading.Lock()
    errors: list[BaseException] = []
    jars = [httpx.Cookies() for _ in range(8)]       # each tablet keeps its device cookie across restarts

    def tablet(k: int, base: str) -> None:
        try:
            with httpx.Client(base_url=base, follow_redirects=False, timeout=20, cookies=jars[k]) as c:
                assert join_session(c, codes[k]).status_code == 303   # the same device joins again
                jars[k] = c.cookies
                for pid in sessions[k][1]:
                    if pid in done[k]:
                        continue
                    data = in_flight[k]
                    if data is None or data["prompt_id"] != str(pid):
                        form = parse_form(c.get(f"/t/prompt/{pid}").text)
                        data = {**form.hidden, "prompt_id": str(pid), "submission_id": form.submission_id,
                                **{it: str(1 + (pid + j) % 7) for j, it in enumerate(RATINGS)}}
                    in_flight[k] = data
                    r = c.post(f"/t/prompt/{pid}", data=data)
                    assert r.status_code in (303, 409), r.text
                    with lock:
                        if r.status_code == 303:
                            acked.add(data["submission_id"])
                        done[k].add(pid)
                        in_flight[k] = None
        except httpx.HTTPError:  # the server died under it
            pass
        except BaseException as e:  # noqa: BLE001 - reported by the test
            errors.append(e)

    kills = cycles = 0
    while any(len(d) < rounds for d in done):
        cycles += 1
        assert cycles <= 8 and not errors, errors
        proc = _start_server(path, port)
        threads = [threading.Thread(target=tablet, args=(k, f"http://127.0.0.1:{port}")) for k in range(8)]
        for t in threads:
            t.start()
        if kills < 3:  # after 1..40 more acknowledged screens (of 240): always mid-run
            target = len(acked) + rng.randint(1, 40)
            _wait_until(lambda: len(acked) >= target, timeout_s=60)
            time.sleep(rng.uniform(0.0, 0.02))
            proc.send_signal(signal.SIGKILL)
            kills += 1
        for t in threads:
            t.join(120)
        if proc.poll() is None:
            proc.terminate()
        proc.wait(30)
    assert kills == 3 and not errors, errors
    db = StudyDatabase(path)
    try:
        assert db.integrity_check() == ["ok"]
        rows: dict[str, list] = {}
        for r in db.responses():
            rows.setdefault(r.submission_id, []).append(r)
        assert acked <= set(rows)  # nothing a tablet was told is stored is missing
        for sub_id, rs in rows.items():  # each stored screen complete, once, on one prompt
            assert sorted(r.item_id for r in rs) == sorted(RATINGS) and len({r.prompt_id for r in rs}) == 1
        prompts = [p for sid, _ in sessions for p in db.prompts(sid)]
        assert all(p.status == "answered" for p in prompts) and len(rows) == 8 * rounds
        assert {rs[0].prompt_id for rs in rows.values()} == {p.prompt_id for p in prompts}
        assert len(db.events(kind="prompt_answered")) == 8 * rounds
    finally:
        db.close()
