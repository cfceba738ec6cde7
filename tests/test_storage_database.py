"""The study database: WAL SQLite, one transaction per screen, refusals that store nothing."""
from __future__ import annotations

import sqlite3
import threading
import time

import pytest
from sqlalchemy.exc import DBAPIError

from vr_study.errors import InputError
from vr_study.storage import (DuplicateParticipant, DuplicateSubmission, InvalidAnswer, PromptClosed, StudyDatabase,
                              TrialRecord, UnknownPrompt)


def _trials(n=3):
    return [TrialRecord(i, 1, "playback", i, {"method": "emage", "emotion": "happy"}, ["trial_ratings"],
                        method="emage", emotion="happy", clip_id=f"c{i}") for i in range(n)]


@pytest.fixture
def db(tmp_path):
    d = StudyDatabase(tmp_path / "study.sqlite")
    yield d
    d.close()


def _session(db, pid="P01", n=3):
    return db.create_session(pid, "s", _trials(n), plan_row=0, seed=1)


def test_sqlite_file_is_wal_with_full_sync_and_append_only_log(db, tmp_path):
    with db.engine.connect() as c:
        assert c.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert c.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL
        assert c.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 1000
    sid = _session(db)
    db.log_event(sid, "note", payload={"x": 1})
    raw = sqlite3.connect(tmp_path / "study.sqlite")
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        raw.execute("UPDATE events SET kind = 'forged'")
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        raw.execute("DELETE FROM events")
    raw.close()
    ev = db.events(sid)
    assert [e.kind for e in ev][:1] == ["session_created"] and ev[-1].payload == {"x": 1}
    assert all(b.mono_ns >= a.mono_ns for a, b in zip(ev, ev[1:]))
    assert db.integrity_check() == ["ok"]


def test_prompt_round_trip_and_refusals_store_nothing(db):
    sid = _session(db)
    pid = db.open_prompt(sid, 0, "trial_ratings", {"emotion": "happy"})
    assert db.open_prompt(sid, 0, "trial_ratings", {}) == pid  # a restarted orchestrator reuses it
    (p,) = db.open_prompts(sid)
    assert (p.prompt_id, p.trial_index, p.instrument_id, p.context) == (pid, 0, "trial_ratings", {"emotion": "happy"})
    for bad in ({}, {"naturalness": float("nan")}, {"naturalness": [1, 2]}, {"bad id!": 3}, {"x": {"a": 1}}):
        with pytest.raises(InvalidAnswer):
            db.submit_prompt(pid, bad, "s-bad", "tab")
    with pytest.raises(UnknownPrompt):
        db.submit_prompt(999, {"a": 1}, "s-x", "tab")
    assert db.count_responses() == 0 and db.prompt(pid).status == "open"
    assert not db.wait_prompt(pid, 0.1)
    db.submit_prompt(pid, {"naturalness": 5, "enjoyment": 2, "comment": "ok", "skipped": None}, "s1", "tablet-1")
    assert db.wait_prompt(pid, 0.0)
    assert db.open_prompts(sid) == []
    with pytest.raises(DuplicateSubmission):
        db.submit_prompt(pid, {"naturalness": 1}, "s1", "tablet-1")  # replay
    with pytest.raises(PromptClosed):
        db.submit_prompt(pid, {"naturalness": 1}, "s2", "tablet-1")  # second screen for the same prompt
    rs = {r.item_id: r for r in db.responses(sid)}
    assert {k: r.value for k, r in rs.items()} == {"naturalness": 5, "enjoyment": 2, "comment": "ok", "skipped": None}
    assert len({r.answered_at for r in rs.values()}) == 1 and all(r.rt_s >= 0 for r in rs.values())


def test_participant_ids_are_pseudonyms_and_unique_per_study(db, tmp_path):
    for bad in ("Alice", "Bob Smith", "P", "p07x", ""):
        with pytest.raises(InputError, match="pseudonymous"):
            db.create_session(bad, "s", _trials(), plan_row=0, seed=1)
    sid = _session(db, "P07")
    with pytest.raises(DuplicateParticipant, match="--resume"):
        _session(db, "P07")
    assert [s.session_id for s in db.sessions_for("P07")] == [sid]
    other = StudyDatabase(tmp_path / "other.sqlite", participant_pattern=r"S-\d{3}")
    other.create_session("S-001", "s", _trials(), plan_row=0, seed=1)
    with pytest.raises(InputError):
        other.create_session("P01", "s", _trials(), plan_row=0, seed=1)
    # the pattern is stored: another process opening the file uses it
    assert StudyDatabase(tmp_path / "other.sqlite").participant_pattern == r"S-\d{3}"


def test_join_codes(db):
    a, b = _session(db, "P01"), _session(db, "P02")
    ca, cb = db.session_code(a), db.session_code(b)
    assert ca != cb and len(ca) == 9 and not set(ca) & set("01IOL")   # 31**9: 44.6 bits
    assert db.session_by_code(ca.lower()).session_id == a
    assert db.session_by_code("ZZZZZZ") is None and db.session_by_code("") is None


def test_redo_keeps_old_answers_and_asks_again(db):
    sid = _session(db)
    p0 = db.open_prompt(sid, 1, "trial_ratings", {})
    db.submit_prompt(p0, {"naturalness": 2}, "a", "t")
    assert db.open_prompt(sid, 1, "trial_ratings", {}) == p0  # answered: never asked again
    assert db.redo_trial(sid, 1) == 1
    p1 = db.open_prompt(sid, 1, "trial_ratings", {})
    assert p1 != p0
    db.submit_prompt(p1, {"naturalness": 6}, "b", "t")
    assert [(r.attempt, r.value) for r in db.responses(sid)] == [(0, 2), (1, 6)]
    with pytest.raises(InputError):
        db.redo_trial(sid, 99)


def test_concurrent_tablets_and_a_race_on_one_prompt(db):
    sid = _session(db, n=8)
    prompts = [db.open_prompt(sid, i, "trial_ratings", {}) for i in range(8)]
    errors = []

    def tablet(i):
        try:
            db.submit_prompt(prompts[i], {f"item{k}": k for k in range(5)}, f"sub{i}", f"tablet-{i}")
        except Exception as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=tablet, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and db.count_responses() == 40
    # two tablets submit the same screen at the same moment: exactly one wins
    extra = db.create_session("P02", "s", _trials(1), plan_row=1, seed=2)
    pid = db.open_prompt(extra, 0, "trial_ratings", {})
    outcomes = []
    barrier = threading.Barrier(2)

    def racer(k):
        barrier.wait()
        try:
            db.submit_prompt(pid, {"naturalness": k}, f"race{k}", "t")
            outcomes.append("ok")
        except (PromptClosed, DuplicateSubmission):
            outcomes.append("refused")

    rs = [threading.Thread(target=racer, args=(k,)) for k in (1, 2)]
    for t in rs:
        t.start()
    for t in rs:
        t.join()
    assert sorted(outcomes) == ["ok", "refused"]
    assert len(db.responses(extra)) == 1


def test_control_requests_are_logged_events(db):
    sid = _session(db)
    before = db.last_event_id()
    db.request_control(sid, "skip")
    db.request_control(sid, "redo", trial=1)
    evs = db.events_after(sid, before)
    assert [e.payload["command"] for e in evs] == ["skip", "redo"] and evs[1].trial_index == 1
    with pytest.raises(InvalidAnswer):
        db.request_control(sid, "explode")


def test_responses_survive_a_writer_killed_mid_transaction(tmp_path):
    """A second connection holding an open write transaction that never commits loses only
    its own uncommitted rows; committed answers stay readable."""
    db = StudyDatabase(tmp_path / "s.sqlite")
    sid = _session(db)
    pid = db.open_prompt(sid, 0, "trial_ratings", {})
    db.submit_prompt(pid, {"naturalness": 3}, "x", "t")
    raw = sqlite3.connect(tmp_path / "s.sqlite", isolation_level=None)
    raw.execute("BEGIN IMMEDIATE")
    raw.execute("INSERT INTO participants VALUES ('P99', 'now')")
    raw.close()  # no commit
    assert [r.value for r in db.responses(sid)] == [3]
    assert "P99" not in [s.participant_id for s in db.sessions()]
    start = time.monotonic()
    assert db.open_prompt(sid, 1, "trial_ratings", {}) > pid  # lock released, writes go on
    assert time.monotonic() - start < 2
    try:
        assert db.integrity_check() == ["ok"]
    except DBAPIError:  # pragma: no cover
        pytest.fail("database unreadable")
