"""``vr-study demo``: the whole platform once, on the embedded defaults, into one folder.

1. converts the bundled sample clip and renders it to an MP4 with its speech;
2. generates happy and neutral clips (two seeds each) for the bundled utterances into a
   stimulus library, computes their objective metrics, and renders a side-by-side video;
3. plays a clip through the pose server into the headless XR simulator (ZeroMQ + the
   renderer's frame loop), writing a frame log;
4. runs one simulated participant through a short study, answering through the real
   tablet pages over HTTP, and exports the tidy CSV and codebook;
5. analyses a simulated 48-participant study (labelled simulated) into an HTML report.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="run the whole platform once on the bundled defaults")
    p.add_argument("-o", "--out", default="demo-out", help="output folder (default demo-out)")
    p.add_argument("--size", default="640x480", help="video size WxH in pixels (default 640x480)")
    p.add_argument("--participants", type=int, default=48, help="simulated participants for the analysis")
    p.set_defaults(func=run_demo)


def _assets() -> Path:
    import assets

    return Path(assets.__file__).resolve().parent


class _Steps:
    def __init__(self, total: int):
        self.total, self.n, self.t0 = total, 0, time.monotonic()

    def start(self, text: str) -> float:
        self.n += 1
        print(f"[{self.n}/{self.total}] {text}", flush=True)
        return time.monotonic()

    @staticmethod
    def done(t: float, text: str) -> None:
        print(f"      {text} ({time.monotonic() - t:.1f} s)", flush=True)


def _demo_live(clip_path: Path, folder: Path, frames: int = 180) -> dict:
    """Pose server (this process) -> ZeroMQ -> XR simulator (its own process, as in a lab)."""
    import subprocess
    import sys
    import threading

    from vr_study.stream import PoseServer, StreamControl, library_resolver

    folder.mkdir(parents=True, exist_ok=True)
    server = PoseServer("tcp://127.0.0.1:0", "tcp://127.0.0.1:0", library_resolver(None))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    log = folder / "frames.jsonl"
    log.unlink(missing_ok=True)
    try:
        with StreamControl(server.control_endpoint) as ctl:
            ctl.load("agent", str(clip_path))  # the avatar stands in its first pose until played
            proc = subprocess.Popen(
                [sys.executable, "-m", "vr_study.cli", "xr", "run", "--simulate", "--stream", server.publisher.endpoint,
                 "--avatar", "agent", "--frames", str(frames), "--eye-size", "320x360", "--audio-backend", "recorded",
                 "--frame-log", str(log), "--capture-dir", str(folder / "eyes"), "--capture-every", "30"],
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            deadline = time.monotonic() + 120
            while proc.poll() is None and time.monotonic() < deadline and not (log.is_file() and log.stat().st_size):
                time.sleep(0.05)  # the renderer is up and subscribed once it logs frames
            ctl.play("agent")  # motion, and an audio cue for its speech
            out, err = proc.communicate(timeout=300)
            ctl.shutdown()
    finally:
        thread.join(5)
        server.close()
    if proc.returncode != 0:
        raise RuntimeError(f"XR simulator failed: {err.strip().splitlines()[-1:]}")
    return json.loads(out.strip().splitlines()[-1])


def _demo_study(folder: Path, library_root: Path) -> Path:
    """A short study over the demo library (prosody x happy/neutral), participant P01."""
    import shutil

    from vr_study.cli import main as cli_main
    from vr_study.cli.study import simulate_participant

    if folder.exists():
        shutil.rmtree(folder)  # the demo's own output from an earlier run: a fresh study each time
    rc = cli_main(["study", "init", "--short", "--methods", "prosody", "--library", str(library_root.resolve()),
                   "-o", str(folder)])
    if rc:
        raise RuntimeError("study init failed")
    result = simulate_participant(folder / "study.yaml", "P01", folder / "export", speed=50.0)
    if result["exit_code"]:
        raise RuntimeError(f"the simulated session ended with exit code {result['exit_code']}")
    return folder / "export" / "responses.csv"


def run_demo(args) -> int:
    from vr_study.render import parse_size

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    size = parse_size(args.size)
    assets = _assets()
    steps = _Steps(5)
    summary: dict = {"out": str(out)}

    # 1 -- motion core + offline rendering ------------------------------------------------
    t = steps.start("sample clip: convert and render with speech")
    from vr_study.formats import read_motion, write_motion
    from vr_study.render import render_video

    clip = read_motion(assets / "motion" / "sample.npz").resample(30.0)
    speech = assets / "speech" / "greeting.wav"
    clip.meta.audio_path = str(speech)
    write_motion(clip, out / "sample.npz")
    res = render_video([clip], out / "sample.mp4", audio=speech, view="full", size=size, progress=True)
    summary["sample_video"] = str(res.video_path) if hasattr(res, "video_path") else str(out / "sample.mp4")
    steps.done(t, f"{out / 'sample.mp4'}: {res.num_frames} frames, {res.duration_s:.2f} s, with speech")

    # 2 -- generators, stimulus library, metrics, comparison video ------------------------
    t = steps.start("stimulus library: prosody generator, happy/neutral x 2 seeds, metrics, comparison video")
    from generators.batch import demo_comparison, demo_library

    library = demo_library(out / "library", progress=True)
    chosen = demo_comparison(library)
    clips = []
    for caption, path in chosen:
        c = read_motion(path)
        c.meta.extra["caption"] = caption
        clips.append(c)
    first_audio = library.audio_of(library.find(method="prosody")[0].id)
    render_video(clips, out / "comparison.mp4", audio=first_audio, view="upper", size=size,
                 captions=[cap for cap, _ in chosen], progress=True)
    from vr_study.cli import main as cli_main

    if cli_main(["metrics", "--library", str(library.root), "-o", str(out / "metrics.csv")]) != 0:
        return 1
    steps.done(t, f"{len(library)} clips in {out / 'library'}; {out / 'comparison.mp4'}; {out / 'metrics.csv'}")

    # 3 -- live pipeline: pose server -> XR simulator -------------------------------------
    t = steps.start("live pipeline: pose server streams a clip to the headless XR simulator")
    live = _demo_live(chosen[0][1], out / "xr")
    summary["xr"] = live
    cued = (live.get("audio_cues") or {}).get("started") or []
    steps.done(t, f"{live.get('frames')} stereo frames at {live.get('frame_rate_hz', 0):.1f} frames/s, "
                  f"{live.get('stream', {}).get('received', 0)} poses received, speech started on cue: "
                  f"{'yes' if cued else 'no'}; {out / 'xr' / 'frames.jsonl'}")

    # 4 -- study session through the tablet pages -----------------------------------------
    t = steps.start("study: one simulated participant, answers through the tablet pages, export")
    responses = _demo_study(out / "study", Path(library.root))
    summary["study_export"] = str(responses)
    steps.done(t, f"exported {responses}")

    # 5 -- analysis of a simulated 48-participant study -----------------------------------
    t = steps.start(f"analysis: simulated {args.participants}-participant study (SIMULATED data) -> HTML report")
    from analysis.report import ReportOptions, build_report
    from analysis.simulate import simulate_metrics, simulate_study

    data = simulate_study(participants=args.participants, seed=1)
    data.to_csv(out / "simulated_responses.csv", index=False)
    results = build_report(data, out / "report", metrics=simulate_metrics(seed=1),
                           options=ReportOptions(jobs=2, source="simulated study (analysis.simulate_study, seed 1)"))
    steps.done(t, f"{out / 'report' / 'index.html'} ({len(results.get('items', {}))} items analysed)")

    (out / "demo.json").write_text(json.dumps(summary, indent=2, default=str))
    print(f"demo finished in {time.monotonic() - steps.t0:.0f} s: open {out / 'report' / 'index.html'} "
          f"and {out / 'sample.mp4'}")
    return 0
