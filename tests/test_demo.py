"""`vr-study demo`: the README's first command, end to end, into a temporary folder."""
from __future__ import annotations

import csv
import json
import subprocess
import sys

import pytest

pytestmark = pytest.mark.slow


def ffprobe_streams(path) -> list[str]:
    out = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "stream=codec_type", "-of", "csv=p=0", str(path)],
                         capture_output=True, text=True, check=True).stdout
    return sorted(out.split())


def test_demo_produces_every_artefact(tmp_path):
    out = tmp_path / "demo"
    r = subprocess.run([sys.executable, "-m", "vr_study.cli", "demo", "-o", str(out), "--size", "320x240",
                        "--participants", "12"], capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "demo finished" in r.stdout
    assert ffprobe_streams(out / "sample.mp4") == ["audio", "video"]       # the body speaking the sample
    assert ffprobe_streams(out / "comparison.mp4") == ["audio", "video"]   # happy/neutral x 2 seeds side by side
    with open(out / "metrics.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 12 and {r["emotion"] for r in rows} == {"happy", "neutral"}
    with open(out / "study" / "export" / "responses.csv") as fh:
        responses = list(csv.DictReader(fh))
    assert {r["participant_id"] for r in responses} == {"P01"} and len(responses) > 10
    summary = json.loads((out / "demo.json").read_text())
    assert summary["xr"]["frames"] > 0 and summary["xr"]["stream"]["received"] > 0
    assert summary["xr"]["audio_cues"]["started"], "the streamed clip's speech was started on cue"
    report = (out / "report" / "index.html").read_text()
    assert "SIMULATED" in report and (out / "report" / "results.json").is_file()
