"""A session driving the real pose server over ZeroMQ (no simulator)."""
from __future__ import annotations

import threading
import time

from study_helpers import ANSWERS, make_study
from vr_study.storage import StudyDatabase
from vr_study.stream.server import PoseServer, library_resolver
from vr_study.stream.subscriber import PoseSubscriber
from vr_study.study.answerers import ScriptedAnswerer, fixed_answers
from vr_study.study.drivers import StreamDriver
from vr_study.study.session import run_session
from vr_study.study.spec import load_spec


def test_session_plays_each_clip_through_the_pose_server(tmp_path):
    spec = load_spec(make_study(tmp_path / "study", frames=9))  # 0.3 s clips at 30 Hz
    db = StudyDatabase(spec.database, participant_pattern=spec.study.participant_pattern)
    server = PoseServer("tcp://127.0.0.1:*", "tcp://127.0.0.1:*", library_resolver(spec.library_dir))
    pub_endpoint = server.publisher.endpoint
    th = threading.Thread(target=server.serve_forever, kwargs={"until_s": time.monotonic() + 60}, daemon=True)
    th.start()
    sub = PoseSubscriber(pub_endpoint, ["agent"])
    received = [0]
    stop = threading.Event()

    def listen():
        while not stop.is_set():
            received[0] += sub.poll(timeout_ms=50)

    lt = threading.Thread(target=listen, daemon=True)
    lt.start()
    driver = StreamDriver(server.control_endpoint)
    try:
        t0 = time.monotonic()
        out = run_session(spec, db, "P01", driver, answerer=ScriptedAnswerer(db, fixed_answers(ANSWERS)))
        elapsed = time.monotonic() - t0
        status = driver.health()
    finally:
        stop.set()
        lt.join(2)
        driver.control.shutdown()
        driver.close()
        th.join(5)
        server.close()
        sub.close()
    assert out.status == "finished"
    assert elapsed >= 4 * 0.3  # each clip really played for its duration
    assert status["avatars"]["agent"]["frames_sent"] >= 9  # the last clip played in full
    assert received[0] >= 4 * 9  # the subscriber saw every trial's frames
    onsets = [e for e in db.events(out.session_id) if e.kind == "stimulus_onset"]
    health = [e for e in db.events(out.session_id) if e.kind == "stream_health"]
    assert len(onsets) == 4 and health and health[-1].payload["driver"] == "stream"
