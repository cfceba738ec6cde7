"""What both frame loops (OpenXR and the simulator) do per frame, apart from the display.

:class:`Presenter` owns the avatars: it places them facing the participant when it first
learns where the head is, asks the pose source for each avatar's pose at the predicted
display time, and has the avatar skinned: on the GPU (``skinning="gpu"``: only the joint
transforms and expression coefficients are uploaded, :mod:`vr_study.xr.gpuskin`) or on the
CPU (``"cpu"``: vertices and normals uploaded); ``"auto"`` takes the GPU where the body
model allows it (not for pose-corrective blend shapes or the proxy figure).
It also starts a clip and its speech together: the motion's time zero and the audio's
first sample are scheduled for the same CLOCK_MONOTONIC instant.
"""
from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

import numpy as np

from vr_study.audio import Audio
from vr_study.xr.audio_schedule import AudioOutput, AudioSchedule
from vr_study.xr.avatar import AvatarMesh, Placement, conversational_placements
from vr_study.xr.gpuskin import SkinnedAvatar, build_rig
from vr_study.xr.posesource import ClipPoseSource, PoseSource
from vr_study.xr.viewmath import Pose, quat_to_matrix

if TYPE_CHECKING:  # scene imports OpenGL, whose platform graphics.import_gl must choose first
    from vr_study.xr.scene import Scene


class Presenter:
    """Keeps the scene's avatars posed for each display time.

    ``lead_s``: how long after the first rendered frame a clip (and its audio) starts,
    so that the audio device has time to start. ``audio_offset_s``: the position in the
    speech (s) that plays with the clip's first frame (MotionMeta.audio_offset_s).
    ``audio_root``: folder in which to look for the speech of the pose stream's audio cues
    by their stimulus-library path, when the pose server's own path does not exist here.
    """

    def __init__(self, scene: "Scene", source: PoseSource, body_model: Any, audio: Audio | None = None,
                 audio_output: AudioOutput | None = None, audio_offset_s: float = 0.0, lead_s: float = 0.3,
                 distance_m: float = 1.3, skinning: str = "auto", audio_root: str | None = None):
        from vr_study.xr.gpuskin import resolve_skinning

        self.skinning, self.skinning_note = resolve_skinning(skinning, body_model)
        self._rig = None  # the GPU rig, built with the first avatar and shared by all
        self.scene = scene
        self.source = source
        self.body_model = body_model
        self.audio = audio
        self.audio_output = audio_output
        self.audio_offset_s = audio_offset_s
        self.lead_s = lead_s
        self.distance_m = distance_m
        self.meshes: dict[str, AvatarMesh | SkinnedAvatar] = {}
        self.slots: dict[str, int] = {}
        self.participant: tuple[np.ndarray, float] | None = None  # head position (3,), yaw (rad)
        self.motion_start_s: float | None = None
        self.audio_schedule: AudioSchedule | None = None
        self.audio_root = audio_root
        self.cue_schedules: list[AudioSchedule] = []  # speech started by the stream's audio cues
        self.cue_problems: list[str] = []
        self.newest_pose_s: dict[str, float] = {}  # per avatar, at the last update (stream sources)
        self._pool: ThreadPoolExecutor | None = None

    # ------------------------------------------------------------------ placement
    def set_participant(self, head: Pose) -> None:
        """Fix where the participant stands (first head pose): avatars are placed around it."""
        if self.participant is not None:
            return
        r = quat_to_matrix(head.orientation)
        fwd = -r[:, 2]
        yaw = float(np.arctan2(-fwd[0], -fwd[2]))  # 0 when looking down -Z
        self.participant = (np.asarray(head.position, float), yaw)
        self._replace()

    def _placements(self, count: int) -> list[Placement]:
        assert self.participant is not None
        pos, yaw = self.participant
        local = conversational_placements(count, (0.0, 0.0), self.distance_m)
        c, s = np.cos(yaw), np.sin(yaw)
        out = []
        for p in local:  # rotate the arc to the participant's facing direction and move it there
            x, z = float(p.position[0]), float(p.position[2])
            wx, wz = c * x + s * z + pos[0], -s * x + c * z + pos[2]
            out.append(Placement(np.array([wx, 0.0, wz], np.float32), p.yaw_rad + yaw))
        return out

    def _replace(self) -> None:
        ids = list(self.meshes)
        if self.participant is None or not ids:
            return
        for aid, pl in zip(ids, self._placements(len(ids))):
            self.meshes[aid].placement = pl
            self.scene.set_model(self.slots[aid], pl.matrix())

    # ------------------------------------------------------------------ per frame
    def start_playback(self, first_display_time_s: float) -> None:
        """Schedule a clip's motion and audio (once) relative to the first rendered frame."""
        if self.motion_start_s is not None:
            return
        self.motion_start_s = first_display_time_s + self.lead_s
        if isinstance(self.source, ClipPoseSource):
            self.source.start(self.motion_start_s)
        if self.audio is not None and self.audio_output is not None:
            self.audio_schedule = self._play(self.audio, self.audio_offset_s, self.motion_start_s)

    def _play(self, audio: Audio, position_s: float, at_s: float) -> AudioSchedule:
        """Have ``audio`` at ``position_s`` seconds play at monotonic time ``at_s``."""
        assert self.audio_output is not None
        if position_s > 0:  # start inside the speech
            skip = int(round(position_s * audio.sample_rate_hz))
            return self.audio_output.play_at(Audio(audio.samples[skip:], audio.sample_rate_hz, audio.channels,
                                                   audio.path), at_s)
        return self.audio_output.play_at(audio, at_s - position_s)  # the speech starts after the motion

    def _take_audio_cues(self) -> None:
        """Start the speech the pose server cued (stream sources only)."""
        take = getattr(self.source, "take_audio_cues", None)
        if take is None or self.audio_output is None:
            return
        from pathlib import Path

        from vr_study.audio import read_audio
        from vr_study.errors import InputError

        for cue in take():
            path = Path(cue.audio)
            if not path.is_file() and cue.library_path and self.audio_root:
                path = Path(self.audio_root) / cue.library_path
            try:
                self.cue_schedules.append(self._play(read_audio(path), cue.offset_s, cue.start_s))
            except InputError as e:  # keep rendering: the motion goes on without its speech
                self.cue_problems.append(str(e))

    def update(self, display_time_s: float) -> dict[str, float]:
        """Pose every avatar for ``display_time_s`` (monotonic s); returns pose age per avatar (s).

        GPU skinning: forward kinematics per avatar here, the rest in the vertex shader.
        CPU skinning: several avatars are skinned in parallel threads (numpy releases the GIL
        in its matrix products); GL uploads stay on the calling thread, which owns the context.
        """
        self.source.poll()
        self._take_audio_cues()
        newest = getattr(self.source, "newest_time_s", None)  # stream sources
        self.newest_pose_s = {} if newest is None else {
            aid: t for aid in self.source.avatar_ids() if (t := newest(aid)) is not None}
        ages: dict[str, float] = {}
        todo = []
        for aid in self.source.avatar_ids():
            sample = self.source.pose_at(aid, display_time_s)
            if sample is None:
                continue  # not heard from yet
            ages[aid] = float(sample.age_s)
            if aid not in self.meshes:
                self._add(aid, sample)
            else:
                todo.append((aid, sample))
        if self.skinning == "gpu":
            for aid, s in todo:
                self.scene.update_skin(self.slots[aid], *self.meshes[aid].pose(s.full_pose, s.transl, s.expression))
            return ages
        if len(todo) > 1:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 1),
                                                thread_name_prefix="skinning")
            posed = list(self._pool.map(lambda a: self.meshes[a[0]].pose(a[1].full_pose, a[1].transl,
                                                                           a[1].expression), todo))
        else:
            posed = [self.meshes[a].pose(s.full_pose, s.transl, s.expression) for a, s in todo]
        for (aid, _), (v, n) in zip(todo, posed):
            self.scene.update_avatar(self.slots[aid], v, n)
        return ages

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None

    def _add(self, aid: str, sample: Any) -> None:
        if self.skinning == "gpu":
            if self._rig is None:
                self._rig = build_rig(self.body_model)
            avatar = SkinnedAvatar(self._rig, Placement(np.zeros(3, np.float32), 0.0))
            self.slots[aid] = self.scene.add_skinned_avatar(self._rig, avatar.placement.matrix())
            self.scene.update_skin(self.slots[aid], *avatar.pose(sample.full_pose, sample.transl, sample.expression))
            self.meshes[aid] = avatar
            self._replace()
            return
        mesh = AvatarMesh(self.body_model, Placement(np.zeros(3, np.float32), 0.0))
        v, n = mesh.pose(sample.full_pose, sample.transl, sample.expression)
        self.slots[aid] = self.scene.add_avatar(v, n, mesh.faces, mesh.placement.matrix(), colors=mesh.colors,
                                                uvs=mesh.uvs, texture=mesh.texture)
        self.meshes[aid] = mesh
        self._replace()
