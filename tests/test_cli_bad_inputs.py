"""The whole CLI surface with generated bad inputs: exit 2, one `error:` line, no traceback, no leftovers.

Each case runs ``vr_study.cli.main`` in-process and checks what a user sees: exit code 2,
exactly one line on stderr starting with ``error:``, no traceback, and the output folder
holding nothing new (no half-written report, export or file).
"""
from __future__ import annotations

import contextlib
import io
import socket
import struct
from pathlib import Path

import numpy as np
import pytest

from study_helpers import make_study
from vr_study.cli import main
from vr_study.formats import write_motion
from vr_study.motion import MotionClip


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """Inputs shared by the cases: a study with a database, a clip, a busy port, bad files."""
    root = tmp_path_factory.mktemp("bad")
    spec = make_study(root / "study")
    err = io.StringIO()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
        rc = main(["session", "run", str(spec), "--participant", "P01", "--simulate", "--speed", "50",
                   "--no-lsl", "--no-tablet", "--scripted-answers", "random"])
    assert rc == 0, err.getvalue()
    write_motion(MotionClip.zeros(10), root / "clip.npz")
    (root / "afile").write_text("a file where a folder is expected\n")
    # an .npy header claiming 8 TB over 64 stored bytes
    hdr = b"{'descr': '<f8', 'fortran_order': False, 'shape': (1000000, 1000000), }"
    hdr += b" " * (118 - len(hdr)) + b"\n"
    (root / "huge.npy").write_bytes(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(hdr)) + hdr + b"\0" * 64)
    np.savez(root / "huge_member.npz", poses=np.zeros((2, 165)))
    _inflate_npz_header(root / "huge_member.npz")
    (root / "ragged.csv").write_text("participant_id,method,emotion,item,value\nP1,a,happy,nat,3\nP2,b\n")
    rows = [f"P{p},{m},{e},nat,{'inf' if (p, m, e) == (2, 'b', 'sad') else (p + len(m)) % 7 + 1}"
            for p in range(4) for m in ("a", "b") for e in ("happy", "sad")]
    (root / "inf.csv").write_text("participant_id,method,emotion,item,value\n" + "\n".join(rows) + "\n")
    (root / "good.csv").write_text("participant_id,method,emotion,item,value\n"
                                   + "\n".join(r.replace("inf", "3") for r in rows) + "\n")
    (root / "spec_bad.yaml").write_text("study: [unclosed\n")
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen()
    out = root / "out"
    out.mkdir()
    yield {"root": root, "spec": spec, "busy": busy.getsockname()[1], "out": out}
    busy.close()


def _inflate_npz_header(path: Path) -> None:
    """Rewrite the .npz member's header to claim a huge shape (same length, data unchanged)."""
    import zipfile

    with zipfile.ZipFile(path) as z:
        members = {n: z.read(n) for n in z.namelist()}
    data = members["poses.npy"]
    old = b"'shape': (2, 165)"
    new = b"'shape': (99999999999, 165)"
    hlen = struct.unpack("<H", data[8:10])[0]
    header = data[10:10 + hlen].replace(old, new)
    header = header.rstrip(b"\n ")[: hlen - 1].ljust(hlen - 1) + b"\n"
    members["poses.npy"] = data[:10] + header + data[10 + hlen:]
    with zipfile.ZipFile(path, "w") as z:
        for n, b in members.items():
            z.writestr(n, b)


CASES = {
    # numbers: not finite, zero, out of range
    "speed nan": lambda w: ["session", "run", w["spec"], "--participant", "P02", "--simulate", "--speed", "nan"],
    "speed inf": lambda w: ["session", "run", w["spec"], "--participant", "P02", "--simulate", "--speed", "inf"],
    "speed 0": lambda w: ["session", "run", w["spec"], "--participant", "P02", "--simulate", "--speed", "0"],
    "fps 0 convert": lambda w: ["motion", "convert", w["clip"], w["out"] / "c.npz", "--fps", "0"],
    "fps -30 generate": lambda w: ["generate", "prosody", "--fps", "-30"],
    "participants 0 plan": lambda w: ["study", "plan", w["spec"], "--participants", "0", "--no-library"],
    "participants 0 simulate": lambda w: ["analyze", "simulate", "-o", w["out"] / "s.csv", "--participants", "0"],
    "sigma nan": lambda w: ["metrics", w["clip"], "--sigma", "nan"],
    "sigma -1": lambda w: ["metrics", w["clip"], "--sigma", "-1"],
    "port 70000": lambda w: ["tablet", "serve", w["spec"], "--port", "70000"],
    "jobs -1": lambda w: ["analyze", w["good"], "-o", w["out"] / "r", "--jobs", "-1"],
    "chance 1": lambda w: ["analyze", w["good"], "-o", w["out"] / "r", "--chance", "1"],
    "seed text": lambda w: ["generate", "prosody", "--seed", "one"],
    "xr frames 0": lambda w: ["xr", "run", "--simulate", "--frames", "0"],
    "xr lead nan": lambda w: ["xr", "run", "--simulate", "--lead", "nan"],
    "stream lead -1": lambda w: ["stream", "serve", "--lead", "-1"],
    # command lines argparse refuses
    "unknown command": lambda w: ["frobnicate"],
    "unknown option": lambda w: ["motion", "info", w["clip"], "--colour"],
    "missing argument": lambda w: ["export", w["spec"]],
    # output paths that cannot be written (a file where a folder is expected)
    "export unwritable": lambda w: ["export", w["spec"], "-o", w["afile"] / "export"],
    "plan unwritable": lambda w: ["study", "plan", w["spec"], "--no-library", "-o", w["afile"] / "p" / "plan.csv"],
    "keys unwritable": lambda w: ["stream", "keys", "-o", w["afile"] / "keys"],
    "simulate unwritable": lambda w: ["analyze", "simulate", "-o", w["afile"] / "sim.csv", "--participants", "4"],
    "analyze unwritable": lambda w: ["analyze", w["good"], "-o", w["afile"] / "report", "--no-figures"],
    "demo unwritable": lambda w: ["demo", "-o", w["afile"] / "demo"],
    "convert unwritable": lambda w: ["motion", "convert", w["clip"], w["afile"] / "c.npz"],
    "init unwritable": lambda w: ["study", "init", "-o", w["afile"] / "s"],
    # databases
    "db in a file": lambda w: ["export", w["spec"], "-o", w["out"] / "e", "--db", w["afile"] / "x.sqlite"],
    "db url unknown": lambda w: ["export", w["spec"], "-o", w["out"] / "e", "--db", "nosuch://host/db"],
    "db url refused": lambda w: ["export", w["spec"], "-o", w["out"] / "e", "--db",
                                 "postgresql+psycopg://nobody:secret@127.0.0.1:1/x"],
    "db is a folder": lambda w: ["session", "run", w["spec"], "--participant", "P03", "--simulate", "--no-lsl",
                                 "--no-tablet", "--db", w["out"]],
    # busy ports and bad endpoints
    "tablet busy port": lambda w: ["tablet", "serve", w["spec"], "--port", w["busy"]],
    "tablet bad host": lambda w: ["tablet", "serve", w["spec"], "--host", "999.1.1.1"],
    "session busy port": lambda w: ["session", "run", w["spec"], "--participant", "P04", "--simulate", "--speed",
                                    "50", "--no-lsl", "--tablet-port", w["busy"]],
    "stream busy port": lambda w: ["stream", "serve", "--pub", f"tcp://127.0.0.1:{w['busy']}",
                                   "--control", "tcp://127.0.0.1:0", "--duration", "1"],
    "stream bad endpoint": lambda w: ["stream", "serve", "--pub", "nonsense", "--duration", "1"],
    "send bad endpoint": lambda w: ["stream", "send", "status", "--control", "bogus://x"],
    "session bad stream": lambda w: ["session", "run", w["spec"], "--participant", "P05", "--stream", "bogus",
                                     "--no-lsl", "--no-tablet"],
    "xr bad stream": lambda w: ["xr", "run", "--simulate", "--stream", "nonsense", "--frames", "1"],
    "stream missing key": lambda w: ["stream", "serve", "--secret-key", w["out"] / "nope.key_secret"],
    "allow without key": lambda w: ["stream", "serve", "--allow", w["out"], "--duration", "1"],
    # files that claim more than they hold, and bad tables
    "npy terabytes": lambda w: ["motion", "info", w["root"] / "huge.npy"],
    "npz member terabytes": lambda w: ["motion", "convert", w["root"] / "huge_member.npz", w["out"] / "h.npz"],
    "body model npz terabytes": lambda w: ["body", "info", w["root"] / "huge_member.npz"],
    "analyze ragged csv": lambda w: ["analyze", w["root"] / "ragged.csv", "-o", w["out"] / "r1", "--no-figures"],
    "analyze inf values": lambda w: ["analyze", w["root"] / "inf.csv", "-o", w["out"] / "r2", "--no-figures"],
    "analyze unknown item": lambda w: ["analyze", w["good"], "-o", w["out"] / "r3", "--no-figures", "--items", "nope"],
    "spec not yaml": lambda w: ["study", "validate", w["root"] / "spec_bad.yaml"],
    "motion missing": lambda w: ["motion", "info", w["out"] / "missing.npz"],
}


def _listing(folder: Path) -> set[str]:
    """Files and folders under ``folder`` (SQLite's own -wal/-shm/-journal files come and go)."""
    return {str(p.relative_to(folder)) for p in folder.rglob("*")
            if not p.name.endswith(("-wal", "-shm", "-journal"))}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_gives_one_error_line_and_exit_2(world, case, capfd):
    w = dict(world, clip=world["root"] / "clip.npz", afile=world["root"] / "afile", good=world["root"] / "good.csv")
    argv = [str(a) for a in CASES[case](w)]
    before_out, before_root = _listing(w["out"]), _listing(w["root"])
    rc = main(argv)
    captured = capfd.readouterr()
    lines = captured.err.strip().splitlines()
    assert rc == 2, f"{case}: exit {rc}; stderr: {captured.err[-2000:]}"
    assert "Traceback" not in captured.err
    assert len(lines) == 1 and lines[0].startswith("error: "), f"{case}: {captured.err!r}"
    assert "secret@" not in lines[0], "a database password was printed"
    assert _listing(w["out"]) ^ before_out == set(), f"{case} left files behind"
    assert _listing(w["root"]) ^ before_root == set(), f"{case} left files behind"


def test_a_failing_analysis_keeps_an_earlier_report_intact(world, capfd):
    good, out = world["root"] / "good.csv", world["root"] / "report_keep"
    assert main(["analyze", str(good), "-o", str(out), "--no-figures", "--no-ordinal", "--no-clip-effect"]) == 0
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    assert main(["analyze", str(world["root"] / "inf.csv"), "-o", str(out), "--no-figures"]) == 2
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before
    assert not [p for p in out.parent.iterdir() if p.name.startswith(".report_keep")]
    capfd.readouterr()
