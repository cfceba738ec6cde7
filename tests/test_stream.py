"""Pose stream over real ZeroMQ sockets on loopback."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time

import numpy as np
import pytest

from vr_study.motion import MotionClip
from vr_study.stream import ControlError, PosePublisher, PoseServer, PoseSubscriber, StreamControl
from vr_study.stream.jitter import JitterBuffer
from vr_study.stream.protocol import HEADER_STRUCT, MAGIC, MalformedMessage, decode_pose, encode_pose
from vr_study.stream.security import create_keypair, load_keys


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pump(sub: PoseSubscriber, seconds: float, until=None) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        sub.poll(timeout_ms=5)
        if until is not None and until():
            return


def pose_arrays(jaw: float = 0.0):
    pose = np.zeros((55, 3), np.float32)
    pose[22, 0] = jaw
    return pose, np.array([0.0, 0.1, 0.0], np.float32), np.arange(10, dtype=np.float32)


def test_protocol_round_trip_and_rejects_malformed():
    pose, transl, expr = pose_arrays(0.3)
    frames = encode_pose("agent", 7, 42, 12.5, 90.0, pose, transl, expr)
    avatar, h, s = decode_pose(frames)
    assert (avatar, h.seq, h.epoch, h.time_s, h.fps, h.num_expression) == ("agent", 42, 7, 12.5, 90.0, 10)
    np.testing.assert_array_equal(s.full_pose, pose)
    np.testing.assert_array_equal(s.expression, expr)
    bad_version = HEADER_STRUCT.pack(MAGIC, 99, 1, 10, 7, 42, 12.5, 90.0)
    for broken in ([frames[0], frames[1]],                      # missing payload
                   [frames[0], frames[1][:-3], frames[2]],      # truncated header
                   [frames[0], frames[1], frames[2][:-4]],      # truncated payload
                   [frames[0], bad_version, frames[2]],         # unknown version
                   [frames[0], b"XXXX" + frames[1][4:], frames[2]],
                   [b"\xff\xfe", frames[1], frames[2]]):
        with pytest.raises(MalformedMessage):
            decode_pose(broken)
    nan = np.frombuffer(frames[2], "<f4").copy()
    nan[5] = np.nan
    with pytest.raises(MalformedMessage):
        decode_pose([frames[0], frames[1], nan.tobytes()])


def test_jitter_buffer_interpolates_counts_gaps_and_holds():
    from vr_study.stream.protocol import PoseHeader, PoseSample

    buf = JitterBuffer()
    for seq, (t, jaw) in enumerate([(1.0, 0.0), (1.1, 0.2), (1.3, 0.6)]):
        pose, transl, expr = pose_arrays(jaw)
        seq_sent = seq if seq < 2 else 5  # frames 2..4 lost
        buf.push(PoseHeader(1, 1, 10, 1, seq_sent, t, 10.0),
                 PoseSample(pose, transl, expr, t, seq_sent))
    mid = buf.pose_at(1.05)
    assert mid.full_pose[22, 0] == pytest.approx(0.1, abs=1e-5)
    assert mid.age_s == 0.0
    held = buf.pose_at(2.0)  # publisher quiet: hold the newest pose, report its age
    assert held.full_pose[22, 0] == pytest.approx(0.6)
    assert held.age_s == pytest.approx(0.7)
    assert buf.stats.gaps == 3 and buf.stats.received == 3
    # a pose for a time already displayed counts as late
    pose, transl, expr = pose_arrays(0.1)
    buf.push(PoseHeader(1, 1, 10, 1, 6, 1.5, 10.0), PoseSample(pose, transl, expr, 1.5, 6))
    assert buf.stats.late == 1


def test_server_plays_clip_to_subscriber_with_interpolation():
    clip = MotionClip.zeros(31, 30)
    clip.jaw_pose[:, 0] = np.linspace(0, 0.6, 31)
    srv = PoseServer("tcp://127.0.0.1:0", "tcp://127.0.0.1:0", lambda name: clip, lead_s=0.05)
    th = threading.Thread(target=srv.serve_forever, daemon=True)
    th.start()
    try:
        with PoseSubscriber(srv.publisher.endpoint, ["agent"]) as sub, StreamControl(srv.control_endpoint) as ctl:
            ctl.load("agent", "c")
            pump(sub, 0.3, lambda: sub.avatars() == ["agent"])  # idle pose arrives
            assert sub.avatars() == ["agent"]
            start = ctl.play("agent")["start_s"]
            pump(sub, 1.2, lambda: sub.newest_time_s("agent") and sub.newest_time_s("agent") >= start + 1.0 - 1e-6)
            p = sub.pose_at("agent", start + 0.25)  # between frames 7 and 8
            assert p.full_pose[22, 0] == pytest.approx(0.6 * 0.25, abs=1e-4)
            with pytest.raises(ControlError, match="no clip loaded"):
                ctl.play("nobody")
            with pytest.raises(ControlError, match="unknown command"):
                ctl.request("dance")
            assert sub.stats.gaps == 0
            ctl.shutdown()
    finally:
        th.join(2)
        srv.close()


def test_subscriber_survives_malformed_messages_and_other_avatars():
    pub = PosePublisher("tcp://127.0.0.1:0")
    with PoseSubscriber(pub.endpoint, ["a1"]) as sub:
        time.sleep(0.2)  # let the SUB join
        pose, transl, expr = pose_arrays(0.2)
        pub.send_raw([b"a1", b"short", b"x"])
        pub.send_raw([b"a1"])
        pub.send("a10", 1.0, 30, pose, transl, expr)  # prefix of a1's topic, other avatar
        pub.send("a1", 1.0, 30, pose, transl, expr)
        pump(sub, 1.0, lambda: sub.stats.received >= 1 and sub.stats.dropped_malformed >= 2)
        st = sub.stats
        assert st.received == 1 and st.dropped_malformed == 2 and st.dropped_unknown_avatar == 1
        assert sub.pose_at("a1", 1.0).full_pose[22, 0] == pytest.approx(0.2)
    pub.close()


PUBLISHER_SCRIPT = textwrap.dedent("""
    import sys, time, numpy as np
    from vr_study.stream import PosePublisher
    pub = PosePublisher(sys.argv[1])
    jaw = float(sys.argv[2])
    pose = np.zeros((55, 3), np.float32); pose[22, 0] = jaw
    print("ready", flush=True)
    while True:
        pub.send("agent", time.monotonic() + 0.02, 90.0, pose, np.zeros(3, np.float32), np.zeros(10, np.float32))
        time.sleep(1 / 90)
""")


def test_killed_publisher_holds_pose_and_restarted_one_is_picked_up(tmp_path):
    endpoint = f"tcp://127.0.0.1:{free_port()}"
    script = tmp_path / "pub.py"
    script.write_text(PUBLISHER_SCRIPT)

    def start(jaw: float) -> subprocess.Popen:
        p = subprocess.Popen([sys.executable, str(script), endpoint, str(jaw)], stdout=subprocess.PIPE, text=True)
        assert p.stdout.readline().strip() == "ready"
        return p

    first = start(0.1)
    with PoseSubscriber(endpoint, ["agent"]) as sub:
        try:
            pump(sub, 3.0, lambda: sub.stats.received > 20)
            assert sub.stats.received > 20
            first.send_signal(signal.SIGKILL)
            first.wait()
            pump(sub, 0.5)
            held = sub.pose_at("agent", time.monotonic())
            assert held.full_pose[22, 0] == pytest.approx(0.1)  # holds still
            assert held.age_s > 0.3
            second = start(0.4)
            try:
                pump(sub, 5.0, lambda: sub.stats.restarts >= 1 and sub.stats.received > 40)
                now = time.monotonic()
                pump(sub, 0.1)
                resumed = sub.pose_at("agent", now)
                assert sub.stats.restarts == 1
                assert resumed.full_pose[22, 0] == pytest.approx(0.4)
                assert resumed.age_s < 0.1
            finally:
                second.kill()
                second.wait()
        finally:
            if first.poll() is None:
                first.kill()


def test_curve_keys_refuse_an_impostor_publisher(tmp_path):
    pub_file, sec_file = create_keypair(tmp_path, "server")
    create_keypair(tmp_path / "other", "impostor")
    real, impostor = load_keys(sec_file), load_keys(tmp_path / "other" / "impostor.key_secret")
    assert real.secret and load_keys(pub_file).secret is None
    endpoint_ok = f"tcp://127.0.0.1:{free_port()}"
    endpoint_bad = f"tcp://127.0.0.1:{free_port()}"
    good = PosePublisher(endpoint_ok, keys=real)
    bad = PosePublisher(endpoint_bad, keys=impostor)
    plain = PosePublisher(f"tcp://127.0.0.1:{free_port()}")
    pose, transl, expr = pose_arrays(0.3)
    with PoseSubscriber(endpoint_ok, ["agent"], server_public_key=real.public) as sub_ok, \
            PoseSubscriber(endpoint_bad, ["agent"], server_public_key=real.public) as sub_bad, \
            PoseSubscriber(plain.endpoint, ["agent"], server_public_key=real.public) as sub_plain:
        end = time.monotonic() + 1.5
        while time.monotonic() < end:
            for p in (good, bad, plain):
                p.send("agent", time.monotonic(), 90, pose, transl, expr)
            for s in (sub_ok, sub_bad, sub_plain):
                s.poll(timeout_ms=5)
        assert sub_ok.stats.received > 10
        assert sub_bad.stats.received == 0
        assert sub_plain.stats.received == 0
    for p in (good, bad, plain):
        p.close()


def test_cli_serve_and_send(tmp_path):
    from vr_study.formats import write_motion

    clip = MotionClip.zeros(15, 30)
    write_motion(clip, tmp_path / "c.npz")
    pub, ctl_ep = f"tcp://127.0.0.1:{free_port()}", f"tcp://127.0.0.1:{free_port()}"
    env = dict(os.environ)
    proc = subprocess.Popen([sys.executable, "-m", "vr_study.cli", "stream", "serve", "--pub", pub, "--control", ctl_ep,
                             "--clip", f"agent={tmp_path / 'c.npz'}", "--duration", "20"],
                            stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert "pose server" in proc.stdout.readline()
        out = subprocess.run([sys.executable, "-m", "vr_study.cli", "stream", "send", "status", "--control", ctl_ep],
                             capture_output=True, text=True, timeout=30)
        assert out.returncode == 0, out.stderr
        assert '"agent"' in out.stdout and '"frames": 15' in out.stdout
        subprocess.run([sys.executable, "-m", "vr_study.cli", "stream", "send", "shutdown", "--control", ctl_ep],
                       check=True, capture_output=True, timeout=30)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    bad = subprocess.run([sys.executable, "-m", "vr_study.cli", "stream", "serve", "--clip", "nonsense",
                          "--pub", f"tcp://127.0.0.1:{free_port()}", "--control", f"tcp://127.0.0.1:{free_port()}"],
                         capture_output=True, text=True, timeout=30)
    assert bad.returncode == 2
    assert bad.stderr.strip().count("\n") == 0 and "--clip" in bad.stderr


def test_live_generator_streams_motion_as_speech_arrives(tmp_path):
    """`speak`: the real prosody stream fed in real time; frames carry presentation times
    on the speech's clock and the jaw moves while the speech plays."""
    import soundfile as sf

    from generators.prosody import ProsodyStream

    sr = 16000
    t = np.arange(int(1.5 * sr)) / sr
    speech = (0.3 * np.sin(2 * np.pi * 140 * t) * (np.sin(2 * np.pi * 3 * t) > 0)).astype(np.float32)
    sf.write(tmp_path / "s.wav", speech, sr)
    srv = PoseServer("tcp://127.0.0.1:0", "tcp://127.0.0.1:0", lambda n: MotionClip.zeros(1),
                     live_factory=lambda emotion, seed: ProsodyStream(emotion=emotion, seed=seed))
    th = threading.Thread(target=srv.serve_forever, daemon=True)
    th.start()
    try:
        with PoseSubscriber(srv.publisher.endpoint, ["agent"]) as sub, StreamControl(srv.control_endpoint) as ctl:
            time.sleep(0.2)
            reply = ctl.speak("agent", str(tmp_path / "s.wav"), emotion="happy")
            start = reply["audio_start_s"]
            assert 0 < reply["latency_s"] < 0.5
            pump(sub, 4.0, lambda: (sub.newest_time_s("agent") or 0) >= start + 1.45)
            assert sub.newest_time_s("agent") >= start + 1.45
            jaw = [sub.pose_at("agent", start + k / 30)
                   for k in range(0, 44)]
            opening = np.array([abs(p.full_pose[22, 0]) for p in jaw if p is not None])
            assert opening.max() > 0.02  # the mouth moves with the speech
            assert sub.stats.gaps == 0
            with pytest.raises(ControlError, match="not readable audio|does not exist"):
                ctl.speak("agent", str(tmp_path / "none.wav"))
            ctl.shutdown()
    finally:
        th.join(2)
        srv.close()


def test_play_sends_an_audio_cue_with_the_clips_speech(tmp_path):
    """Renderers learn when to start the speech: at the clip's start, at its audio offset."""
    import soundfile as sf

    from vr_study.formats import write_motion
    from vr_study.stream import library_resolver

    sf.write(tmp_path / "speech.wav", np.zeros(16000, np.float32), 16000)
    clip = MotionClip.zeros(30, 30)
    clip.meta.audio_path, clip.meta.audio_offset_s = "speech.wav", 0.25  # relative to the clip file
    write_motion(clip, tmp_path / "c.npz")
    srv = PoseServer("tcp://127.0.0.1:0", "tcp://127.0.0.1:0", library_resolver(None))
    th = threading.Thread(target=srv.serve_forever, daemon=True)
    th.start()
    try:
        with PoseSubscriber(srv.publisher.endpoint, ["agent"]) as sub, StreamControl(srv.control_endpoint) as ctl:
            ctl.load("agent", str(tmp_path / "c.npz"))
            pump(sub, 0.3, lambda: sub.avatars() == ["agent"])
            reply = ctl.play("agent")
            assert reply["audio_cued"] is True
            pump(sub, 1.0, lambda: False)
            (cue,) = sub.take_audio_cues()
            assert cue.start_s == pytest.approx(reply["start_s"]) and cue.offset_s == pytest.approx(0.25)
            assert cue.audio == str((tmp_path / "speech.wav").resolve())
            assert sub.take_audio_cues() == []  # each cue once
            ctl.shutdown()
    finally:
        th.join(2)
        srv.close()
