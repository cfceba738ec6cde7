"""Faces a viewer can read: MediaPipe FaceMesh measured on rendered face views of the default body.

The measures (face heights; see analysis/face_metrics.py) come from a face detector
trained on photographs of people, so they say what a viewer would see, not what the
blend shapes were meant to do.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from analysis.face_metrics import emotion_clips, face_measures, open_face_mesh, render_face_frames, summarise
from generators.prosody import ProsodyGenerator
from generators.speech import load_speech
from vr_study.body import load_body_model
from vr_study.motion import MotionClip
from vr_study.render.framing import FACE_FRAME_HEIGHT_M, frame_camera

pytest.importorskip("mediapipe")

GREETING = Path(__file__).resolve().parents[1] / "assets" / "speech" / "greeting.wav"


@pytest.fixture(scope="module")
def body():
    return load_body_model()


@pytest.fixture(scope="module")
def face_mesh():
    fm = open_face_mesh()
    yield fm
    fm.close()


@pytest.fixture(scope="module")
def stills(body, face_mesh):
    clips = emotion_clips(body)
    images = render_face_frames(list(clips.values()), body, 1, size=(384, 384))
    return {e: summarise(ims, face_mesh) for e, ims in zip(clips, images)}


def test_the_generators_happy_face_smiles_and_its_neutral_face_does_not(face_mesh):
    speech = load_speech(GREETING).audio.samples
    gen = ProsodyGenerator()
    clips = [gen.generate_samples(speech, emotion, 0) for emotion in ("happy", "neutral")]
    images = render_face_frames(clips, load_body_model(), 10, size=(384, 384))
    happy, neutral = (summarise(ims, face_mesh) for ims in images)
    assert happy["detected"] == neutral["detected"] == 10, "FaceMesh lost the face"
    # a Duchenne smile: mouth corners up (AU12) and the eyes narrowed from below (AU6)
    assert happy["mouth_corner_lift"] - neutral["mouth_corner_lift"] >= 0.04
    assert happy["eye_aperture"] < neutral["eye_aperture"] - 0.003


def test_each_emotion_shows_its_action_units(stills):
    n = stills["neutral"]
    assert all(m["detected"] == 1 for m in stills.values()), {e: m["detected"] for e, m in stills.items()}
    assert stills["happy"]["mouth_corner_lift"] - n["mouth_corner_lift"] >= 0.04  # AU12
    assert stills["happy"]["eye_aperture"] < n["eye_aperture"] - 0.005  # AU6
    assert stills["sad"]["mouth_corner_lift"] < n["mouth_corner_lift"] - 0.005  # AU15
    assert stills["surprise"]["brow_height"] > n["brow_height"] + 0.015  # AU1+2
    assert stills["angry"]["brow_height"] < n["brow_height"] - 0.01  # AU4


def test_blink_closes_the_eyes(body):
    """AU45: with the lids closed, hardly any eye white shows in the eye region."""
    names = list(body.expression_names)
    clips = []
    for value in (0.0, 1.0):
        c = MotionClip.zeros(1, 30.0, num_expression=len(names))
        c.expression[:, names.index("blink")] = value
        clips.append(c)
    (open_img,), (closed_img,) = render_face_frames(clips, body, 1, size=(384, 384))
    # the eyes' rows and columns in the face view (the frame is 0.30 m tall, centred 25 mm
    # below the eyes; the eyes sit 32 mm either side of the middle)
    rows, cols = slice(int(0.30 * 384), int(0.50 * 384)), slice(int(0.33 * 384), int(0.67 * 384))

    def eye_pixels(img):
        p = img[rows, cols].astype(int)
        return int(((p.min(axis=2) > 170) & (np.ptp(p, axis=2) < 40)).sum())  # sclera: bright, grey

    white_open, white_closed = eye_pixels(open_img), eye_pixels(closed_img)
    assert white_open > 80, "the open eyes show no white"
    assert white_closed < white_open * 0.1


def test_face_view_frames_every_panel_alike(body):
    """The face view is centred between the eyes' midpoint and the chin at one scale, whatever the body does."""
    a = MotionClip.zeros(2, 30.0, num_expression=16)
    b = MotionClip.zeros(2, 30.0, num_expression=16)
    b.body_pose[:, 15, 2] = -1.2  # an arm raised beside the head: framing by vertices would zoom out
    b.transl[:, 0] = 0.3
    cams = []
    for c in (a, b):
        posed = body.pose_clip(c)
        cams.append(frame_camera("face", np.asarray(posed.joints), np.asarray(posed.vertices), 1.0))
        eyes = np.asarray(posed.joints)[0, 23:25].mean(0)
        assert abs(cams[-1].target[0] - eyes[0]) < 1e-6  # centred on the face
        assert 0.0 < eyes[1] - cams[-1].target[1] < 0.06
    dist = [np.linalg.norm(np.subtract(c.position, c.target)) for c in cams]
    assert abs(dist[0] - dist[1]) < 1e-9
    assert abs(2 * dist[0] * np.tan(cams[0].yfov_rad / 2) - FACE_FRAME_HEIGHT_M) < 1e-9


def test_measures_are_none_without_a_face(face_mesh):
    assert face_measures(np.full((256, 256, 3), 200, np.uint8), face_mesh) is None
