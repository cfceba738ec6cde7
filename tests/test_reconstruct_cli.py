"""`vr-study reconstruct` end to end: a short video, and the bad inputs (exit 2, no output)."""
from __future__ import annotations

import numpy as np
import pytest

from vr_study.cli import main
from vr_study.formats import read_motion


def _write_video(path, frames, fps=25):
    import cv2

    h, w = frames[0].shape[:2]
    out = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h))
    for f in frames:
        out.write(f)
    out.release()
    return path


@pytest.fixture(scope="module")
def person_video(tmp_path_factory):
    """2 s at 25 fps, 640x480: the astronaut photo sliding sideways."""
    import cv2
    from skimage import data

    img = cv2.resize(cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR), (480, 480))
    frames = []
    for t in range(50):
        canvas = np.full((480, 640, 3), 40, np.uint8)
        x = 80 + int(60 * np.sin(t / 8))
        canvas[:, x:x + 480] = img
        frames.append(canvas)
    return _write_video(tmp_path_factory.mktemp("video") / "person.mp4", frames)


@pytest.mark.slow
def test_reconstruct_video_writes_30fps_clip(person_video, tmp_path, capsys):
    import soundfile as sf

    wav = tmp_path / "speech.wav"
    sf.write(wav, np.zeros(int(16000 * 2.0), np.float32), 16000)
    out = tmp_path / "clip.npz"
    rc = main(["reconstruct", str(person_video), "--audio", str(wav), "--iterations", "80", "-o", str(out)])
    assert rc == 0
    clip = read_motion(out)
    assert clip.fps == 30.0
    assert clip.num_frames == 59                  # 49 intervals of 1/25 s at 30 Hz
    assert clip.meta.method == "reconstruction"
    assert clip.meta.audio_path == str(wav)
    # the person slides sideways in the video: the clip's translation follows
    assert np.ptp(clip.transl[:, 0]) > 0.1
    assert np.abs(np.diff(clip.transl[:, 0])).max() < 0.1   # metres per frame: no jumps
    assert "person in 50 of 50 source frames" in capsys.readouterr().out


def test_video_without_person_is_rejected(tmp_path, capsys):
    frames = []
    for t in range(12):
        g = np.tile(np.linspace(0, 255, 320, dtype=np.uint8), (240, 1))
        frames.append(np.dstack([g, np.roll(g, 8 * t, axis=1), 255 - g]))
    video = _write_video(tmp_path / "gradient.mp4", frames)
    out = tmp_path / "clip.npz"
    rc = main(["reconstruct", str(video), "-o", str(out)])
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    assert rc == 2
    assert len(errors) == 1 and "shows no person" in errors[0] and "gradient.mp4" in errors[0]
    assert not out.exists() and not list(tmp_path.glob(".clip*"))


def test_unreadable_video_is_rejected(tmp_path, capsys):
    video = tmp_path / "broken.mp4"
    video.write_bytes(b"this is not a video" * 100)
    out = tmp_path / "clip.npz"
    rc = main(["reconstruct", str(video), "-o", str(out)])
    err = capsys.readouterr().err
    assert rc == 2 and "not a readable video" in err and "Traceback" not in err
    assert not out.exists()


def test_missing_input_and_bad_body_model(tmp_path, capsys):
    out = tmp_path / "clip.npz"
    assert main(["reconstruct", str(tmp_path / "nope.mp4"), "-o", str(out)]) == 2
    assert "does not exist" in capsys.readouterr().err
    img_dir = tmp_path / "frames"
    img_dir.mkdir()
    bad_model = tmp_path / "SMPLX_BAD.npz"
    np.savez(bad_model, v_template=np.zeros((3, 3)))
    assert main(["reconstruct", str(img_dir), "--body-model", str(bad_model), "-o", str(out)]) == 2
    assert "--body-model" in capsys.readouterr().err
    assert not out.exists()


@pytest.mark.slow
def test_audio_of_another_length_is_rejected(person_video, tmp_path, capsys):
    import soundfile as sf

    wav = tmp_path / "long.wav"
    sf.write(wav, np.zeros(16000 * 5, np.float32), 16000)
    out = tmp_path / "clip.npz"
    assert main(["reconstruct", str(person_video), "--audio", str(wav), "-o", str(out)]) == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "lasts 5.00 s but the video lasts 2.00 s" in errors[0]
    assert not out.exists()
