"""SIGKILL the session process at random moments; nothing answered may be lost or asked again."""
from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from pathlib import Path

import pytest

from study_helpers import ANSWERS, make_study
from vr_study.storage import DuplicateSubmission, PromptClosed, StudyDatabase
from vr_study.study.answerers import fixed_answers
from vr_study.study.export import tidy_rows

ROOT = Path(__file__).resolve().parent.parent


class Tablet(threading.Thread):
    """A fast scripted tablet in this process: answers every open prompt through the DB API."""

    def __init__(self, db: StudyDatabase, seed: int):
        super().__init__(daemon=True)
        self.db, self.rng = db, random.Random(seed)
        self.answers_for = fixed_answers(ANSWERS)
        self.accepted: dict[int, dict] = {}  # prompt id -> answers the database accepted
        self.stop = threading.Event()
        self.errors: list[BaseException] = []

    def run(self) -> None:
        try:
            while not self.stop.is_set():
                for sess in self.db.sessions():
                    for p in self.db.open_prompts(sess.session_id):
                        time.sleep(self.rng.uniform(0.0, 0.03))
                        answers = self.answers_for(p)
                        try:
                            self.db.submit_prompt(p.prompt_id, answers, uuid.uuid4().hex, "crash-test-tablet")
                            self.accepted[p.prompt_id] = answers
                        except (PromptClosed, DuplicateSubmission):
                            pass
                time.sleep(0.01)
        except BaseException as e:  # noqa: BLE001 - reported by the test
            self.errors.append(e)


def _start(spec: Path, participant: str, resume: bool) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "vr_study.cli", "session", "run", str(spec), "--participant", participant,
           "--simulate", "--speed", "20", "--no-tablet", "--no-lsl"] + (["--resume"] if resume else [])
    return subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            stdin=subprocess.DEVNULL, env={**os.environ, "PYTHONPATH": str(ROOT)})


def _progress(db: StudyDatabase, pid: str) -> int:
    """Events logged so far in ``pid``'s session (0 before it exists)."""
    sessions = db.sessions_for(pid)
    return len(db.events(sessions[0].session_id)) if sessions else 0


@pytest.mark.slow
def test_sigkill_at_random_moments_loses_nothing(tmp_path):
    spec = make_study(tmp_path / "study", kind="interaction")
    db = StudyDatabase(tmp_path / "study" / "data" / "study.sqlite", participant_pattern=r"P\d{2,3}")
    tablet = Tablet(db, seed=1)
    tablet.start()
    rng = random.Random(20261129)
    kills = 0
    kills_mid_session = 0  # kills after the session existed: these exercise --resume
    participants = ["P01", "P02", "P03", "P04"]
    restarts: Counter = Counter()
    try:
        for pid in participants:
            started = False
            for attempt in range(30):
                proc = _start(spec, pid, resume=started)
                # Kill after a random amount of progress (0-3 more logged events, then 0-60 ms),
                # so that kills land mid-session however fast this machine is; after 6 kills
                # of this participant, let the session finish.
                kill = restarts[pid] < 6
                target = _progress(db, pid) + rng.randint(0, 3)
                deadline = time.monotonic() + 60
                while proc.poll() is None and time.monotonic() < deadline:
                    if kill and _progress(db, pid) >= target:
                        time.sleep(rng.uniform(0.0, 0.06))
                        break
                    time.sleep(0.005)
                if proc.poll() is None:
                    proc.send_signal(signal.SIGKILL)
                    proc.communicate()
                    kills += 1
                    restarts[pid] += 1
                    kills_mid_session += bool(started)
                    started = started or bool(db.sessions_for(pid))
                    continue
                err = proc.communicate()[1].decode()
                assert proc.returncode == 0, err
                break
            else:
                pytest.fail(f"{pid}'s session never finished")
    finally:
        tablet.stop.set()
        tablet.join(5)
    assert not tablet.errors, tablet.errors
    assert kills >= 20 and kills_mid_session >= 10, (kills, kills_mid_session)

    assert db.integrity_check() == ["ok"]
    stored = {}
    for r in db.responses():
        stored.setdefault(r.prompt_id, {})[r.item_id] = r.value
    # every answer the database accepted is there, exactly as given, and nothing else
    assert stored == tablet.accepted
    for pid in participants:
        (sess,) = db.sessions_for(pid)
        assert sess.status == "finished"
        trials = db.trials(sess.session_id)
        assert all(t.status == "done" for t in trials)
        prompts = db.prompts(sess.session_id)
        assert all(p.status == "answered" for p in prompts)
        # nothing answered was asked again: one prompt per (trial, instrument), in the planned order
        asked = Counter((p.trial_index, p.instrument_id) for p in prompts)
        expected = Counter((t.trial_index, q) for t in trials for q in t.questionnaires)
        assert asked == expected
        resumed = [e for e in db.events(sess.session_id) if e.kind == "session_resumed"]
        assert len(resumed) <= restarts[pid]
    header, rows = tidy_rows(db)
    assert len(rows) == sum(len(a) for a in tablet.accepted.values())
