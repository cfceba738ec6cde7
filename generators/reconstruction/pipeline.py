"""Video (or images) in, MotionClip out: frames -> MediaPipe landmarks -> SMPL-X fit -> resample."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from vr_study.errors import InputError
from vr_study.motion import MotionClip

from .fit import FitOptions, SequenceFitter, result_to_clip
from .frames import open_source, iter_frames
from .keypoints import KeypointModel, load_smplx
from .landmarks import Landmarks, detect_landmarks

METHOD = "reconstruction"
AUDIO_TOLERANCE_S = 0.5


@dataclass
class ReconstructOptions:
    """``fps_out`` Hz of the result; ``fps_in`` Hz overrides the video's rate (image folders
    default to 30 Hz); ``fit`` the fitting options; ``num_expression`` coefficients fitted."""

    fps_out: float = 30.0
    fps_in: float | None = None
    num_expression: int = 16
    fit: FitOptions = field(default_factory=FitOptions)


def resolve_body_model(path: str | Path | None) -> Path:
    """The SMPL-X file to fit with: ``path`` if given, else the project's default body model."""
    if path is not None:
        return Path(path)
    try:
        from vr_study.body import default_body_model_path
    except ImportError:
        raise InputError(None, "--body-model", "no default body model is available",
                         "pass --body-model PATH to an SMPL-X .npz/.pkl") from None
    return Path(default_body_model_path())


def extract_landmarks(video: str | Path, fps_in: float | None = None,
                      progress: Callable[[int], None] | None = None,
                      on_open: Callable[[int], None] | None = None) -> Landmarks:
    """Run MediaPipe over every frame of a video, image folder or image.

    ``on_open(n)`` receives the (estimated) frame count before detection starts.
    """
    source = open_source(video, fps_in)
    if on_open is not None:
        on_open(source.num_frames)
    lm = detect_landmarks(iter_frames(source), source.fps, static_image_mode=source.kind != "video",
                          progress=progress)
    if lm.num_frames == 0:
        raise InputError(video, None, "has no frames that could be decoded", "check the file")
    if not lm.pose_ok.any():
        raise InputError(video, None, f"shows no person: MediaPipe found no body in any of its {lm.num_frames} frames",
                         "give a video in which one person is visible from at least the hips up")
    return lm


def reconstruct(video: str | Path, body_model: str | Path | None = None, audio: str | Path | None = None,
                options: ReconstructOptions | None = None,
                progress: Callable[[str, int, int], None] | None = None) -> MotionClip:
    """Reconstruct SMPL-X motion of the person in ``video``; returns a clip at ``fps_out``.

    ``progress(stage, done_increment, total)`` is called with stage 'landmarks' (per frame)
    and 'fit' (per loss evaluation). Raises :class:`InputError` for unreadable input, no
    person, a bad body model or audio whose length does not match the video.
    """
    o = options or ReconstructOptions()
    model_path = resolve_body_model(body_model)
    body = load_smplx(model_path, o.num_expression)   # fail on a bad model before the slow part
    audio_info = None
    if audio is not None:
        from vr_study.audio import read_audio

        audio_info = read_audio(audio)
    total = {"n": 0}

    def on_open(n: int) -> None:
        total["n"] = n

    lm = extract_landmarks(video, o.fps_in,
                           progress=(lambda k: progress("landmarks", k, total["n"])) if progress else None,
                           on_open=on_open)
    if audio_info is not None:  # before the fit: a mismatch should not cost the slow part
        audio_s = len(audio_info.samples) / audio_info.sample_rate_hz
        video_s = lm.num_frames / lm.fps
        if abs(audio_s - video_s) > AUDIO_TOLERANCE_S:
            raise InputError(audio, None, f"lasts {audio_s:.2f} s but the video lasts {video_s:.2f} s",
                             "give the audio track of this video (e.g. `ffmpeg -i VIDEO -vn -ac 1 speech.wav`)")
    model = KeypointModel.from_smplx(body)
    fit_total = o.fit.init_iterations + o.fit.iterations
    fitter = SequenceFitter(model, lm, o.fit)
    result = fitter.run((lambda k: progress("fit", k, fit_total)) if progress else None)
    extra = {
        "source_video": str(video),
        "body_model": str(model_path),
        "source_frames": int(lm.num_frames),
        "frames_with_person": int(lm.pose_ok.sum()),
        "frames_with_face": int(lm.face_ok.sum()),
        "frames_with_left_hand": int(lm.left_ok.sum()),
        "frames_with_right_hand": int(lm.right_ok.sum()),
        "source_fps": float(lm.fps),
        "fit_loss": float(result.loss),
    }
    clip = result_to_clip(result, lm.fps, method=METHOD, extra=extra)
    clip = clip.resample(o.fps_out) if lm.num_frames > 1 else clip.replace(fps=float(o.fps_out))
    if audio_info is not None:
        clip.meta.audio_path = str(audio)
    return clip.validate(str(video))
