"""The built-in prosody generator: emotion, seeds, joint limits, smoothness, streaming, bad input."""
from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("NUMBA_CACHE_DIR", str(Path(__file__).resolve().parent.parent / ".numba_cache"))

import numpy as np
import pytest
import soundfile as sf

from analysis.motion_metrics import sample_diversity
from vr_study.body.skinning import forward_kinematics
from generators.base import Utterance
from generators.prosody import ProsodyGenerator, ProsodyStream, concat_clips, within_limits
from generators.prosody.face import control_indices
from generators.speech import load_speech
from vr_study.body.skeleton import PARENTS, default_rest_joints
from vr_study.errors import InputError

ROOT = Path(__file__).resolve().parent.parent
SPEECH = ROOT / "assets" / "speech"
GREETING = SPEECH / "greeting.wav"


def joints(clip):
    return forward_kinematics(clip.full_pose(), default_rest_joints()[0], PARENTS, clip.transl)


@pytest.fixture(scope="module")
def speech():
    return load_speech(GREETING).audio.samples


@pytest.fixture(scope="module")
def clips(speech):
    gen = ProsodyGenerator()
    return {(e, s): gen.generate_samples(speech, e, s) for e in ("happy", "neutral") for s in (0, 1, 2)}


def test_clip_covers_the_speech_with_metadata():
    clip = ProsodyGenerator().generate(Utterance(GREETING, transcript="Hello there", emotion="happy", seed=3))
    assert abs(clip.duration_s - sf.info(str(GREETING)).duration) < 1.0 / 30
    m = clip.meta
    assert (m.method, m.emotion, m.utterance, m.seed, m.audio_offset_s) == ("prosody", "happy", "greeting", 3, 0.0)
    assert m.audio_path == str(GREETING) and m.extra["transcript"] == "Hello there"
    assert clip.fps == 30.0 and clip.num_expression == 100


def test_happy_is_larger_faster_and_smiling(clips):
    face = control_indices()
    for s in (0, 1, 2):
        h, n = clips[("happy", s)], clips[("neutral", s)]
        jh, jn = joints(h), joints(n)
        # hands travel further and faster when happy
        wrist_range = lambda j: np.ptp(j[:, [20, 21]], axis=0).max()  # noqa: E731
        assert wrist_range(jh) > 1.3 * wrist_range(jn)
        speed = lambda j: np.linalg.norm(np.diff(j[:, [20, 21]], axis=0), axis=-1).mean()  # noqa: E731
        assert speed(jh) > 1.5 * speed(jn)
        # head held higher (chin up = negative pitch of neck + head)
        assert (h.body_pose[:, 14, 0] + h.body_pose[:, 11, 0]).mean() < (n.body_pose[:, 14, 0] + n.body_pose[:, 11, 0]).mean() - 0.05
        if "smile" in face:
            assert h.expression[:, face["smile"]].mean() > 0.5 > n.expression[:, face["smile"]].mean() + 0.4
        if "brow_raise" in face:
            assert h.expression[:, face["brow_raise"]].mean() > n.expression[:, face["brow_raise"]].mean()


def test_seeds_give_different_motion_of_the_same_size(clips, speech):
    again = ProsodyGenerator().generate_samples(speech, "happy", 0)
    np.testing.assert_array_equal(again.poses(), clips[("happy", 0)].poses())  # same seed, same motion
    for e in ("happy", "neutral"):
        js = [joints(clips[(e, s)]) for s in (0, 1, 2)]
        assert sample_diversity(js) > 0.02  # metres: visibly different
        sizes = [np.ptp(j[:, [20, 21]], axis=0).max() for j in js]
        assert max(sizes) < 2.0 * min(sizes)  # equally plausible: similar amount of motion


def test_beat_strokes_peak_on_speech_onsets():
    """The forearm's beat strokes reach their apex on the onsets the engine picked."""
    from scipy.signal import find_peaks

    from generators.batch import read_utterance_list

    near = total = 0
    for u in read_utterance_list(SPEECH / "utterances.yaml"):
        x = load_speech(u.wav).audio.samples
        for seed in (0, 1):
            clip = ProsodyGenerator().generate_samples(x, "happy", seed)
            onsets = np.array(clip.meta.extra["onset_frames"])
            assert len(onsets) >= 10  # about one onset per syllable
            for elbow in (17, 18):
                peaks, _ = find_peaks(np.abs(clip.body_pose[:, elbow, 1]), prominence=0.08)
                d = np.abs(onsets[None, :] - peaks[:, None]).min(axis=1)
                near += int((d <= 2).sum())
                total += len(peaks)
    assert total >= 20 and near / total > 0.65


def test_mouth_follows_speech_energy(clips, speech):
    clip = clips[("neutral", 0)]
    fps = clip.fps
    frame_rms = np.array([np.sqrt(np.mean(speech[int(i * 16000 / fps):int((i + 1) * 16000 / fps)] ** 2) + 1e-12)
                          for i in range(clip.num_frames)])
    jaw = clip.jaw_pose[:, 0]
    assert np.corrcoef(jaw, frame_rms)[0, 1] > 0.5
    assert jaw.max() > 0.1 and jaw.min() >= 0.0


def test_poses_within_limits_smooth_and_feet_still(clips):
    for clip in clips.values():
        pose = clip.full_pose()
        assert within_limits(pose)
        # legs, pelvis and translation never move: no foot sliding
        assert np.all(pose[:, [0, 1, 2, 4, 5, 7, 8, 10, 11]] == 0.0)
        assert np.all(clip.transl == 0.0)
        j = joints(clip)
        feet = j[:, [7, 8, 10, 11]]
        assert np.abs(feet - feet[0]).max() < 1e-9
        # no popping: bounded joint speed (m/s) and acceleration (m/s^2)
        v = np.linalg.norm(np.diff(j, axis=0), axis=-1) * clip.fps
        a = np.linalg.norm(np.diff(j, 2, axis=0), axis=-1) * clip.fps ** 2
        assert v.max() < 3.0 and a.max() < 60.0
        # rotation change per frame is bounded too (radians per frame)
        assert np.abs(np.diff(pose, axis=0)).max() < 0.25


def test_rest_pose_hands_beside_the_hips():
    quiet = np.zeros(16000 * 2, np.float32)
    clip = ProsodyGenerator().generate_samples(quiet, "neutral", 0)
    j = joints(clip)[0]
    for wrist, hip, side in ((20, 1, 1.0), (21, 2, -1.0)):
        x, y = j[wrist, 0] * side, j[wrist, 1]
        assert 0.18 < x < 0.32, "the hand hangs beside the body, not out to the side"
        assert abs(y - j[hip, 1]) < 0.12, "the wrist is at hip height"
    assert j[20, 1] < j[16, 1] - 0.35  # well below the shoulder (no T-pose)


def test_stream_matches_offline_and_reports_latency(speech):
    offline = ProsodyGenerator().generate_samples(speech, "happy", 5)
    stream = ProsodyStream("happy", 5)
    parts, first_offsets = [], []
    for k in range(0, len(speech), 480):  # 30 ms chunks
        part = stream.feed(speech[k:k + 480])
        if part.num_frames:
            first_offsets.append(part.meta.audio_offset_s)
        parts.append(part)
    parts.append(stream.flush(offline.num_frames))
    live = concat_clips(parts)
    assert live.num_frames == offline.num_frames
    np.testing.assert_allclose(live.poses(), offline.poses(), atol=1e-4)
    np.testing.assert_allclose(live.expression, offline.expression, atol=1e-4)
    # frames come out while audio is still arriving, at most latency_s behind it
    assert len(first_offsets) > 10
    assert 0.3 < stream.latency_s < 0.35  # 0.3 s look-ahead + half a 64 ms analysis window
    received_s = 480 / 16000.0
    for n, part in enumerate(parts[:-1]):
        if part.num_frames:
            last_t = part.meta.audio_offset_s + (part.num_frames - 1) / part.fps
            assert last_t >= (n + 1) * received_s - stream.latency_s - 1 / part.fps - 1e-6


def test_stream_rejects_other_sample_rates():
    with pytest.raises(InputError, match="16000"):
        ProsodyStream("happy", 0, sample_rate_hz=44100)


def _write(path, samples, rate, channels=1):
    data = np.asarray(samples, np.float32)
    if channels > 1:
        data = np.stack([data] * channels, axis=1)
    sf.write(str(path), data, rate, subtype="PCM_16")
    return path


def test_bad_audio_is_reported(tmp_path, speech):
    gen = ProsodyGenerator()
    silent = _write(tmp_path / "silent.wav", np.zeros(16000), 16000)
    with pytest.raises(InputError, match="silent"):
        gen.generate(Utterance(silent, emotion="happy"))
    clipped = _write(tmp_path / "clipped.wav", np.clip(speech * 20, -1, 1), 16000)
    with pytest.raises(InputError, match="clipped"):
        gen.generate(Utterance(clipped, emotion="happy"))
    assert ProsodyGenerator(allow_clipped=True).generate(Utterance(clipped, emotion="happy")).num_frames > 0
    with pytest.raises(InputError, match="emotion"):
        gen.generate(Utterance(GREETING, emotion="angry"))
    with pytest.raises(InputError, match="longer than 3 s"):
        load_speech(GREETING, max_duration_s=3.0)


def test_stereo_and_other_rates_are_fixed_with_a_note(tmp_path, speech):
    from vr_study.audio import Audio

    x44 = Audio(speech, 16000).resampled(44100).samples
    stereo = _write(tmp_path / "stereo44.wav", x44, 44100, channels=2)
    clip = ProsodyGenerator().generate(Utterance(stereo, emotion="neutral", seed=1))
    notes = " ".join(clip.meta.extra["notes"])
    assert "mono" in notes and "44100" in notes
    ref = ProsodyGenerator().generate_samples(speech, "neutral", 1)
    assert abs(clip.num_frames - ref.num_frames) <= 1
