"""MP4 output: H.264 + AAC speech of the right duration and offset, PNG frames, identical reruns."""
from __future__ import annotations

import hashlib
import json
import subprocess

import numpy as np
import pytest
from PIL import Image

from vr_study.audio import Audio, write_wav
from vr_study.body import load_body_model
from vr_study.motion import MotionClip
from vr_study.render import render_video

W, H = 160, 120
RATE = 16000


@pytest.fixture(scope="module")
def body():
    return load_body_model()


def probe(path) -> dict:
    out = subprocess.run(["ffprobe", "-v", "error", "-show_streams", "-show_format", "-of", "json", str(path)],
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out)


def decoded_audio(path) -> np.ndarray:
    """The video's audio track decoded to mono float32 at 16 kHz."""
    raw = subprocess.run(["ffmpeg", "-v", "error", "-i", str(path), "-vn", "-ac", "1", "-ar", str(RATE),
                          "-f", "f32le", "-"], check=True, capture_output=True).stdout
    return np.frombuffer(raw, np.float32)


def tone_after_silence(tmp_path, silence_s: float, tone_s: float):
    t = np.arange(int(tone_s * RATE)) / RATE
    samples = np.concatenate([np.zeros(int(silence_s * RATE)), 0.5 * np.sin(2 * np.pi * 440 * t)]).astype(np.float32)
    path = tmp_path / "speech.wav"
    write_wav(path, Audio(samples, RATE))
    return path


def test_video_has_h264_and_audio_of_the_clip_duration(body, tmp_path):
    wav = tone_after_silence(tmp_path, 0.5, 2.0)
    clip = MotionClip.zeros(30, 30.0, method="EMAGE", emotion="happy", audio_path=str(wav), audio_offset_s=0.5)
    out = tmp_path / "clip.mp4"
    result = render_video([clip], out, size=(W, H), body_model=body)
    assert result.has_audio and result.num_frames == 30
    info = probe(out)
    video = [s for s in info["streams"] if s["codec_type"] == "video"]
    audio = [s for s in info["streams"] if s["codec_type"] == "audio"]
    assert len(video) == 1 and len(audio) == 1
    assert video[0]["codec_name"] == "h264" and video[0]["pix_fmt"] == "yuv420p"
    assert (video[0]["width"], video[0]["height"]) == (W, H)
    assert int(video[0]["nb_frames"]) == 30
    assert audio[0]["codec_name"] == "aac"
    assert float(audio[0]["duration"]) == pytest.approx(1.0, abs=0.05)
    assert float(video[0]["duration"]) == pytest.approx(1.0, abs=0.01)
    # the clip plays from 0.5 s into the audio: the tone is there from the first instant
    sound = decoded_audio(out)
    assert np.sqrt(np.mean(sound[int(0.05 * RATE):int(0.25 * RATE)] ** 2)) > 0.2
    assert not list(tmp_path.glob(".clip.mp4*"))  # no temporary file left


def test_audio_shorter_than_video_is_padded_with_silence(body, tmp_path):
    wav = tone_after_silence(tmp_path, 0.0, 0.5)
    clip = MotionClip.zeros(30, 30.0)
    out = tmp_path / "padded.mp4"
    render_video([clip], out, audio=wav, size=(W, H), body_model=body)
    audio = [s for s in probe(out)["streams"] if s["codec_type"] == "audio"][0]
    assert float(audio["duration"]) == pytest.approx(1.0, abs=0.05)
    sound = decoded_audio(out)
    assert np.sqrt(np.mean(sound[int(0.1 * RATE):int(0.4 * RATE)] ** 2)) > 0.2
    assert np.abs(sound[int(0.7 * RATE):int(0.95 * RATE)]).max() < 0.02


def test_silent_video_and_png_frames(body, tmp_path):
    clip = MotionClip.zeros(5, 25.0)
    out, pngs = tmp_path / "silent.mp4", tmp_path / "frames"
    result = render_video([clip], out, audio=False, size=(W, H), body_model=body, png_dir=pngs)
    assert not result.has_audio
    assert [s["codec_type"] for s in probe(out)["streams"]] == ["video"]
    files = sorted(pngs.glob("*.png"))
    assert [f.name for f in files] == [f"frame_{i:06d}.png" for i in range(5)]
    assert Image.open(files[0]).size == (W, H)


def test_same_input_gives_the_same_file(body, tmp_path):
    wav = tone_after_silence(tmp_path, 0.0, 1.0)
    clip = MotionClip.zeros(8, 30.0, method="AMUSE", emotion="neutral")
    clip.jaw_pose[:, 0] = np.linspace(0.0, 0.3, 8)
    digests = []
    for name in ("a.mp4", "b.mp4"):
        render_video([clip], tmp_path / name, audio=wav, size=(W, H), body_model=body)
        digests.append(hashlib.sha256((tmp_path / name).read_bytes()).hexdigest())
    assert digests[0] == digests[1]
