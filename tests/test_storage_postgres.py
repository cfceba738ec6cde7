"""The study database on a real PostgreSQL server (a throw-away cluster started for the test)."""
from __future__ import annotations

import csv
import io
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import threading
from pathlib import Path

import pytest

from study_helpers import ANSWERS, make_study
from vr_study.storage import DuplicateSubmission, PromptClosed, StudyDatabase
from vr_study.study.answerers import ScriptedAnswerer, fixed_answers
from vr_study.study.drivers import SimulatedDriver
from vr_study.study.export import export_study
from vr_study.study.session import run_session
from vr_study.study.spec import load_spec

pytest.importorskip("psycopg", reason="PostgreSQL driver psycopg not installed")


def _bin(name: str) -> str | None:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return found[-1] if found else shutil.which(name)


@pytest.fixture(scope="module")
def pg_url():
    initdb, pg_ctl = _bin("initdb"), _bin("pg_ctl")
    if not initdb or not pg_ctl:
        pytest.skip("PostgreSQL server binaries not installed (Debian package postgresql)")
    run_as: list[str] = []
    root = Path(tempfile.mkdtemp(prefix="vr-study-pg-"))  # not under pytest's 0700 tmp: the server must reach it
    if os.geteuid() == 0:  # the server refuses to run as root: use the postgres account
        try:
            pw = pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip("running as root and there is no 'postgres' account to run the server")
        os.chown(root, pw.pw_uid, pw.pw_gid)
        run_as = ["runuser", "-u", "postgres", "--"]
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    data = root / "data"
    subprocess.run(run_as + [initdb, "-D", str(data), "-A", "trust", "-U", "vrstudy", "--no-sync"],
                   check=True, capture_output=True, timeout=120)
    subprocess.run(run_as + [pg_ctl, "-D", str(data), "-l", str(root / "log"), "-w", "start", "-o",
                             f"-c listen_addresses=127.0.0.1 -p {port} -k {root} -c fsync=off"],
                   check=True, capture_output=True, timeout=120)
    try:
        yield f"postgresql+psycopg://vrstudy@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(run_as + [pg_ctl, "-D", str(data), "-m", "immediate", "stop"], capture_output=True, timeout=60)
        shutil.rmtree(root, ignore_errors=True)


@pytest.mark.slow
def test_session_and_export_on_postgresql(pg_url, tmp_path):
    spec = load_spec(make_study(tmp_path / "study"))
    db = StudyDatabase(pg_url, participant_pattern=spec.study.participant_pattern)
    out = run_session(spec, db, "P01", SimulatedDriver(speed=50), answerer=ScriptedAnswerer(db, fixed_answers(ANSWERS)))
    assert out.status == "finished" and out.prompts_answered == 9
    paths = export_study(db, tmp_path / "out")
    rows = list(csv.DictReader(io.StringIO(paths["responses.csv"].read_text())))
    assert len(rows) == 4 * 7 + 3 and {r["participant_id"] for r in rows} == {"P01"}
    assert db.session_by_code(out.code.lower()).session_id == out.session_id

    # two tablets submit the same screen at once: one wins, the other is refused, one set of rows
    sid = out.session_id
    db.redo_trial(sid, 0)
    pid = db.open_prompt(sid, 0, "trial_ratings", {})
    barrier, outcomes, winner = threading.Barrier(2), [], []

    def racer(k: int) -> None:
        barrier.wait()
        try:
            db.submit_prompt(pid, {"naturalness": k}, f"pg-race-{k}", "t")
            outcomes.append("ok")
            winner.append(f"pg-race-{k}")
        except (PromptClosed, DuplicateSubmission):
            outcomes.append("refused")

    threads = [threading.Thread(target=racer, args=(k,)) for k in (1, 2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["ok", "refused"]
    assert len([r for r in db.responses(sid) if r.prompt_id == pid]) == 1
    with pytest.raises(DuplicateSubmission):
        db.submit_prompt(pid, {"naturalness": 3}, winner[0], "t")  # a replay of the stored screen
    db.close()
