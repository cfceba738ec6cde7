"""Shared pytest set-up (keep minimal)."""
import os
from pathlib import Path

# liblsl must never multicast or broadcast from a test: restrict it to loopback before any
# test imports pylsl (tests/lsl_loopback.cfg).
os.environ["LSLAPICFG"] = str(Path(__file__).with_name("lsl_loopback.cfg"))

# librosa's pyin/onset code compiles with numba on first use: cache it inside the checkout.
os.environ.setdefault("NUMBA_CACHE_DIR", str(Path(__file__).resolve().parents[1] / ".numba_cache"))

import pytest  # noqa: E402


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """With ``VR_STUDY_NO_SKIPS=1`` (set by .ci/run) a skipped test fails: CI installs
    everything, so a skip there means a missing dependency, not an optional one."""
    outcome = yield
    report = outcome.get_result()
    if report.skipped and os.environ.get("VR_STUDY_NO_SKIPS") == "1" and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.outcome = "failed"
        report.longrepr = f"skipped under VR_STUDY_NO_SKIPS=1 (CI): {reason}"


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector):
    """The same for a whole test module skipped while it is collected (``importorskip``)."""
    outcome = yield
    report = outcome.get_result()
    if report.skipped and os.environ.get("VR_STUDY_NO_SKIPS") == "1":
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.outcome = "failed"
        report.longrepr = f"skipped under VR_STUDY_NO_SKIPS=1 (CI): {reason}"
