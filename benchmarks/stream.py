"""Pose-stream latency: vr-study's publisher/subscriber vs raw pyzmq PUB/SUB of the same bytes.

4 avatars at 90 Hz on loopback. Latency = time the pose is available to the renderer
(decoded, in the jitter buffer) minus the time it was published, both on the monotonic
clock. Baseline: a bare pyzmq SUB receiving the identical multipart messages (no decode).
Usage: python benchmarks/stream.py [--quick]   (last line: one JSON object)
"""
from __future__ import annotations

import argparse
import json
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
    def __init__(self, *a, **k):
        super().__init__(*a, **k)
        self.latencies: list[float] = []

    def _handle(self, frames):
        super()._handle(frames)
        # the presentation time carried in the header is the publish time here
        t_pub = HEADER_STRUCT.unpack(frames[1])[6]
        self.latencies.append(time.monotonic() - t_pub)


def run_ours(frames_per_avatar: int) -> dict:
    ctx = zmq.Context()
    pub = PosePublisher("tcp://127.0.0.1:0", context=ctx)
    sub = TimedSubscriber(pub.endpoint, AVATARS, context=ctx)
    time.sleep(0.3)
    ready = threading.Event()
    th = threading.Thread(target=publish_loop, args=(
        lambda a, t, pose, expr: pub.send(a, t, RATE_HZ, pose, np.zeros(3, np.float32), expr), frames_per_avatar, ready))
    th.start()
    ready.set()
    expected = frames_per_avatar * len(AVATARS)
    deadline = time.monotonic() + frames_per_avatar / RATE_HZ + 5
    while len(sub.latencies) < expected and time.monotonic() < deadline:
        sub.poll(timeout_ms=2)
        now = time.monotonic()
        for a in AVATARS:
            sub.pose_at(a, now)  # what the renderer does each frame
    th.join()
    st = sub.stats
    sub.close()
    pub.close()
    ctx.term()
    return summarise(sub.latencies, expected) | {"gaps": st.gaps, "malformed": st.dropped_malformed}


def run_raw(frames_per_avatar: int) -> dict:
    ctx = zmq.Context()
    pub = ctx.socket(zmq.PUB)
    pub.setsockopt(zmq.SNDHWM, 10000)
    port = pub.bind_to_random_port("tcp://127.0.0.1")
    sub = ctx.socket(zmq.SUB)
    sub.setsockopt(zmq.RCVHWM, 10000)
    for a in AVATARS:
        sub.setsockopt(zmq.SUBSCRIBE, a.encode())
    sub.connect(f"tcp://127.0.0.1:{port}")
    time.sleep(0.3)
    lat: list[float] = []
    seq = {a: 0 for a in AVATARS}

    def send(a, t, pose, expr):
        seq[a] += 1
        pub.send_multipart(encode_pose(a, 1, seq[a], t, RATE_HZ, pose, np.zeros(3, np.float32), expr))

    ready = threading.Event()
    th = threading.Thread(target=publish_loop, args=(send, frames_per_avatar, ready))
    th.start()
    ready.set()
    expected = frames_per_avatar * len(AVATARS)
    deadline = time.monotonic() + frames_per_avatar / RATE_HZ + 5
    while len(lat) < expected and time.monotonic() < deadline:
        if sub.poll(2):
            while True:
                try:
                    frames = sub.recv_multipart(zmq.NOBLOCK)
                except zmq.Again:
                    break
                lat.append(time.monotonic() - struct.unpack_from("<d", frames[1], 24)[0])
    th.join()
    sub.close(0)
    pub.close(0)
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
    raw = run_raw(per_avatar)
    ours = run_ours(per_avatar)
    print(f"raw pyzmq : {raw}")
    print(f"vr-study  : {ours}")
    print(json.dumps({"benchmark": "stream", "machine": platform.machine(), "avatars": len(AVATARS),
                      "rate_hz": RATE_HZ, "ours": ours, "baseline_raw_pyzmq": raw,
                      "ratio_p99_ours_over_raw": round(ours["p99_ms"] / raw["p99_ms"], 3),
                      "target_p99_ms": 2.0, "meets_target": ours["p99_ms"] <= 2.0 and ours["lost"] == 0}))


if __name__ == "__main__":
    main()
