"""`xr run` on runtimes that fail, lack XR_KHR_convert_timespec_time, or are not there.

Uses the project's headless OpenXR runtime (vr_study/xr/testruntime) through the real
Khronos loader: ``XR_HEADLESS_NO_TIMESPEC`` removes the extension and
``XR_HEADLESS_TIME_OFFSET_NS`` gives XrTime another epoch than CLOCK_MONOTONIC, so the
true monotonic display time of every frame is ``xr_time_ns - offset``.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from vr_study.xr.clock import WaitFrameClock
from vr_study.xr.testruntime import build_test_runtime, runtime_env

OFFSET_NS = 123_456_789_012
PERIOD_NS = 11_111_111  # the test runtime's 90 Hz

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def manifest(tmp_path_factory) -> Path:
    return build_test_runtime(tmp_path_factory.mktemp("xr-runtime"))


def run_cli(args: list[str], env_extra: dict[str, str], timeout: float = 180) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("XR_")}
    env.pop("DISPLAY", None)
    env.update(env_extra)
    return subprocess.run([sys.executable, "-m", "vr_study.cli", "xr", "run", *args], env=env,
                          capture_output=True, text=True, timeout=timeout)


def _display_errors_ms(log: Path) -> tuple[np.ndarray, np.ndarray]:
    recs = [json.loads(line) for line in log.read_text().splitlines()]
    est = np.array([r["predicted_display_time_s"] for r in recs])
    truth = np.array([(r["xr_time_ns"] - OFFSET_NS) * 1e-9 for r in recs])
    return (est - truth) * 1e3, np.diff(est) * 1e3


@pytest.mark.parametrize("timespec", [False, True])
def test_display_times_on_a_runtime_without_the_timespec_extension(manifest, tmp_path, timespec):
    env = runtime_env(manifest, view_size=(64, 64))
    env.update(XR_HEADLESS_TIME_OFFSET_NS=str(OFFSET_NS), XR_HEADLESS_NO_TIMESPEC="0" if timespec else "1")
    log = tmp_path / "frames.jsonl"
    proc = run_cli(["--frames", "60", "--frame-log", str(log)], env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    err_ms, spacing_ms = _display_errors_ms(log)
    if timespec:
        assert np.abs(err_ms).max() < 0.01  # the runtime converts exactly
    else:
        # calibrated from xrWaitFrame: within 2 ms of the truth once a few paced frames were seen
        # (the earlier fixed 22 ms guess was 10.9 ms off on every frame)
        assert np.abs(err_ms[10:]).max() < 2.0, err_ms.round(2).tolist()
        assert abs(np.median(err_ms[10:])) < 1.0
    # frame-to-frame spacing is the runtime's own prediction: whole display periods
    periods = spacing_ms[10:] / (PERIOD_NS * 1e-6)
    assert np.allclose(periods, np.round(periods), atol=0.2)


def test_wait_frame_clock_removes_scheduling_delay():
    rng = np.random.default_rng(0)
    offset_s, lead = 5.0, 2 * PERIOD_NS * 1e-9
    clock = WaitFrameClock()
    for i in range(200):
        p_ns = 10**12 + i * PERIOD_NS
        returned = p_ns * 1e-9 + offset_s - lead + rng.exponential(0.002)  # late wake-ups only
        clock.observe(returned, p_ns, PERIOD_NS)
    assert abs(clock.to_monotonic_s(10**12) - (10**12 * 1e-9 + offset_s)) < 1e-4


def test_unexpected_runtime_error_is_one_line_and_exit_3(manifest, tmp_path):
    env = runtime_env(manifest, view_size=(64, 64))
    env["XR_HEADLESS_FAIL_AFTER_FRAMES"] = "5"
    proc = run_cli(["--frames", "100"], env)
    assert proc.returncode == 3, proc.stderr[-2000:]
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: the OpenXR runtime failed: RuntimeFailure")
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize("kind", ["garbage", "missing_library", "absent"])
def test_no_runtime_message_says_what_the_loader_found(tmp_path, kind):
    manifest = tmp_path / "runtime.json"
    if kind == "garbage":
        manifest.write_text("this is not json")
    elif kind == "missing_library":
        manifest.write_text(json.dumps({"file_format_version": "1.0.0",
                                        "runtime": {"library_path": str(tmp_path / "libnothing.so")}}))
    env = {"XR_RUNTIME_JSON": str(manifest), "XDG_CONFIG_DIRS": str(tmp_path), "XDG_CONFIG_HOME": str(tmp_path)}
    proc = run_cli([], env, timeout=120)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    line = lines[0]
    assert line.startswith("error: no OpenXR runtime: XR_RUNTIME_JSON=" + str(manifest))
    assert {"garbage": "is not an OpenXR runtime manifest", "missing_library": "libnothing.so, which does not exist",
            "absent": "does not exist"}[kind] in line
    assert "vr-study xr run --simulate" in line
