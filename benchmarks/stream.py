"""Pose-stream latency: vr-study's publisher/subscriber vs raw pyzmq PUB/SUB of the same bytes.

4 avatars at 90 Hz on loopback. The publisher runs in a child process (as the pose server
does in a lab); the subscriber in this one. Latency = time the pose is available to the
renderer (decoded, in the jitter buffer) minus the time it was published, both on the
machine's monotonic clock. Baseline: a bare pyzmq PUB/SUB pair carrying the identical
multipart messages (no protocol object, no decode, no buffer).
Usage: python benchmarks/stream.py [--quick]   (last line: one JSON object)
"""
from __future__ import annotations

import argparse
import json
import multiprocessing
import platform
import struct
import threading
import time

import numpy as np
import zmq

from vr_study.stream import PosePublisher, PoseSubscriber
from vr_study.stream.protocol import HEADER_STRUCT, encode_pose

AVATARS = ["a0", "a1", "a2", "a3"]
RATE_HZ = 90.0


def publish_loop(send, frames_per_avatar: int, ready: threading.Event) -> None:
    ready.wait()
    rng = np.random.default_rng(0)
    pose = rng.normal(0, 0.2, (55, 3)).astype(np.float32)
    expr = np.zeros(100, np.float32)
    t0 = time.monotonic() + 0.2
    for k in range(frames_per_avatar):
        due = t0 + k / RATE_HZ
        while (d := due - time.monotonic()) > 0:
            time.sleep(min(d, 0.002))
        for a in AVATARS:
            send(a, time.monotonic(), pose, expr)


class TimedSubscriber(PoseSubscriber):
    """Records, per message, when the pose became available minus its publish time."""

    def __init__(self, *a, **k):
        super().__init__(*a, **k)
        self.latencies: list[float] = []

    def _handle(self, frames):
        super()._handle(frames)
        # the presentation time carried in the header is the publish time here
        t_pub = HEADER_STRUCT.unpack(frames[1])[6]
        self.latencies.append(time.monotonic() - t_pub)


def _child_publisher(kind: str, endpoint_q, frames_per_avatar: int, go) -> None:
    """Bind, report the endpoint, wait for the go signal, publish at 90 Hz."""
    if kind == "ours":
        pub = PosePublisher("tcp://127.0.0.1:0")
        endpoint_q.put(pub.endpoint)

        def send(a, t, pose, expr):
            pub.send(a, t, RATE_HZ, pose, np.zeros(3, np.float32), expr)
    else:
        ctx = zmq.Context()
        sock = ctx.socket(zmq.PUB)
        sock.setsockopt(zmq.SNDHWM, 10000)
        port = sock.bind_to_random_port("tcp://127.0.0.1")
        endpoint_q.put(f"tcp://127.0.0.1:{port}")
        seq = {a: 0 for a in AVATARS}

        def send(a, t, pose, expr):
            seq[a] += 1
            sock.send_multipart(encode_pose(a, 1, seq[a], t, RATE_HZ, pose, np.zeros(3, np.float32), expr))
    ready = threading.Event()
    go.wait()
    ready.set()
    publish_loop(send, frames_per_avatar, ready)
    time.sleep(0.5)


def _run(kind: str, frames_per_avatar: int) -> dict:
    mp = multiprocessing.get_context("fork")
    q, go = mp.Queue(), mp.Event()
    child = mp.Process(target=_child_publisher, args=(kind, q, frames_per_avatar, go), daemon=True)
    child.start()
    endpoint = q.get(timeout=30)
    expected = frames_per_avatar * len(AVATARS)
    if kind == "ours":
        sub = TimedSubscriber(endpoint, AVATARS)
        lat = sub.latencies
    else:
        ctx = zmq.Context()
        raw = ctx.socket(zmq.SUB)
        raw.setsockopt(zmq.RCVHWM, 10000)
        for a in AVATARS:
            raw.setsockopt(zmq.SUBSCRIBE, a.encode())
        raw.connect(endpoint)
        lat = []
    time.sleep(0.3)  # let the subscription reach the publisher
    go.set()
    deadline = time.monotonic() + frames_per_avatar / RATE_HZ + 5
    next_display = time.monotonic()
    while len(lat) < expected and time.monotonic() < deadline:
        if kind == "ours":
            sub.poll(timeout_ms=1)
            now = time.monotonic()
            if now >= next_display:  # what a renderer does once per display frame (90 Hz)
                for a in AVATARS:
                    sub.pose_at(a, now)
                next_display += 1.0 / RATE_HZ
        elif raw.poll(1):
            while True:
                try:
                    frames = raw.recv_multipart(zmq.NOBLOCK)
                except zmq.Again:
                    break
                lat.append(time.monotonic() - struct.unpack_from("<d", frames[1], 24)[0])
    child.join(10)
    if kind == "ours":
        st = sub.stats
        sub.close()
        return summarise(lat, expected) | {"gaps": st.gaps, "malformed": st.dropped_malformed}
    raw.close(0)
    ctx.term()
    return summarise(lat, expected)


def summarise(lat: list[float], expected: int) -> dict:
    a = np.array(lat) * 1000.0
    return {"messages": expected, "received": int(a.size), "lost": int(expected - a.size),
            "p50_ms": round(float(np.percentile(a, 50)), 4), "p99_ms": round(float(np.percentile(a, 99)), 4),
            "max_ms": round(float(a.max()), 4)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true", help="1,000 messages instead of 10,000")
    args = ap.parse_args()
    per_avatar = 250 if args.quick else 2500  # x 4 avatars
    raw = _run("raw", per_avatar)
    ours = _run("ours", per_avatar)
    print(f"raw pyzmq : {raw}")
    print(f"vr-study  : {ours}")
    print(json.dumps({"benchmark": "stream", "machine": platform.machine(), "avatars": len(AVATARS),
                      "rate_hz": RATE_HZ, "ours": ours, "baseline_raw_pyzmq": raw,
                      "ratio_p99_ours_over_raw": round(ours["p99_ms"] / raw["p99_ms"], 3),
                      "target_p99_ms": 2.0, "meets_target": ours["p99_ms"] <= 2.0 and ours["lost"] == 0}))


if __name__ == "__main__":
    main()
