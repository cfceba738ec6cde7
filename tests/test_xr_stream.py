"""End to end with the pose stream: a publisher process streams a talking avatar over ZeroMQ
(loopback), the renderer runs on the headless OpenXR runtime with the validation layer; the
publisher is killed mid-stream and restarted, and sends malformed messages."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from vr_study.xr.capture import head_region, read_ppm, skin_mask
from vr_study.xr.testruntime import build_test_runtime, runtime_env

pytestmark = pytest.mark.slow

PUBLISHER = textwrap.dedent("""
    import sys, time
    import numpy as np
    from vr_study.stream import PosePublisher
    endpoint, malformed = sys.argv[1], int(sys.argv[2])
    pub = PosePublisher(endpoint)
    pose = np.zeros((55, 3), np.float32)
    pose[16, 2], pose[17, 2] = -1.2, 1.2  # arms down
    i = 0
    while True:
        i += 1
        if malformed and i % malformed == 0:  # garbage the subscriber must drop and count
            pub.send_raw([b"a1", b"\\x00\\x01garbage", b"\\x02" * 7])
        t = time.monotonic() + 0.05  # presentation time, 50 ms ahead
        pose[22, 0] = 0.45 if int(t * 2) % 2 else 0.0  # jaw open in odd half-seconds
        pub.send("a1", t, 90.0, pose, np.zeros(3, np.float32), np.zeros(10, np.float32))
        time.sleep(1 / 90)
""")


def jaw_open(t: float) -> bool:
    return int(t * 2) % 2 == 1


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def read_log(path: Path) -> list[dict]:
    if not path.is_file():
        return []
    out = []
    for line in path.read_text().splitlines():
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:  # a line being written
            pass
    return out


def wait_for(cond, timeout: float, what: str) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def test_renderer_survives_a_killed_and_restarted_publisher_and_malformed_messages(tmp_path):
    manifest = build_test_runtime(tmp_path / "rt")
    endpoint = f"tcp://127.0.0.1:{free_port()}"
    cap, log = tmp_path / "cap", tmp_path / "frames.jsonl"
    env = {k: v for k, v in os.environ.items() if not k.startswith("XR_")}
    env.pop("DISPLAY", None)
    env.update(runtime_env(manifest, view_size=(320, 360), capture_dir=cap, capture_every=2, validation=True))
    start_pub = lambda malformed: subprocess.Popen(  # noqa: E731
        [sys.executable, "-c", PUBLISHER, endpoint, str(malformed)], env=env)
    pub = start_pub(0)
    renderer = subprocess.Popen([sys.executable, "-m", "vr_study.cli", "xr", "run", "--stream", endpoint,
                                 "--avatar", "a1", "--frame-log", str(log)], env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        def rendered_with_pose(n, since=0.0):
            return sum(1 for r in read_log(log) if "a1" in r["pose_age_s"]
                       and r["predicted_display_time_s"] > since and r["pose_age_s"]["a1"] < 0.1) >= n
        wait_for(lambda: rendered_with_pose(25), 90, "frames with streamed poses")
        pub.send_signal(signal.SIGKILL)
        pub.wait()
        killed_at = time.monotonic()
        wait_for(lambda: any(r["predicted_display_time_s"] > killed_at + 1.0 for r in read_log(log)), 60,
                 "frames while the publisher is down")
        pub = start_pub(5)
        restarted_at = time.monotonic()
        def resumed_for(seconds: float) -> bool:
            fresh = [r["predicted_display_time_s"] for r in read_log(log) if "a1" in r["pose_age_s"]
                     and r["predicted_display_time_s"] > restarted_at and r["pose_age_s"]["a1"] < 0.1]
            return len(fresh) >= 15 and fresh[-1] - fresh[0] >= seconds

        # enough display time after the restart, however fast this machine renders
        wait_for(lambda: resumed_for(0.6), 60, "frames after the restart")
        renderer.send_signal(signal.SIGINT)  # the renderer asks the runtime to end the session
        out, err = renderer.communicate(timeout=60)
    finally:
        pub.kill()
        pub.wait()
        if renderer.poll() is None:
            renderer.kill()
            renderer.communicate()
    assert renderer.returncode == 0, err[-3000:]
    report = json.loads(out.strip().splitlines()[-1])
    assert report["exit_reason"] == "application requested exit"
    assert report["states"][-3:] == ["STOPPING", "IDLE", "EXITING"]
    text = out + err
    assert "Core Validation Layer is initialized" in text
    assert not [x for x in text.splitlines() if "VALID_ERROR" in x or "VALID_WARNING" in x]
    stats = report["stream"]
    assert stats["received"] > 50 and stats["dropped_malformed"] >= 1 and stats["restarts"] >= 1

    frames = [r for r in read_log(log) if r["should_render"]]
    gap = [r for r in frames if killed_at + 0.3 < r["predicted_display_time_s"] < restarted_at]
    assert gap, "the renderer kept drawing frames while the publisher was down"
    assert all("a1" in r["pose_age_s"] for r in gap), [r for r in gap if "a1" not in r["pose_age_s"]][:3]
    assert max(r["pose_age_s"]["a1"] for r in gap) > 0.5, "the last pose was held, growing older"
    resumed = [r for r in frames if r["predicted_display_time_s"] > restarted_at and r["pose_age_s"]["a1"] < 0.1]
    assert resumed, "the avatar moves again once the publisher is back"
    after = [r for r in frames if r["predicted_display_time_s"] > resumed[0]["predicted_display_time_s"] + 0.2]
    assert after and np.median([r["pose_age_s"]["a1"] for r in after]) < 0.1, "and keeps up"

    # the mouth follows the streamed jaw: frames in open vs closed half-seconds differ at the head
    def images(pred):
        out = []
        for r in frames:
            t = r["predicted_display_time_s"]
            p = cap / f"frame{r['frame']:06d}_eye0.ppm"
            edge = min(t * 2 % 1, 1 - t * 2 % 1) / 2  # seconds to the nearest half-second switch
            if p.is_file() and "a1" in r["pose_age_s"] and r["pose_age_s"]["a1"] < 0.05 and edge > 0.08 \
                    and pred(t):
                out.append(read_ppm(p))
        return out
    opened, closed = images(jaw_open), images(lambda t: not jaw_open(t))
    assert len(opened) >= 1 and len(closed) >= 2
    assert skin_mask(closed[0]).sum() > 500
    rows, cols = head_region(closed[0])
    c0, c1, o0 = (x.astype(np.int16) for x in (closed[0], closed[-1], opened[0]))
    open_change = np.abs(c0[rows, cols] - o0[rows, cols]).mean()
    closed_change = np.abs(c0[rows, cols] - c1[rows, cols]).mean()
    assert open_change > 0.5 and open_change > 3 * closed_change, (open_change, closed_change)


def test_streamed_clip_starts_its_speech_in_the_renderer(tmp_path):
    """The pose server's audio cue reaches the renderer, which schedules the speech for the
    clip's start time (simulator, recorded audio backend)."""
    import threading

    import soundfile as sf

    from vr_study.formats import write_motion
    from vr_study.motion import MotionClip
    from vr_study.stream import PoseServer, StreamControl, library_resolver

    sf.write(tmp_path / "speech.wav", np.zeros(8000, np.float32), 16000)
    clip = MotionClip.zeros(60, 30)
    clip.meta.audio_path = "speech.wav"
    write_motion(clip, tmp_path / "c.npz")
    srv = PoseServer("tcp://127.0.0.1:0", "tcp://127.0.0.1:0", library_resolver(None))
    th = threading.Thread(target=srv.serve_forever, daemon=True)
    th.start()
    try:
        with StreamControl(srv.control_endpoint) as ctl:
            ctl.load("agent", str(tmp_path / "c.npz"))
            renderer = subprocess.Popen(
                [sys.executable, "-m", "vr_study.cli", "xr", "run", "--simulate", "--stream", srv.publisher.endpoint,
                 "--avatar", "agent", "--frames", "150", "--eye-size", "160x180", "--audio-backend", "recorded",
                 "--frame-log", str(tmp_path / "f.jsonl")], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            wait_for(lambda: len(read_log(tmp_path / "f.jsonl")) > 5, 90, "the renderer's first frames")
            start = ctl.play("agent")["start_s"]
            out, err = renderer.communicate(timeout=120)
            ctl.shutdown()
    finally:
        th.join(5)
        srv.close()
    assert renderer.returncode == 0, err[-2000:]
    report = json.loads(out.strip().splitlines()[-1])
    (started,) = report["audio_cues"]["started"]
    assert started["start_s"] == pytest.approx(start, abs=1e-6)
    assert started["duration_s"] == pytest.approx(0.5) and not report["audio_cues"]["problems"]
