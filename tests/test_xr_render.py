"""End to end: `vr-study xr run` through the real Khronos loader (bundled in pyopenxr), the
project's headless OpenXR runtime and the Khronos core validation layer; what each eye was
shown is read back by the runtime and checked here."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from vr_study.motion import MotionClip
from vr_study.formats import write_motion
from vr_study.xr.capture import avatar_centroid_x, head_region, read_ppm, skin_mask
from vr_study.xr.testruntime import build_test_runtime, runtime_env

EYE_W, EYE_H = 320, 360
IPD_M = 0.063
DISTANCE_M = 1.3
JAW_OPEN_RAD = 0.45
JAW_SWITCH_S = 1.2

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def manifest(tmp_path_factory) -> Path:
    return build_test_runtime(tmp_path_factory.mktemp("xr-runtime"))


def talking_clip(path: Path, seconds: float = 2.5) -> Path:
    """Arms down, jaw closed until JAW_SWITCH_S, then open."""
    n = int(seconds * 30)
    clip = MotionClip.zeros(n, fps=30.0)
    clip.body_pose[:, 15, 2] = -1.2
    clip.body_pose[:, 16, 2] = 1.2
    clip.jaw_pose[clip.times_s() >= JAW_SWITCH_S, 0] = JAW_OPEN_RAD
    write_motion(clip, path)
    return path


def run_cli(args: list[str], env_extra: dict[str, str], timeout: float = 240) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("XR_")}
    env.pop("DISPLAY", None)
    env.update(env_extra)
    return subprocess.run([sys.executable, "-m", "vr_study.cli", "xr", "run", *args], env=env,
                          capture_output=True, text=True, timeout=timeout)


def report_of(proc: subprocess.CompletedProcess) -> dict:
    assert proc.stdout.strip(), proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def assert_validation_clean(proc: subprocess.CompletedProcess) -> None:
    """The core validation layer ran (its text output goes to stdout) and reported nothing."""
    text = proc.stdout + proc.stderr
    assert "Core Validation Layer is initialized" in text, "the validation layer did not run"
    bad = [line for line in text.splitlines() if "VALID_ERROR" in line or "VALID_WARNING" in line]
    assert not bad, "\n".join(bad[:10])


def expected_disparity_px() -> float:
    focal_px = (EYE_W / 2) / np.tan(np.pi / 4)  # the test runtime's field of view: 45 degrees each side
    return focal_px * IPD_M / DISTANCE_M


@pytest.fixture(scope="module")
def clip_run(manifest, tmp_path_factory):
    """One run of a talking clip; the application asks to exit when the clip has ended."""
    tmp = tmp_path_factory.mktemp("xr-clip")
    clip = talking_clip(tmp / "talk.npz")
    import soundfile as sf
    t = np.arange(int(2.5 * 16000)) / 16000
    sf.write(tmp / "talk.wav", (0.2 * np.sin(2 * np.pi * 220 * t)).astype(np.float32), 16000)
    cap, log = tmp / "cap", tmp / "frames.jsonl"
    env = runtime_env(manifest, view_size=(EYE_W, EYE_H), ipd_m=IPD_M, head_pose="0,1.6,0", validation=True)
    proc = run_cli(["--clip", str(clip), "--frame-log", str(log), "--capture-dir", str(cap),
                    "--capture-every", "2", "--distance", str(DISTANCE_M), "--audio", str(tmp / "talk.wav"),
                    "--audio-backend", "recorded"], env)
    return proc, cap, log


def frames_by_clip_time(log: Path, motion_start_s: float, cap: Path) -> list[tuple[float, Path, Path]]:
    out = []
    for line in log.read_text().splitlines():
        rec = json.loads(line)
        eye0 = cap / f"frame{rec['frame']:06d}_eye0.ppm"
        eye1 = cap / f"frame{rec['frame']:06d}_eye1.ppm"
        if rec["should_render"] and eye0.is_file() and eye1.is_file():
            out.append((rec["predicted_display_time_s"] - motion_start_s, eye0, eye1))
    return out


def test_clip_run_exits_cleanly_with_no_validation_messages(clip_run):
    proc, cap, log = clip_run
    assert proc.returncode == 0, proc.stderr[-2000:]
    rep = report_of(proc)
    assert rep["mode"] == "openxr" and rep["runtime"] == "vr-study headless"
    assert rep["exit_reason"] == "application requested exit"
    assert rep["states"][:5] == ["IDLE", "READY", "SYNCHRONIZED", "VISIBLE", "FOCUSED"]
    assert rep["states"][-3:] == ["STOPPING", "IDLE", "EXITING"]
    assert rep["avatars"] == ["agent"]
    # the speech is scheduled to start exactly when the motion does
    assert rep["audio"]["backend"] == "recorded" and rep["audio"]["offset_to_motion_s"] == 0.0
    assert_validation_clean(proc)
    lines = [json.loads(x) for x in log.read_text().splitlines()]
    assert len(lines) == rep["frames"] > 10
    times = [x["predicted_display_time_s"] for x in lines]
    assert all(b > a for a, b in zip(times, times[1:])), "predicted display times must increase"
    # the clip starts --lead (0.3 s) after the first rendered frame's predicted display time
    first = next(x for x in lines if x["should_render"])
    assert rep["motion_start_s"] == pytest.approx(first["predicted_display_time_s"] + 0.3, abs=1e-5)
    # the clip played to its end: the last frames are past the clip's duration
    assert times[-1] - rep["motion_start_s"] >= 2.4


def test_both_eyes_show_the_avatar_with_the_right_stereo_offset(clip_run):
    proc, cap, log = clip_run
    frames = frames_by_clip_time(log, report_of(proc)["motion_start_s"], cap)
    assert frames
    _, eye0, eye1 = frames[len(frames) // 2]
    left, right = read_ppm(eye0), read_ppm(eye1)
    assert left.shape == right.shape == (EYE_H, EYE_W, 3)
    assert skin_mask(left).sum() > 500 and skin_mask(right).sum() > 500, "avatar missing in an eye"
    disparity = avatar_centroid_x(left) - avatar_centroid_x(right)
    # the left eye sits left of the right eye, so it sees the avatar further to the right
    assert disparity > 0
    assert disparity == pytest.approx(expected_disparity_px(), abs=2.0)
    # and the avatar stands near the middle of the view, facing the participant
    assert abs(avatar_centroid_x(left) - EYE_W / 2) < 25


def test_mouth_moves_with_the_jaw(clip_run):
    proc, cap, log = clip_run
    frames = frames_by_clip_time(log, report_of(proc)["motion_start_s"], cap)
    closed = [f for f in frames if 0.2 <= f[0] <= JAW_SWITCH_S - 0.15]
    opened = [f for f in frames if JAW_SWITCH_S + 0.15 <= f[0] <= 2.4]
    assert closed and opened, [round(f[0], 2) for f in frames]
    a, b = read_ppm(closed[-1][1]).astype(np.int16), read_ppm(opened[0][1]).astype(np.int16)
    rows, cols = head_region(read_ppm(closed[-1][1]))
    head_change = np.abs(a[rows, cols] - b[rows, cols]).mean()
    body = (slice(rows.stop + 20, EYE_H), slice(0, EYE_W))
    body_change = np.abs(a[body] - b[body]).mean()
    assert head_change > 0.5, head_change  # mean over the head box, hair included
    assert head_change > 4 * body_change, (head_change, body_change)
    # two frames within the closed phase look alike: the change comes from the jaw
    if len(closed) >= 2:
        c0 = read_ppm(closed[0][1]).astype(np.int16)
        assert np.abs(c0[rows, cols] - a[rows, cols]).mean() < head_change / 4


def test_exits_cleanly_when_the_runtime_asks(manifest, tmp_path):
    clip = talking_clip(tmp_path / "talk.npz", seconds=20.0)
    env = runtime_env(manifest, view_size=(96, 96), exit_after_frames=8, validation=True)
    proc = run_cli(["--clip", str(clip), "--audio-backend", "recorded"], env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    rep = report_of(proc)
    assert rep["exit_reason"] == "runtime requested exit"
    assert rep["frames"] == 8
    assert rep["states"][-6:] == ["FOCUSED", "VISIBLE", "SYNCHRONIZED", "STOPPING", "IDLE", "EXITING"]
    assert_validation_clean(proc)


def test_session_loss_is_reported(manifest, tmp_path):
    env = runtime_env(manifest, view_size=(96, 96), loss_after_frames=5)
    proc = run_cli(["--frames", "100"], env)
    assert proc.returncode == 1
    assert report_of(proc)["exit_reason"] == "session loss pending"
    assert "session was lost" in proc.stderr


def test_no_runtime_gives_one_line_and_exit_2(tmp_path):
    env = {"XR_RUNTIME_JSON": str(tmp_path / "missing.json"), "XDG_CONFIG_DIRS": str(tmp_path),
           "XDG_CONFIG_HOME": str(tmp_path)}
    proc = run_cli([], env, timeout=120)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert "no OpenXR runtime" in lines[0] and "vr-study xr run --simulate" in lines[0]
    assert "Traceback" not in proc.stderr


def test_simulator_draws_the_same_scene(tmp_path):
    clip = talking_clip(tmp_path / "talk.npz")
    cap = tmp_path / "sim"
    proc = run_cli(["--simulate", "--clip", str(clip), "--frames", "3", "--unpaced", "--eye-size",
                    f"{EYE_W}x{EYE_H}", "--capture-dir", str(cap), "--distance", str(DISTANCE_M)], {})
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert report_of(proc)["frames"] == 3
    left, right = read_ppm(cap / "frame000002_eye0.ppm"), read_ppm(cap / "frame000002_eye1.ppm")
    disparity = avatar_centroid_x(left) - avatar_centroid_x(right)
    assert disparity == pytest.approx(expected_disparity_px(), abs=2.0)


def test_bad_inputs_are_one_line_errors(tmp_path):
    bad = tmp_path / "nope.npz"
    proc = run_cli(["--simulate", "--clip", str(bad)], {}, timeout=120)
    assert proc.returncode == 2 and proc.stderr.strip().startswith("error:")
    assert "Traceback" not in proc.stderr
    proc = run_cli(["--simulate", "--eye-size", "big"], {}, timeout=120)
    assert proc.returncode == 2 and "--eye-size" in proc.stderr
    proc = run_cli(["--simulate", "--stream", "nowhere"], {}, timeout=120)
    assert proc.returncode == 2 and "--stream" in proc.stderr and "Traceback" not in proc.stderr


@pytest.mark.skipif(not __import__("shutil").which("xvfb-run"), reason="needs Xvfb (apt-get install xvfb)")
def test_xlib_binding_under_xvfb(manifest, tmp_path):
    """The binding SteamVR and Monado take on Linux: a GLX context on an X display."""
    cap = tmp_path / "cap"
    env = {k: v for k, v in os.environ.items() if not k.startswith("XR_")}
    env.pop("DISPLAY", None)
    env.update(runtime_env(manifest, view_size=(EYE_W, EYE_H), exit_after_frames=4, capture_dir=cap,
                           validation=True))
    proc = subprocess.run(["xvfb-run", "-a", "-s", "-screen 0 640x480x24", sys.executable, "-m", "vr_study.cli",
                           "xr", "run", "--binding", "xlib", "--distance", str(DISTANCE_M)],
                          env=env, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr[-2000:]
    rep = report_of(proc)
    assert rep["binding"] == "xlib" and rep["exit_reason"] == "runtime requested exit"
    assert_validation_clean(proc)
    left, right = read_ppm(cap / "frame000003_eye0.ppm"), read_ppm(cap / "frame000003_eye1.ppm")
    assert avatar_centroid_x(left) - avatar_centroid_x(right) == pytest.approx(expected_disparity_px(), abs=2.0)


def test_avatar_stays_put_in_the_room_while_the_head_moves(manifest, tmp_path):
    """World-locked: the runtime sways the head sideways; the avatar shifts the other way in
    the image by f * dx / distance pixels."""
    cap, rt_log = tmp_path / "cap", tmp_path / "runtime.jsonl"
    env = runtime_env(manifest, view_size=(EYE_W, EYE_H), capture_dir=cap, capture_every=2, log_path=rt_log,
                      validation=True)
    env["XR_HEADLESS_HEAD_SWAY_M"] = "0.25"
    proc = run_cli(["--frames", "60", "--distance", str(DISTANCE_M)], env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert_validation_clean(proc)
    head_x, avatar_x = [], []
    for line in rt_log.read_text().splitlines():
        rec = json.loads(line)
        img = cap / f"frame{rec['frame']:06d}_eye0.ppm"
        if img.is_file() and "view_x_m" in rec:
            head_x.append(float(np.mean(rec["view_x_m"])))
            avatar_x.append(avatar_centroid_x(read_ppm(img)))
    assert len(head_x) >= 10 and np.ptp(head_x) > 0.05, "the head should have moved"
    slope = np.polyfit(head_x, avatar_x, 1)[0]  # pixels per metre of head motion
    expected = -(EYE_W / 2) / DISTANCE_M
    assert slope == pytest.approx(expected, rel=0.15), (slope, expected)
