"""``vr-study web serve``: bad input is one error line (exit 2); a real start serves the headset page."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from vr_study.cli import main
from vr_study.storage import StudyDatabase, TrialRecord

ROOT = Path(__file__).resolve().parents[1]


def _db(tmp_path: Path) -> Path:
    db = StudyDatabase(tmp_path / "study.sqlite")
    db.create_session("P01", "cli", [TrialRecord(trial_index=0, block=0, trial_kind="stimulus", position_in_block=0,
                                                 method="m", emotion="happy", questionnaires=[])], plan_row=0, seed=0)
    db.close()
    return tmp_path / "study.sqlite"


def test_missing_three_js_is_one_error_line(tmp_path, monkeypatch, capsys):
    import questionnaires.webxr as webxr

    monkeypatch.setattr(webxr, "THREE_DIR", tmp_path / "node_modules" / "three" / "build")
    assert main(["web", "serve", str(_db(tmp_path))]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and "three.js is not installed" in err[0]
    assert "npm ci" in err[0]


@pytest.mark.parametrize("argv, needle", [
    (["web", "serve", "nope.sqlite"], "does not exist"),
    (["web", "serve", "{db}", "--port", "70000"], "--port"),
    (["web", "serve", "{db}", "--audio-dir", "/no/such/folder"], "is not a folder"),
    (["web", "serve", "{db}", "--server-key", "/no/such.key"], "does not exist"),
])
def test_bad_options_are_one_error_line(tmp_path, capsys, argv, needle):
    db = str(_db(tmp_path))
    assert main([a.replace("{db}", db) for a in argv]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and needle in err[0], err


def test_web_serve_starts_over_https_and_serves_the_headset_page(tmp_path):
    import httpx

    db = _db(tmp_path)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "vr_study.cli", "web", "serve", str(db), "--port", str(port)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=tmp_path)
    try:
        lines = [proc.stdout.readline() for _ in range(5)]
        assert lines[0].startswith(f"headset page: https://127.0.0.1:{port}/w/"), lines
        assert any(line.startswith("certificate SHA-256 fingerprint: ") for line in lines)
        assert (tmp_path / "tablet-cert.pem").exists()               # next to the database, as for tablets
        deadline = time.monotonic() + 30
        while True:
            try:
                r = httpx.get(f"https://127.0.0.1:{port}/w/", verify=False, follow_redirects=True)
                break
            except httpx.ConnectError:
                assert time.monotonic() < deadline and proc.poll() is None, proc.stderr.read()
                time.sleep(0.2)
        assert r.status_code == 200 and str(r.url).endswith("/w/join") and 'action="/w/join"' in r.text
        three = httpx.get(f"https://127.0.0.1:{port}/w/vendor/three/three.module.js", verify=False)
        assert three.status_code == 200 and "REVISION" in three.text
    finally:
        proc.terminate()
        proc.wait(10)
