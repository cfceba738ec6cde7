"""``vr-study motion info|convert``: look at and convert SMPL-X motion files."""
from __future__ import annotations

import argparse
import json


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("motion", help="inspect and convert SMPL-X motion files")
    msub = p.add_subparsers(dest="motion_command", metavar="ACTION")

    info = msub.add_parser("info", help="frames, fps, duration, ranges and moving parts of a motion file")
    info.add_argument("file", help="motion file (.npz BEAT2/AMASS/AMUSE, .npy TalkSHOW, PIXIE folder)")
    info.add_argument("--from", dest="fmt", help="format, when it cannot be detected")
    info.add_argument("--json", action="store_true", help="print JSON instead of text")
    info.set_defaults(func=_info)

    conv = msub.add_parser("convert", help="convert any supported motion file to BEAT2 .npz")
    conv.add_argument("input")
    conv.add_argument("output", help="output .npz (BEAT2 layout)")
    conv.add_argument("--from", dest="fmt", help="input format, when it cannot be detected")
    conv.add_argument("--fps", type=float, help="resample to this frame rate (Hz)")
    conv.add_argument("--source-fps", type=float,
                      help="frame rate (Hz) of inputs that do not record one (PIXIE folders, TalkSHOW .npy)")
    conv.add_argument("--trim", nargs=2, type=float, metavar=("START_S", "END_S"), help="keep [START_S, END_S) seconds")
    conv.add_argument("--audio", help="speech wav the clip belongs to (its length is checked)")
    conv.add_argument("--body-model", help="SMPL-X model file the clip is shown with: TalkSHOW hand poses are "
                      "offsets from its mean hand; its rest pelvis places AMASS bodies turned Y-up")
    conv.add_argument("--num-samples", type=int, default=None,
                      help="TalkSHOW: samples stacked in the file (default: found from the repeated face)")
    conv.add_argument("--sample", type=int, default=0, help="TalkSHOW: which sample to take")
    conv.add_argument("--rotate", action="append", default=[], metavar="AXIS:DEGREES",
                      help="turn the whole clip about the world axis x, y or z (e.g. x:180 for a body in a "
                           "y-down camera frame, x:-90 for Z-up data, y:180 to face the viewer); repeatable, "
                           "applied in order")
    conv.set_defaults(func=_convert)
    p.set_defaults(func=lambda a: p.print_help() or 2)


def _summary(clip) -> dict:
    import numpy as np

    from vr_study.orientation import clip_orientation

    pose = clip.full_pose()
    return {
        "frames": clip.num_frames,
        "fps_hz": clip.fps,
        "duration_s": round(clip.duration_s, 4),
        "gender": clip.gender,
        "num_expression": clip.num_expression,
        "num_betas": int(clip.betas.size),
        "pose_range_rad": [round(float(pose.min()), 4), round(float(pose.max()), 4)],
        "transl_range_m": [np.round(clip.transl.min(0), 4).tolist(), np.round(clip.transl.max(0), 4).tolist()],
        "moving_parts": {k: round(v, 4) for k, v in clip.moving_parts().items()},
        "orientation": clip_orientation(clip).to_dict(),
        "meta": clip.meta.to_dict(),
    }


def _reader_options(args) -> dict:
    opts = {}
    if getattr(args, "num_samples", None) is not None or getattr(args, "sample", 0):
        opts.update(num_samples=args.num_samples, sample=args.sample)
    if getattr(args, "source_fps", None):
        opts["fps"] = args.source_fps
    if getattr(args, "body_model", None):
        from vr_study.body import load_body_model

        model = load_body_model(args.body_model)
        opts.update(hands_mean=model.hands_mean, body_model=model)
    return opts


def _rotations(specs: list[str]):
    """(3, 3) rotation from ``--rotate AXIS:DEGREES`` values, applied in the order given."""
    import numpy as np

    from vr_study.errors import InputError
    from vr_study.orientation import axis_rotation

    R = np.eye(3)
    for spec in specs:
        axis, _, deg = spec.partition(":")
        try:
            R = axis_rotation(axis.strip().lower(), float(deg)) @ R
        except (KeyError, ValueError):
            raise InputError(None, "--rotate", f"'{spec}' is not AXIS:DEGREES",
                             "write e.g. x:180, x:-90 or y:180 (axis x, y or z; degrees)") from None
    return R


def print_orientation_warnings(clip, source) -> None:
    """Print ``warning: SOURCE: ...`` on stderr for each way ``clip`` breaks Y-up, facing +Z."""
    import sys

    from vr_study.motion import orientation_warnings

    for w in orientation_warnings(clip):
        print(f"warning: {source}: {w}", file=sys.stderr)


def _info(args) -> int:
    from vr_study.formats import read_motion

    clip = read_motion(args.file, args.fmt)
    s = _summary(clip)
    print_orientation_warnings(clip, args.file)  # on stderr: --json output stays clean
    if args.json:
        print(json.dumps(s, indent=2, default=str))
        return 0
    print(f"{args.file}: {s['frames']} frames at {s['fps_hz']:g} Hz = {s['duration_s']:.3f} s "
          f"({clip.meta.source_format}, gender {s['gender']}, {s['num_expression']} expression coefficients)")
    print(f"  pose range {s['pose_range_rad']} rad; translation {s['transl_range_m'][0]} .. {s['transl_range_m'][1]} m")
    moving = [f"{k} {v:.3f}" for k, v in s["moving_parts"].items() if v > 1e-3]
    print("  moving parts (range): " + (", ".join(moving) if moving else "none (a still clip)"))
    o = s["orientation"]
    vec = lambda v: "(" + ", ".join(f"{round(x, 2) + 0.0:.2f}" for x in v) + ")"  # noqa: E731 (no "-0.00")
    print(f"  up {vec(o['up'])} {o['posture']} ({o['up_angle_deg']:.0f} degrees from +Y); "
          f"facing {vec(o['facing'])} {o['facing_word']}")
    m = clip.meta
    print(f"  method {m.method}, emotion {m.emotion}, utterance {m.utterance}, seed {m.seed}, audio {m.audio_path}")
    return 0


def _convert(args) -> int:
    from vr_study.formats import read_motion, write_motion

    rotation = _rotations(args.rotate)
    opts = _reader_options(args)
    clip = read_motion(args.input, args.fmt, **opts)
    if args.rotate:
        from vr_study.orientation import rotate_world

        model = opts.get("body_model")
        if model is None:
            from vr_study.body import load_body_model

            model = load_body_model()
        clip.global_orient, clip.transl = rotate_world(clip.global_orient, clip.transl, rotation,
                                                       model.rest_joints(clip.betas)[0])
        clip.meta.extra.setdefault("rotated", []).extend(args.rotate)
    if args.fps:
        clip = clip.resample(args.fps)
    if args.trim:
        clip = clip.trim(*args.trim)
    if args.audio:
        from vr_study.audio import read_audio
        from vr_study.motion import check_audio_length

        audio = read_audio(args.audio)
        clip.meta.audio_path = str(args.audio)
        check_audio_length(clip, audio.duration_s, tolerance_s=max(0.1, 2.0 / clip.fps))
    print_orientation_warnings(clip, args.input)
    write_motion(clip, args.output)
    print(f"wrote {args.output}: {clip.num_frames} frames at {clip.fps:g} Hz ({clip.duration_s:.3f} s)")
    return 0
