"""The WebXR page's JavaScript against the Python it ports, run side by side (node, no browser).

- ``jitter.js`` vs :class:`vr_study.stream.jitter.JitterBuffer`: the same pushes (with gaps,
  a duplicate, late poses, a publisher restart) and the same display times give the same
  poses (slerped rotations, interpolated translation and expression), ages and counters;
- ``protocol.js`` parses the bridge's messages (:func:`vr_study.stream.wsbridge.bridge_message`)
  into the values :func:`vr_study.stream.protocol.encode_pose` / ``encode_audio_cue`` packed,
  and refuses what the Python subscriber drops;
- the bridge refuses malformed messages as the subscriber does.
"""
from __future__ import annotations

import base64
import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from vr_study.stream.jitter import JitterBuffer
from vr_study.stream.protocol import (AudioCue, MalformedMessage, PoseHeader, PoseSample, encode_audio_cue,
                                     encode_pose)
from vr_study.stream.wsbridge import bridge_message, pong

STATIC = Path(__file__).resolve().parents[1] / "questionnaires" / "webxr_static"
NODE = shutil.which("node")
needs_node = pytest.mark.skipif(NODE is None, reason="node is not installed (Debian package nodejs)")


def run_node(script: str, data: object) -> object:
    """Run an ES-module ``script`` with ``data`` as JSON on stdin; return its JSON stdout."""
    out = subprocess.run([NODE, "--input-type=module", "-e", script], input=json.dumps(data), text=True,
                         capture_output=True, timeout=60, cwd=STATIC)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def _events(seed: int = 3):
    """Pushes and queries, as (kind, ...) tuples, for both implementations."""
    rng = np.random.default_rng(seed)
    events, seq, t = [], 0, 10.0
    for i in range(40):
        if i == 25:                       # publisher restart: new epoch, sequence numbers start again
            seq = 0
        epoch = 7 if i < 25 else 8
        if i in (5, 6):                   # two lost frames -> gaps
            seq += 1
            t += 1 / 30
            continue
        pose = rng.normal(0, 1.2, (55, 3)).astype(np.float32)   # large angles: slerp's far side matters
        events.append(("push", epoch, seq, t, pose.ravel().tolist(), rng.normal(0, 0.1, 3).tolist(),
                       rng.normal(0, 1, 10).tolist()))
        if i == 12:                       # the same message again
            events.append(events[-1])
        if i % 3 == 2:
            events.append(("query", t - rng.uniform(0, 0.05)))
        seq += 1
        t += 1 / 30
    events.append(("push", 8, seq, 10.2, [0.0] * 165, [0, 0, 0], [0] * 10))   # late (older than shown)
    events.append(("query", t + 0.5))                                        # past the newest: hold + age
    return events


def _python(events):
    buf, out = JitterBuffer(capacity=8), []
    for ev in events:
        if ev[0] == "push":
            _, epoch, seq, t, pose, transl, expr = ev
            buf.push(PoseHeader(1, 1, 10, epoch, seq, t, 30.0),
                     PoseSample(np.asarray(pose, np.float32).reshape(55, 3), np.asarray(transl, np.float32),
                                np.asarray(expr, np.float32), t, seq))
        else:
            s = buf.pose_at(ev[1])
            out.append({"pose": s.full_pose.ravel().tolist(), "transl": s.transl.tolist(),
                        "expr": s.expression.tolist(), "seq": s.seq, "age": s.age_s, "time": s.time_s})
    st = buf.stats
    return out, {"received": st.received, "gaps": st.gaps, "late": st.late, "duplicates": st.duplicates,
                 "restarts": st.restarts}


JS_JITTER = """
import { JitterBuffer } from "./jitter.js";
let input = ""; for await (const c of process.stdin) input += c;
const buf = new JitterBuffer(8); const out = [];
for (const ev of JSON.parse(input)) {
  if (ev[0] === "push") {
    const [, epoch, seq, t, pose, transl, expr] = ev;
    buf.push({ epoch, seq }, { fullPose: Float32Array.from(pose), transl: Float32Array.from(transl),
                               expression: Float32Array.from(expr), time_s: t, seq });
  } else {
    const s = buf.poseAt(ev[1]);
    out.push({ pose: Array.from(s.fullPose), transl: Array.from(s.transl), expr: Array.from(s.expression),
               seq: s.seq, age: s.age_s, time: s.time_s });
  }
}
console.log(JSON.stringify([out, buf.stats]));
"""


@needs_node
def test_js_jitter_buffer_gives_the_python_buffers_poses_and_counters():
    events = _events()
    py_out, py_stats = _python(events)
    js_out, js_stats = run_node(JS_JITTER, events)
    assert js_stats == py_stats
    assert py_stats["gaps"] == 2 and py_stats["duplicates"] == 1 and py_stats["restarts"] == 1
    assert py_stats["late"] >= 1
    assert len(js_out) == len(py_out) >= 12
    for js, py in zip(js_out, py_out):
        assert js["seq"] == py["seq"]
        assert js["age"] == pytest.approx(py["age"], abs=1e-9) and js["time"] == pytest.approx(py["time"], abs=1e-9)
        # float32 results: rotations computed in float64 by both, translation/expression in float32 by numpy
        np.testing.assert_allclose(js["pose"], py["pose"], atol=2e-6)
        np.testing.assert_allclose(js["transl"], py["transl"], atol=1e-6)
        np.testing.assert_allclose(js["expr"], py["expr"], atol=2e-6)
    assert py_out[-1]["age"] > 0.4             # held past the newest pose, its age reported


JS_PROTOCOL = """
import { parseMessage } from "./protocol.js";
let input = ""; for await (const c of process.stdin) input += c;
const out = JSON.parse(input).map((b64) => {
  const bytes = Buffer.from(b64, "base64");
  const m = parseMessage(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length));
  if (m === null) return null;
  if (m.kind === "cue") return m;
  return { kind: m.kind, avatar: m.avatar, header: m.header, pose: Array.from(m.sample.fullPose),
           transl: Array.from(m.sample.transl), expr: Array.from(m.sample.expression) };
});
console.log(JSON.stringify(out));
"""


@needs_node
def test_js_protocol_parses_the_bridges_messages_and_refuses_bad_ones():
    rng = np.random.default_rng(0)
    pose = rng.normal(0, 1, (55, 3)).astype(np.float32)
    transl, expr = np.float32([0.1, 0.9, -0.2]), rng.normal(0, 1, 10).astype(np.float32)
    frames = encode_pose("agent-é", 0xDEADBEEF, 2**40 + 5, 12345.678901, 90.0, pose, transl, expr)
    cue = encode_audio_cue(AudioCue("agent-é", 3, 9, 100.25, 0.5, "/x/speech.wav", "speech/a.wav"))
    good = [bridge_message(frames), bridge_message(cue)]
    nan = bytearray(good[0])
    nan[-4:] = np.float32(np.nan).tobytes()
    bad = [good[0][:-4], bytes(nan), good[0].replace(b"VRPS", b"VRPX")]
    out = run_node(JS_PROTOCOL, [base64.b64encode(m).decode() for m in good + bad])
    p, c = out[0], out[1]
    assert p["avatar"] == "agent-é" and p["header"]["epoch"] == 0xDEADBEEF and p["header"]["seq"] == 2**40 + 5
    assert p["header"]["time_s"] == 12345.678901 and p["header"]["fps"] == 90.0 and p["header"]["numExpression"] == 10
    np.testing.assert_array_equal(np.float32(p["pose"]), pose.ravel())
    np.testing.assert_array_equal(np.float32(p["transl"]), transl)
    np.testing.assert_array_equal(np.float32(p["expr"]), expr)
    assert c["cue"] == {"epoch": 3, "cueId": 9, "start_s": 100.25, "offset_s": 0.5, "audio": "/x/speech.wav",
                        "library": "speech/a.wav"}
    assert out[2:] == [None, None, None]


def test_bridge_forwards_the_protocols_bytes_and_refuses_what_the_subscriber_drops():
    frames = encode_pose("a", 1, 0, 1.0, 30.0, np.zeros((55, 3)), np.zeros(3), np.zeros(4))
    msg = bridge_message(frames)
    assert msg == b"\x01a" + frames[1] + frames[2]           # header and payload unchanged
    for broken in ([frames[0], frames[1][:-1], frames[2]], [frames[0], frames[1], frames[2][:-4]],
                   [frames[0], frames[1]]):
        with pytest.raises(MalformedMessage):
            bridge_message(broken)
    assert pong({"type": "ping", "id": 3, "client_ms": 12.5}, now_s=99.0) == {
        "type": "pong", "id": 3, "client_ms": 12.5, "server_s": 99.0}
    assert pong({"type": "ping", "id": "x", "client_ms": 1}) is None and pong({"type": "key"}) is None
