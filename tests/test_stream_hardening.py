"""The pose server survives whatever its control socket receives; ZAP admits only listed clients."""
from __future__ import annotations

import json
import math
import threading
import time

import numpy as np
import pytest
import zmq
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vr_study.errors import InputError
from vr_study.motion import MotionClip
from vr_study.stream import ControlError, PoseServer, PoseSubscriber, StreamControl
from vr_study.stream.control import validate_request
from vr_study.stream.security import create_keypair, load_keys


def _clip() -> MotionClip:
    clip = MotionClip.zeros(6, fps=30.0)
    clip.body_pose[:, 0, 0] = np.linspace(0, 0.5, 6)
    return clip


def _resolver(name: str) -> MotionClip:
    if name == "boom":
        raise KeyError("a resolver bug")  # an unexpected failure inside a command
    return _clip()


@pytest.fixture(scope="module")
def server():
    srv = PoseServer("tcp://127.0.0.1:0", "tcp://127.0.0.1:0", _resolver, lead_s=0.02)
    th = threading.Thread(target=srv.serve_forever, daemon=True)
    th.start()
    ctx = zmq.Context()
    yield srv, th, ctx
    ctl = StreamControl(srv.control_endpoint, context=ctx)
    ctl.shutdown()
    ctl.close()
    th.join(5)
    srv.close()
    ctx.term()


def _raw(endpoint: str, ctx: zmq.Context, frames: list[bytes], timeout_ms: int = 2000) -> dict | None:
    """Send raw frames on a fresh REQ socket; the parsed reply, or None if none came."""
    s = ctx.socket(zmq.REQ)
    s.setsockopt(zmq.LINGER, 0)
    s.setsockopt(zmq.RCVTIMEO, timeout_ms)
    s.connect(endpoint)
    try:
        s.send_multipart(frames)
        return json.loads(s.recv())
    except zmq.Again:
        return None
    finally:
        s.close(0)


def _alive(srv: PoseServer, th: threading.Thread, ctx: zmq.Context) -> None:
    assert th.is_alive(), "the server thread died"
    reply = _raw(srv.control_endpoint, ctx, [b'{"cmd": "status"}'], timeout_ms=3000)
    assert reply is not None and reply["ok"], "the server hangs"


@pytest.mark.parametrize("message", [
    {"cmd": "play", "avatar": "a", "at_s": [1]},               # was: TypeError outside the handled errors
    {"cmd": "load", "avatar": "x" * 10_000, "clip": "c"},      # was: kills the server on the next frame
    {"cmd": "load", "avatar": "a", "clip": "boom"},            # a bug inside a command
    {"cmd": "play", "avatar": "a", "at_s": -1e12, "loop": True},
    {"cmd": "play", "avatar": "a", "at_s": True},
    {"cmd": "speak", "avatar": "a", "audio": "x.wav", "seed": -1},
    {"cmd": "marker", "text": 5},
    {"cmd": "load", "avatar": "a\x00b", "clip": "c"},
    {"cmd": "status", "extra": 1},
    {"cmd": "nope"},
    ["cmd", "status"],
])
def test_bad_messages_get_an_error_reply_and_the_server_lives(server, message):
    srv, th, ctx = server
    _raw(srv.control_endpoint, ctx, [b'{"cmd": "load", "avatar": "a", "clip": "c"}'])
    reply = _raw(srv.control_endpoint, ctx, [json.dumps(message).encode()])
    assert reply is not None and reply["ok"] is False and isinstance(reply["error"], str)
    assert "\n" not in reply["error"] and len(reply["error"]) <= 1000
    _alive(srv, th, ctx)


def test_nan_start_with_loop_is_refused_not_a_hang(server):
    srv, th, ctx = server
    _raw(srv.control_endpoint, ctx, [b'{"cmd": "load", "avatar": "a", "clip": "c"}'])
    for raw in (b'{"cmd": "play", "avatar": "a", "at_s": NaN, "loop": true}',
                b'{"cmd": "play", "avatar": "a", "at_s": Infinity, "loop": true}',
                b'{"cmd": "play", "avatar": "a", "at_s": 1e400, "loop": true}'):
        reply = _raw(srv.control_endpoint, ctx, [raw])
        assert reply is not None and not reply["ok"] and ("not JSON" in reply["error"] or "finite" in reply["error"])
    _alive(srv, th, ctx)


def test_multipart_oversized_and_binary_requests(server):
    srv, th, ctx = server
    assert not _raw(srv.control_endpoint, ctx, [b'{"cmd": "status"}', b"more"])["ok"]
    assert not _raw(srv.control_endpoint, ctx, [b"\xff\xfe\x00garbage"])["ok"]
    # an over-size request is dropped by ZeroMQ (MAXMSGSIZE: the peer is disconnected, never read)
    assert _raw(srv.control_endpoint, ctx, [b"[" * 100_000 + b"]" * 100_000], timeout_ms=500) is None
    _alive(srv, th, ctx)
    deep = b'{"cmd": "marker", "text": ' + b"[" * 30_000 + b"]" * 30_000 + b"}"
    reply = _raw(srv.control_endpoint, ctx, [deep])
    assert reply is not None and not reply["ok"]
    _alive(srv, th, ctx)


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=80),
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=10), children, max_size=5),
    max_leaves=20)
_fields = st.fixed_dictionaries(
    {"cmd": st.sampled_from(["load", "play", "stop", "speak", "marker", "status", "bogus"])},
    optional={"avatar": _json | st.text(max_size=200), "clip": _json, "at_s": _json, "loop": _json,
              "audio": _json, "emotion": _json, "seed": _json, "text": _json})


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(message=_fields | _json)
def test_fuzz_json_messages_never_kill_or_hang_the_server(server, message):
    srv, th, ctx = server
    raw = json.dumps(message, allow_nan=True).encode()
    reply = _raw(srv.control_endpoint, ctx, [raw])
    assert reply is not None, f"no reply to {raw[:200]!r}"
    assert isinstance(reply.get("ok"), bool)
    assert th.is_alive()


@settings(max_examples=100, deadline=None, suppress_health_check=list(HealthCheck))
@given(frames=st.lists(st.binary(max_size=300), min_size=1, max_size=3))
def test_fuzz_raw_bytes_never_kill_or_hang_the_server(server, frames):
    srv, th, ctx = server
    reply = _raw(srv.control_endpoint, ctx, frames)
    assert reply is not None and reply["ok"] in (True, False)
    assert th.is_alive()


def test_after_fuzzing_the_server_still_plays(server):
    srv, th, ctx = server
    sub = PoseSubscriber(srv.publisher.endpoint, ["good"], context=ctx)
    time.sleep(0.2)
    with StreamControl(srv.control_endpoint, context=ctx) as ctl:
        ctl.load("good", "c")
        start = ctl.play("good")["start_s"]
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline and sub.stats.received < 6:
        sub.poll(timeout_ms=20)
    assert sub.stats.received >= 6 and math.isfinite(start)
    sub.close()


def test_schema_bounds():
    assert validate_request({"cmd": "play", "avatar": "agent", "at_s": None, "loop": False})
    for bad in ({"cmd": "load", "avatar": "é" * 33, "clip": "c"},   # 66 bytes of UTF-8
                {"cmd": "load", "avatar": "a", "clip": "p" * 5000},
                {"cmd": "speak", "avatar": "a", "audio": "a.wav", "seed": 2**32},
                {"cmd": "load", "clip": "c"}):
        with pytest.raises(ValueError):
            validate_request(bad)


# ------------------------------------------------------------------ ZAP allow-list

def test_zap_admits_only_allow_listed_clients_on_both_sockets(tmp_path):
    keys = tmp_path / "keys"
    _, server_secret = create_keypair(keys, "server")
    renderer_pub, renderer_secret = create_keypair(keys, "renderer")
    create_keypair(tmp_path / "other", "intruder")
    server_keys = load_keys(server_secret)
    renderer, intruder = load_keys(renderer_secret), load_keys(tmp_path / "other" / "intruder.key_secret")
    srv = PoseServer("tcp://127.0.0.1:0", "tcp://127.0.0.1:0", _resolver, keys=server_keys,
                     allowed_clients=[renderer.public], lead_s=0.02)
    th = threading.Thread(target=srv.serve_forever, daemon=True)
    th.start()
    ctx = zmq.Context()
    try:
        # control socket: the intruder (right server key, unlisted client key) gets no answer
        with StreamControl(srv.control_endpoint, timeout_s=1.0, server_public_key=server_keys.public,
                           context=ctx, client_keys=intruder) as bad:
            with pytest.raises(ControlError, match="did not answer"):
                bad.load("agent", "c")
        with StreamControl(srv.control_endpoint, timeout_s=1.0, server_public_key=server_keys.public,
                           context=ctx) as anonymous:  # a throw-away key pair
            with pytest.raises(ControlError, match="did not answer"):
                anonymous.status()
        with StreamControl(srv.control_endpoint, timeout_s=2.0, server_public_key=server_keys.public,
                           context=ctx, client_keys=renderer) as good:
            assert good.load("agent", "c")["ok"]
            good_sub = PoseSubscriber(srv.publisher.endpoint, ["agent"], server_keys.public, ctx,
                                      client_keys=renderer)
            bad_sub = PoseSubscriber(srv.publisher.endpoint, ["agent"], server_keys.public, ctx,
                                     client_keys=intruder)
            time.sleep(0.3)
            good.play("agent", loop=True)
            deadline = time.monotonic() + 2
            while time.monotonic() < deadline and good_sub.stats.received < 10:
                good_sub.poll(timeout_ms=20)
                bad_sub.poll(timeout_ms=1)
            bad_sub.poll(timeout_ms=200)
            assert good_sub.stats.received >= 10
            assert bad_sub.stats.received == 0, "an unlisted renderer received poses"
            good_sub.close()
            bad_sub.close()
            assert good.shutdown()["ok"]
        th.join(5)
        assert not th.is_alive()
    finally:
        srv.close()
        ctx.term()
    assert renderer_pub.exists()


def test_allow_list_needs_server_keys():
    with pytest.raises(InputError, match="CurveZMQ"):
        PoseServer("tcp://127.0.0.1:0", "tcp://127.0.0.1:0", _resolver, allowed_clients=[b"x" * 40])


def test_cli_keys_serve_and_allow_listed_clients(tmp_path):
    import os
    import socket
    import subprocess
    import sys

    def port() -> int:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            return s.getsockname()[1]

    def cli(*a, timeout=30):
        return subprocess.run([sys.executable, "-m", "vr_study.cli", *a], capture_output=True, text=True,
                              timeout=timeout, env=dict(os.environ))

    keys = tmp_path / "keys"
    assert cli("stream", "keys", "-o", str(keys)).returncode == 0
    assert {p.name for p in keys.iterdir()} >= {"server.key", "server.key_secret", "renderer.key",
                                                 "renderer.key_secret", "session.key", "session.key_secret"}
    create_keypair(tmp_path / "other", "intruder")
    pub, ctl = f"tcp://127.0.0.1:{port()}", f"tcp://127.0.0.1:{port()}"
    proc = subprocess.Popen([sys.executable, "-m", "vr_study.cli", "stream", "serve", "--pub", pub, "--control", ctl,
                             "--secret-key", str(keys / "server.key_secret"), "--duration", "30"],
                            stdout=subprocess.PIPE, text=True, env=dict(os.environ))
    try:
        assert "2 allowed client keys" in proc.stdout.readline()
        ok = cli("stream", "send", "status", "--control", ctl, "--server-key", str(keys / "server.key"),
                 "--client-key", str(keys / "session.key_secret"))
        assert ok.returncode == 0 and '"ok": true' in ok.stdout, ok.stderr
        refused = cli("stream", "send", "shutdown", "--control", ctl, "--server-key", str(keys / "server.key"),
                      "--client-key", str(tmp_path / "other" / "intruder.key_secret"))
        assert refused.returncode == 2 and refused.stderr.count("\n") == 1 and "did not answer" in refused.stderr
        assert proc.poll() is None, "an unlisted client shut the server down"
        cli("stream", "send", "shutdown", "--control", ctl, "--server-key", str(keys / "server.key"),
            "--client-key", str(keys / "renderer.key_secret"))
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
