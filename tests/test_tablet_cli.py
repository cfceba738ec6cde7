"""`vr-study tablet serve`: the tablet pages as their own process."""
from __future__ import annotations

import socket
import subprocess
import sys
import time

import httpx

from vr_study.storage import StudyDatabase


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_serves_join_page_for_an_existing_database(tmp_path):
    db_path = tmp_path / "study.sqlite"
    StudyDatabase(str(db_path))  # the session creates it; here we just need the schema
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "vr_study.cli", "tablet", "serve", str(db_path), "--port", str(port)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert "tablet pages" in proc.stdout.readline()
        deadline = time.monotonic() + 30
        while True:
            try:
                r = httpx.get(f"http://127.0.0.1:{port}/t/", timeout=2, follow_redirects=True)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "tablet server did not come up"
                time.sleep(0.2)
        assert r.status_code == 200 and "code" in r.text.lower()
    finally:
        proc.terminate()
        proc.wait(10)


def test_missing_database_is_one_line_exit_2(tmp_path):
    r = subprocess.run([sys.executable, "-m", "vr_study.cli", "tablet", "serve", str(tmp_path / "none.sqlite")],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "does not exist" in r.stderr
