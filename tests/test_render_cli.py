"""`vr-study render` from the shell: a working run, OSMesa fallback, and every bad input -> exit 2."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from vr_study.audio import Audio, write_wav
from vr_study.formats import write_motion
from vr_study.motion import MotionClip


def run_cli(*args: str, env: dict | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "vr_study.cli", "render", *args], capture_output=True, text=True,
                          timeout=300, env={**os.environ, **(env or {})}, cwd=cwd)


@pytest.fixture()
def inputs(tmp_path):
    wav = tmp_path / "speech.wav"
    write_wav(wav, Audio((0.3 * np.sin(np.arange(16000) / 16000 * 2 * np.pi * 220)).astype(np.float32), 16000))
    clip = MotionClip.zeros(6, 30.0, method="EMAGE", emotion="happy", audio_path=str(wav))
    clip_path = tmp_path / "clip.npz"
    write_motion(clip, clip_path)
    return tmp_path, clip_path, wav


def body_visible(png: Path) -> bool:
    """Skin (warm), the blue shirt or dark hair/trousers/shoes cover 2% of the image (the room is light grey-blue)."""
    rgb = np.asarray(Image.open(png)).astype(int)
    body = ((rgb[..., 0] - rgb[..., 2]) > 6) | ((rgb[..., 2] - rgb[..., 0]) > 30) | (rgb.max(axis=2) < 70)
    return body.mean() > 0.02


def test_cli_writes_video_and_frames(inputs):
    tmp, clip, _wav = inputs
    out = tmp / "out.mp4"
    r = run_cli(str(clip), str(clip), "--size", "96x72", "--view", "upper", "--png-dir", str(tmp / "png"), "-o", str(out))
    assert r.returncode == 0, r.stderr
    assert "wrote" in r.stdout and "with sound" in r.stdout
    assert out.stat().st_size > 1000
    pngs = sorted((tmp / "png").glob("frame_*.png"))
    assert len(pngs) == 6 and Image.open(pngs[0]).size == (192, 72)
    assert body_visible(pngs[0])


def test_osmesa_fallback_renders(inputs):
    tmp, clip, _wav = inputs
    r = run_cli(str(clip), "--size", "96x72", "--no-audio", "--png-dir", str(tmp / "png"),
                env={"PYOPENGL_PLATFORM": "osmesa"})
    assert r.returncode == 0, r.stderr
    assert body_visible(tmp / "png" / "frame_000000.png")


def _bad_cases(tmp: Path, clip: Path, wav: Path) -> dict[str, list[str]]:
    (tmp / "noise.wav").write_text("not audio")
    (tmp / "full").mkdir()
    (tmp / "full" / "keep.txt").write_text("x")
    lost = MotionClip.zeros(3, 30.0, audio_path=str(tmp / "gone.wav"))
    write_motion(lost, tmp / "lost_audio.npz")
    out = str(tmp / "out.mp4")
    return {
        "missing clip": [str(tmp / "nope.npz"), "-o", out],
        "unreadable audio": [str(clip), "--audio", str(tmp / "noise.wav"), "-o", out],
        "missing audio": [str(clip), "--audio", str(tmp / "absent.wav"), "-o", out],
        "clip's audio gone": [str(tmp / "lost_audio.npz"), "-o", out],
        "size 0x0": [str(clip), "--size", "0x0", "-o", out],
        "size 99999x1": [str(clip), "--size", "99999x1", "-o", out],
        "size odd": [str(clip), "--size", "161x120", "-o", out],
        "size text": [str(clip), "--size", "big", "-o", out],
        "too wide": [str(clip)] * 4 + ["--size", "4096x480", "-o", out],
        "unknown view": [str(clip), "--view", "side", "-o", out],
        "fps 0": [str(clip), "--fps", "0", "-o", out],
        "caption count": [str(clip), "--caption", "a", "--caption", "b", "-o", out],
        "not mp4": [str(clip), "-o", str(tmp / "out.avi")],
        "no output": [str(clip)],
        "png dir not empty": [str(clip), "--png-dir", str(tmp / "full"), "-o", out],
    }


def test_each_bad_input_exits_2_with_one_line_and_no_output(inputs):
    tmp, clip, wav = inputs
    cases = _bad_cases(tmp, clip, wav)
    before = sorted(p.name for p in tmp.rglob("*"))
    for name, args in cases.items():
        r = run_cli(*args)
        assert r.returncode == 2, f"{name}: rc {r.returncode}\n{r.stderr}"
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), f"{name}: {r.stderr!r}"
        assert "Traceback" not in r.stderr
        assert sorted(p.name for p in tmp.rglob("*")) == before, f"{name} left files behind"
