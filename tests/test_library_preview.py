"""`vr-study library preview`: the HTML contact sheet, its media, its warnings, in a real browser."""
from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from test_clip_checks import speaking
from vr_study.formats import write_motion
from vr_study.library import StimulusLibrary

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
FAST = ("--size", "48x48", "--fps", "5", "--max-seconds", "1")  # tiny media: the test stays quick


def cli(*args):
    return subprocess.run([sys.executable, "-m", "vr_study.cli", *map(str, args)], capture_output=True, text=True,
                          timeout=300)


@pytest.fixture(scope="module")
def library(tmp_path_factory) -> Path:
    """2 methods x 2 emotions of good clips, plus a drifting and an upside-down clip."""
    root = tmp_path_factory.mktemp("preview")
    wav = root / "speech.wav"
    sf.write(wav, np.zeros(32000, np.float32), 16000)  # 2 s
    lib = StimulusLibrary.open(root / "lib", create=True)
    for i, (method, emotion) in enumerate([("prosody", "happy"), ("prosody", "neutral"),
                                           ("emage", "happy"), ("emage", "neutral")]):
        clip = speaking(phase=i)
        clip.meta.method, clip.meta.emotion, clip.meta.utterance = method, emotion, "greeting"
        lib.add_clip(clip, wav)
    drift = speaking(phase=5)
    drift.transl[:, 2] = np.linspace(0, 0.8, drift.num_frames)
    drift.meta.method, drift.meta.emotion, drift.meta.utterance, drift.meta.seed = "emage", "happy", "greeting", 1
    lib.add_clip(drift, wav)
    flipped = speaking(phase=6)
    flipped.global_orient[:, 0] = np.pi
    flipped.meta.method, flipped.meta.emotion, flipped.meta.utterance, flipped.meta.seed = "prosody", "happy", "greeting", 1
    lib.add_clip(flipped, wav)
    return root / "lib"


@pytest.fixture(scope="module")
def preview(library) -> tuple[Path, subprocess.CompletedProcess]:
    out = library.parent / "preview"
    r = cli("library", "preview", library, "-o", out, *FAST)
    assert r.returncode == 0, r.stderr
    return out, r


def test_index_has_a_section_per_condition_and_its_media_exist(preview):
    out, r = preview
    page = (out / "index.html").read_text(encoding="utf-8")
    sections = re.findall(r'<section class="condition" id="([^"]+)"', page)
    assert sorted(sections) == ["cond-emage-happy", "cond-emage-neutral", "cond-prosody-happy", "cond-prosody-neutral"]
    srcs = re.findall(r'<img src="([^"]+)"', page)
    assert len(srcs) == 6 * 4  # face and body, still and loop, per clip
    for src in srcs:
        assert (out / src).is_file() and (out / src).stat().st_size > 0, src
    assert "http://" not in page and "https://" not in page and "<script" not in page  # static, offline
    from PIL import Image

    loop = Image.open(out / srcs[3])
    assert loop.format == "WEBP" and getattr(loop, "n_frames", 1) == 5 and loop.size == (48, 48)
    assert "wrote" in r.stdout and "6 clips, 2 with warnings" in r.stdout


def test_warnings_are_on_the_bad_clips_only(preview):
    out, r = preview
    report = {c["id"]: c for c in json.loads((out / "report.json").read_text())["clips"]}
    found = {cid: [w["kind"] for w in c["warnings"]] for cid, c in report.items() if c["warnings"]}
    assert found == {"emage__greeting__happy__s1": ["drift"],
                     "prosody__greeting__happy__s1": ["orientation", "orientation"]}
    assert "warning: emage__greeting__happy__s1: drift:" in r.stdout


def test_page_in_chromium_shows_pictures_and_highlights_warnings(preview):
    sync_api = pytest.importorskip("playwright.sync_api")
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian package chromium is not installed")
    out, _ = preview
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = b.new_page(viewport={"width": 1200, "height": 900})
            page.goto((out / "index.html").as_uri())
            page.evaluate("document.querySelectorAll('img').forEach(i => i.loading = 'eager')")
            page.wait_for_function("[...document.images].every(i => i.complete)")
            widths = page.evaluate("[...document.images].map(i => i.naturalWidth)")
            assert len(widths) == 24 and all(w == 48 for w in widths)  # every still and loop decodes
            bad = page.locator(".clip.bad")
            assert bad.count() == 2
            border = bad.first.evaluate("e => getComputedStyle(e).borderTopColor")
            good = page.locator(".clip:not(.bad)").first.evaluate("e => getComputedStyle(e).borderTopColor")
            assert border == "rgb(198, 40, 40)" and border != good  # red frame on clips with warnings
            assert page.locator("#cond-prosody-happy li.warning[data-kind=orientation]").count() == 2
            assert page.locator("#cond-prosody-neutral li.warning").count() == 0
        finally:
            b.close()


def test_library_add_prints_the_same_warnings(library, tmp_path):
    clip = speaking(3.0)  # 3 s of motion for 2 s of speech, frozen after 1 s
    clip.body_pose[30:] = clip.body_pose[30]
    write_motion(clip, tmp_path / "take.npz")
    sf.write(tmp_path / "speech.wav", np.zeros(32000, np.float32), 16000)
    r = cli("library", "add", tmp_path / "lib", tmp_path / "take.npz", "--method", "mocap", "--audio",
            tmp_path / "speech.wav")
    assert r.returncode == 0, r.stderr
    lines = [ln for ln in r.stderr.splitlines() if ln.startswith("warning:")]
    assert [ln.split(": ")[2] for ln in lines] == ["speech", "frozen"]
    assert "1.00 s longer" in lines[0]


@pytest.mark.parametrize("case", ["missing_library", "output_not_empty", "bad_size", "missing_clip"])
def test_bad_input_one_error_line_exit_2_no_output(case, library, tmp_path):
    out = tmp_path / "out"
    lib = library
    extra: tuple[str, ...] = FAST
    if case == "missing_library":
        lib = tmp_path / "nolib"
    elif case == "output_not_empty":
        out.mkdir()
        (out / "notes.txt").write_text("keep me")
    elif case == "bad_size":
        extra = ("--size", "0x0")
    elif case == "missing_clip":
        lib = tmp_path / "lib"
        shutil.copytree(library, lib)
        next((lib / "clips").rglob("*.npz")).unlink()
    r = cli("library", "preview", lib, "-o", out, *extra)
    assert r.returncode == 2, r.stderr
    assert r.stderr.startswith("error: ") and r.stderr.count("\n") == 1, r.stderr
    if case == "output_not_empty":
        assert [p.name for p in out.iterdir()] == ["notes.txt"]
    else:
        assert not out.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out.")]  # no temporary folder left
