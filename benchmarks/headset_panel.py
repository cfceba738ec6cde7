"""Benchmark: what the in-headset questionnaire panel costs the XR frame loop, and its commits.

A scripted controller answers shipped instruments on a real SQLite database through the
PanelSource API, calling ``pointer`` (right, left, gaze) and ``view`` once per 90 Hz frame as
the renderer does. Measured: the time of one frame's panel calls (p50/p99, and on frames
that receive a new image), the latency from a press to the image showing it (the drawing
thread composes the overlay on the cached page), laying out a new prompt (background
thread), and the latency from pressing Next/Submit to the page or screen being committed
(synchronous=FULL). Baseline (same process): drawing the whole page again on every change
instead of the overlay on the cached page. The last line printed is one JSON object.

    .venv/bin/python benchmarks/headset_panel.py [--quick]
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from questionnaires.headset_panel import QuestionnairePanel  # noqa: E402
from questionnaires.instruments import load_instruments  # noqa: E402
from questionnaires.panel_layout import PanelGeometry, compose, paginate, render_page  # noqa: E402
from vr_study.storage import StudyDatabase, TrialRecord  # noqa: E402
from vr_study.xr.panel_source import PointerEvent  # noqa: E402


def pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))] if xs else float("nan")


def answer_instrument(db: StudyDatabase, insts, inst_id: str, frame_ms: list, redraw_ms: list,
                      commit_ms: list, shown_ms: list) -> float:
    """Answer one screen frame by frame; returns the prompt's layout time in ms."""
    sid = db.create_session(f"P{len(db.sessions()) + 1:02d}", "bench", [
        TrialRecord(0, 0, "playback", 0, questionnaires=[inst_id])], plan_row=0, seed=0)
    pid = db.open_prompt(sid, 0, inst_id, {"answer_in": "headset", "emotion": "happy"})
    t0 = time.perf_counter()
    panel = QuestionnairePanel(db, insts, sid, poll_s=0.25)
    while panel.state().prompt_id != pid:
        time.sleep(0.001)
    layout_ms = (time.perf_counter() - t0) * 1e3
    t = time.monotonic()
    last_version = None

    def frame(uv, select: bool) -> None:
        nonlocal t, last_version
        t += 1 / 90
        a = time.perf_counter()
        panel.pointer(PointerEvent("right", uv, select, t))
        panel.pointer(PointerEvent("left", None, False, t))
        panel.pointer(PointerEvent("gaze", (0.5, 0.31), False, t))
        v = panel.view(t)
        ms = (time.perf_counter() - a) * 1e3
        frame_ms.append(ms)
        if v is not None and v.version != last_version:
            redraw_ms.append(ms)
            last_version = v.version

    try:
        while panel.state().prompt_id == pid:
            page = panel.state().page
            items = dict.fromkeys(c.item_id for c in panel.controls() if c.kind == "option")
            for item in items:
                opts = [c for c in panel.controls() if c.item_id == item]
                c = opts[len(opts) // 2]
                w, h = panel.geometry.size_px
                uv = (c.center[0] / w, c.center[1] / h)
                for _ in range(10):                   # move onto it, then press and release
                    frame(uv, False)
                before = last_version
                a = time.perf_counter()
                frame(uv, True)
                while last_version == before:         # frames until the chosen answer is drawn
                    time.sleep(0.001)
                    frame(uv, True)
                shown_ms.append((time.perf_counter() - a) * 1e3)
                frame(uv, False)
            kind = "next" if panel.control_uv("next") else "submit"
            uv = panel.control_uv(kind)
            frame(uv, True)
            a = time.perf_counter()
            while True:                               # the renderer keeps drawing while it commits
                frame(uv, False)
                st = panel.state()
                if (kind == "next" and st.page != page) or (kind == "submit" and st.prompt_id != pid):
                    break
                time.sleep(0.001)
            commit_ms.append((time.perf_counter() - a) * 1e3)
    finally:
        panel.close()
    return layout_ms


def baseline_full_redraw(insts, inst_id: str, n: int) -> float:
    """ms per change when the whole page is drawn again (no cached page image)."""
    g = PanelGeometry()
    inst = insts[inst_id]
    items = inst.presentation_order(0)
    groups = paginate(inst, items, {}, g)
    a = time.perf_counter()
    for i in range(n):
        lay = render_page(inst, groups[0], {}, g, where="Page 1", page=0, pages=len(groups))
        compose(lay, {}, hover=[lay.controls[i % len(lay.controls)]])
    return (time.perf_counter() - a) * 1e3 / n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer instruments (< 60 s)")
    args = ap.parse_args()
    ids = ["trial_ratings", "sam"] if args.quick else ["trial_ratings", "emotion_recognition", "sam", "godspeed",
                                                       "ipq"]
    insts = load_instruments()
    frame_ms: list[float] = []
    redraw_ms: list[float] = []
    commit_ms: list[float] = []
    shown_ms: list[float] = []
    layouts = {}
    with tempfile.TemporaryDirectory() as d:
        db = StudyDatabase(Path(d) / "bench.sqlite")
        for inst_id in ids:
            layouts[inst_id] = round(answer_instrument(db, insts, inst_id, frame_ms, redraw_ms, commit_ms, shown_ms), 1)
        db.close()
    base = {i: round(baseline_full_redraw(insts, i, 5 if args.quick else 20), 2) for i in ids}
    result = {
        "benchmark": "headset_panel", "quick": args.quick, "instruments": ids, "frames": len(frame_ms),
        "frame_ms_p50": round(statistics.median(frame_ms), 3), "frame_ms_p99": round(pct(frame_ms, 0.99), 3),
        "frames_with_new_image_ms_p50": round(statistics.median(redraw_ms), 3),
        "press_to_image_ms_p50": round(statistics.median(shown_ms), 2),
        "press_to_image_ms_max": round(max(shown_ms), 2),
        "baseline_full_redraw_ms": base, "layout_ms": layouts,
        "commit_ms_p50": round(statistics.median(commit_ms), 1), "commit_ms_max": round(max(commit_ms), 1),
    }
    print(f"{len(frame_ms)} frames: panel calls p50 {result['frame_ms_p50']} ms, p99 {result['frame_ms_p99']} ms; "
          f"press to new image p50 {result['press_to_image_ms_p50']} ms (drawing thread; "
          f"full page redraw baseline {base} ms)")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
