"""End-to-end latency of the WebXR page: pose server -> WebSocket bridge -> Chromium -> frame.

A publisher process sends one avatar's poses at 72 Hz (the Quest's default refresh rate),
each stamped with its publish time as presentation time (no lead), on loopback. The web
server (``questionnaires.webxr``: the tablet app + bridge, HTTPS with a generated
certificate) runs in this process; Debian's Chromium (headless, SwiftShader WebGL, so a
CPU renderer) shows the paired page. The page maps its frame times (requestAnimationFrame
timestamps) to the server's clock with its ping-estimated offset and records, for each
pose, when it arrived and the first frame that displays it. Reported (ms, on the shared
monotonic clock):

- ``arrival``: pose published -> WebSocket message decoded in the page;
- ``display``: pose published -> time of the first animation frame that shows it (the frame's
  start; the compositor adds about one more frame before photons on a real display).

Baseline: the Python subscriber (:class:`vr_study.stream.PoseSubscriber`) in-process on the same
stream: published -> available in its jitter buffer (polled every 0.5 ms).
Usage: python benchmarks/webxr_latency.py [--quick]   (last line: one JSON object)
"""
from __future__ import annotations

import argparse
import json
import multiprocessing
import platform
import tempfile
import time
from pathlib import Path

import numpy as np

from _webxr_page import paired_page  # benchmarks/_webxr_page.py

RATE_HZ = 72.0
ARGS = ["--headless", "--no-sandbox", "--use-angle=swiftshader", "--enable-unsafe-swiftshader",
        "--autoplay-policy=no-user-gesture-required"]


def publisher(endpoint_q, start, stop) -> None:  # noqa: ANN001 - multiprocessing objects
    from vr_study.stream import PosePublisher

    with PosePublisher("tcp://127.0.0.1:*") as pub:
        endpoint_q.put(pub.endpoint)
        start.wait()
        t0, k = time.monotonic(), 0
        while not stop.is_set():
            due = t0 + k / RATE_HZ
            while (d := due - time.monotonic()) > 0:
                time.sleep(min(d, 0.001))
            pose = np.zeros((55, 3), np.float32)
            pose[16, 2] = -0.3 - 0.8 * np.sin(k / RATE_HZ * np.pi)
            pub.send("agent", time.monotonic(), RATE_HZ, pose, np.zeros(3), np.zeros(10))
            k += 1


def stats_ms(x: np.ndarray) -> dict[str, float]:
    x = np.asarray(x) * 1000.0
    return {"n": int(len(x)), "p50_ms": round(float(np.median(x)), 2), "p95_ms": round(float(np.percentile(x, 95)), 2),
            "mean_ms": round(float(np.mean(x)), 2)}


def page_run(endpoint: str, seconds: float, tmp: Path) -> dict:
    from questionnaires.webxr_model import web_model
    from vr_study.body import load_body_model

    with paired_page(tmp, endpoint, lambda: web_model(load_body_model()), ARGS) as page:
        end = time.monotonic() + 60
        while not page.evaluate("!!(window.vrStudy && vrStudy.ready && vrStudy.clock.pings >= 8)"):
            if time.monotonic() > end:
                raise RuntimeError("the page did not start")
            time.sleep(0.05)
        page.evaluate("vrStudy.latency.length = 0")
        f0 = page.evaluate("vrStudy.frames")
        time.sleep(seconds)
        rec = np.asarray(page.evaluate("vrStudy.latency"), float)
        info = page.evaluate("({frames: vrStudy.frames, clock: vrStudy.clock, "
                             "stats: vrStudy.avatars.agent && vrStudy.avatars.agent.stats})")
    # rec rows: seq, presentation (= publish) time, arrival, first display (server clock, s)
    return {"arrival": stats_ms(rec[:, 2] - rec[:, 1]), "display": stats_ms(rec[:, 3] - rec[:, 1]),
            "frames_per_s": round((info["frames"] - f0) / seconds, 1),
            "clock_rtt_ms": round(1000 * (info["clock"]["rttS"] or 0), 2), "stream_stats": info["stats"]}


def baseline_run(endpoint: str, seconds: float) -> dict:
    from vr_study.stream import PoseSubscriber

    lat = []
    with PoseSubscriber(endpoint, ["agent"]) as sub:
        end = time.monotonic() + seconds
        last = None
        while time.monotonic() < end:
            sub.poll(timeout_ms=1)
            t = sub.newest_time_s("agent")
            if t is not None and t != last:
                lat.append(time.monotonic() - t)
                last = t
            time.sleep(0.0005)
    return {"arrival": stats_ms(np.asarray(lat[5:]))}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="10 s in the browser + 5 s baseline (< 60 s in all)")
    args = ap.parse_args()
    page_s, base_s = (10.0, 5.0) if args.quick else (30.0, 15.0)
    ctx = multiprocessing.get_context("spawn")
    q, start, stop = ctx.Queue(), ctx.Event(), ctx.Event()
    proc = ctx.Process(target=publisher, args=(q, start, stop), daemon=True)
    proc.start()
    endpoint = q.get(timeout=30)
    start.set()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            page = page_run(endpoint, page_s, Path(tmp))
        base = baseline_run(endpoint, base_s)
    finally:
        stop.set()
        proc.join(5)
    out = {"benchmark": "webxr_latency", "rate_hz": RATE_HZ, "page": page, "baseline_python_subscriber": base,
           "machine": f"{platform.machine()} {multiprocessing.cpu_count()} cores", "quick": args.quick,
           "browser": "chromium headless, SwiftShader WebGL"}
    print(f"page: arrival p50 {page['arrival']['p50_ms']} ms, display p50 {page['display']['p50_ms']} ms "
          f"(p95 {page['display']['p95_ms']} ms) at {page['frames_per_s']} frames/s; python subscriber arrival p50 {base['arrival']['p50_ms']} ms")
    print(json.dumps(out))


if __name__ == "__main__":
    main()
