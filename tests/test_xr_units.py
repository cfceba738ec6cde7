"""Renderer pieces that need no GL context: camera math, placement, clip timing, audio
scheduling against motion, the frame log."""
from __future__ import annotations

import json

import numpy as np
import pytest

from vr_study.audio import Audio
from vr_study.motion import MotionClip
from vr_study.xr.audio_schedule import RecordedAudioOutput, open_audio_output
from vr_study.xr.avatar import AvatarMesh, Placement, ProxyBodyModel, conversational_placements
from vr_study.xr.framelog import FrameLog, FrameRecord
from vr_study.xr.posesource import ClipPoseSource
from vr_study.xr.presenter import Presenter
from vr_study.xr.viewmath import (Fov, Pose, parse_pose, projection_matrix, stereo_eyes, view_matrix,
                                  yaw_quat)


def project(point, eye: Pose, fov: Fov = Fov()) -> np.ndarray:
    clip = projection_matrix(fov) @ view_matrix(eye) @ np.append(point, 1.0)
    return clip[:3] / clip[3]


def test_point_ahead_projects_to_centre_and_eyes_see_opposite_offsets():
    head = Pose((0.0, 1.6, 0.0))
    assert project((0, 1.6, -2.0), head)[:2] == pytest.approx([0, 0], abs=1e-6)
    left, right = stereo_eyes(head, 0.064)
    assert left.position[0] == pytest.approx(-0.032) and right.position[0] == pytest.approx(0.032)
    xl, xr_ = project((0, 1.6, -1.3), left)[0], project((0, 1.6, -1.3), right)[0]
    assert xl > 0 > xr_  # the left eye sees the point to the right of its centre
    # disparity in NDC = 2 * ipd / distance / (tan(right) - tan(left))
    assert xl - xr_ == pytest.approx(0.064 / 1.3, rel=1e-5)


def test_asymmetric_fov_and_rotated_head():
    fov = Fov(-0.6, 0.9, 0.7, -0.8)
    edge = np.array([np.tan(0.9), 0.0, -1.0])
    assert project(edge, Pose(), fov)[0] == pytest.approx(1.0, abs=1e-6)
    turned = Pose((0, 0, 0), yaw_quat(np.pi / 2))  # looking down -X
    assert project((-2.0, 0, 0), turned)[:2] == pytest.approx([0, 0], abs=1e-6)


def test_parse_pose():
    p = parse_pose("0.1,1.7,0.2,0,0,0,2")
    assert p.position == (0.1, 1.7, 0.2) and p.orientation == pytest.approx((0, 0, 0, 1))
    with pytest.raises(ValueError):
        parse_pose("1,2")


@pytest.mark.parametrize("count", [1, 2, 4])
def test_avatars_stand_at_conversational_distance_facing_the_participant(count):
    for pl in conversational_placements(count, (0.5, 1.0), distance_m=1.3):
        to_participant = np.array([0.5, 1.0]) - pl.position[[0, 2]]
        assert np.linalg.norm(to_participant) == pytest.approx(1.3)
        facing = pl.matrix()[:3, :3] @ np.array([0, 0, 1.0])  # the body's front (+Z) in STAGE
        assert np.dot(facing[[0, 2]], to_participant / 1.3) == pytest.approx(1.0, abs=1e-6)


def test_avatar_mesh_stands_on_the_floor_and_ignores_the_clips_global_offset():
    mesh = AvatarMesh(ProxyBodyModel(), Placement(np.zeros(3, np.float32), 0.0))
    pose = np.zeros((55, 3), np.float32)
    v0, n0 = mesh.pose(pose, np.array([3.0, 0.9, -2.0]), None)
    assert v0[:, 1].min() == pytest.approx(0.0, abs=1e-5)
    assert np.linalg.norm(n0, axis=1) == pytest.approx(np.ones(len(n0)), abs=1e-4)
    v1, _ = mesh.pose(pose, np.array([3.1, 0.9, -2.0]), None)  # moved 10 cm relative to the first
    assert (v1 - v0)[:, 0] == pytest.approx(np.full(len(v0), 0.1), abs=1e-5)


def test_clip_source_interpolates_holds_and_finishes():
    clip = MotionClip.zeros(31, fps=30.0)
    clip.jaw_pose[:, 0] = np.linspace(0, 0.3, 31)
    src = ClipPoseSource(clip, "agent", start_time_s=100.0)
    assert src.pose_at("agent", 99.0).full_pose[22, 0] == pytest.approx(0.0)  # before: first frame
    assert src.pose_at("agent", 100.5).full_pose[22, 0] == pytest.approx(0.15, abs=1e-5)
    assert src.pose_at("agent", 100.5 + 1 / 60).full_pose[22, 0] == pytest.approx(0.155, abs=1e-5)
    late = src.pose_at("agent", 102.0)
    assert late.full_pose[22, 0] == pytest.approx(0.3) and late.age_s == pytest.approx(1.0)
    assert src.pose_at("other", 100.5) is None
    assert not src.finished(100.9) and src.finished(101.1)


def test_audio_starts_with_the_motion():
    """The speech's first sample and the clip's time zero are scheduled for the same instant."""
    clip = MotionClip.zeros(30, fps=30.0)
    src = ClipPoseSource(clip)
    out = RecordedAudioOutput()
    audio = Audio(np.zeros(16000, np.float32), 16000, 1, None)
    p = Presenter(scene=None, source=src, body_model=None, audio=audio, audio_output=out, audio_offset_s=0.0,
                  lead_s=0.25)
    p.start_playback(50.0)
    p.start_playback(60.0)  # once only
    assert p.motion_start_s == pytest.approx(50.25) and src.start_time_s == pytest.approx(50.25)
    assert len(out.schedules) == 1 and out.schedules[0].start_time_s == pytest.approx(50.25)
    # MotionMeta.audio_offset_s: the clip's first frame plays with the speech at 0.12 s, so the
    # speech starts 0.12 s in (a trimmed clip) ...
    inside = RecordedAudioOutput()
    p2 = Presenter(None, ClipPoseSource(clip), None, audio=audio, audio_output=inside, audio_offset_s=0.12)
    p2.start_playback(10.0)
    assert inside.schedules[0].start_time_s == pytest.approx(p2.motion_start_s)
    assert inside.schedules[0].duration_s == pytest.approx(1.0 - 0.12)
    # ... and a negative offset delays the speech after the motion's start
    delayed = RecordedAudioOutput()
    p3 = Presenter(None, ClipPoseSource(clip), None, audio=audio, audio_output=delayed, audio_offset_s=-0.12)
    p3.start_playback(10.0)
    assert delayed.schedules[0].start_time_s - p3.motion_start_s == pytest.approx(0.12)


def test_audio_backend_falls_back_to_recording(capsys):
    out = open_audio_output("auto")
    assert out.name in ("recorded", "sounddevice")
    out.close()
    assert open_audio_output("recorded").name == "recorded"


def test_frame_log_lines_and_summary(tmp_path):
    path = tmp_path / "log.jsonl"
    log = FrameLog(path)
    for i in range(10):
        log.record(FrameRecord(i, 1.0 + i / 90, 1_000_000_000 + i, 1 / 90, i > 0, 2.0 + i, i == 5,
                               1 if i == 7 else 0, "FOCUSED", {"a": 0.01 * i}))
    s = log.close()
    lines = [json.loads(x) for x in path.read_text().splitlines()]
    assert len(lines) == 10 and lines[3]["pose_age_s"] == {"a": pytest.approx(0.03)}
    assert s.frames == 10 and s.rendered == 9 and s.late == 1 and s.missed_vsyncs == 1
    assert s.frame_rate_hz == pytest.approx(90.0)
    assert s.max_pose_age_s == pytest.approx(0.09)
    assert s.cpu_ms_mean == pytest.approx(np.mean(np.arange(1, 10) + 2.0))
