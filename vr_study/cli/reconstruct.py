"""`vr-study reconstruct`: SMPL-X motion from a video of a real person (the reconstruction baseline)."""
from __future__ import annotations

import argparse
from pathlib import Path

from vr_study.errors import InputError


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``reconstruct`` subcommand."""
    p = sub.add_parser(
        "reconstruct", help="reconstruct SMPL-X motion from a video, image folder or image",
        description="Detect body, hand and face landmarks in every frame with MediaPipe Holistic "
                    "(offline), fit SMPL-X body, hands, jaw and expression to them over the whole "
                    "sequence, and write the motion at --fps-out as a BEAT2 .npz clip.")
    p.add_argument("video", type=Path, help="video file, folder of frame images (sorted by name) or one image")
    p.add_argument("-o", "--output", type=Path, required=True, help="clip to write (.npz, BEAT2 layout)")
    p.add_argument("--audio", type=Path, help="speech wav belonging to the video (recorded in the clip's metadata)")
    p.add_argument("--fps-out", type=float, default=30.0, help="frame rate of the written clip in Hz (default 30)")
    p.add_argument("--fps-in", type=float, help="frame rate of the input in Hz (image folders: default 30; "
                                                "videos: overrides the container's rate)")
    p.add_argument("--body-model", type=Path, help="SMPL-X model file to fit (default: the project's body model)")
    p.add_argument("--iterations", type=int, default=None,
                   help="loss evaluations of the main fitting stage (default 200; fewer is faster, rougher)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from generators.reconstruction.fit import FitOptions
    from generators.reconstruction.pipeline import ReconstructOptions, reconstruct
    from vr_study.formats import write_motion
    from vr_study.motion import MAX_FPS, MIN_FPS

    if args.output.suffix.lower() != ".npz":
        raise InputError(args.output, "-o", "must end in .npz", "name the output CLIP.npz")
    if not (MIN_FPS <= args.fps_out <= MAX_FPS):
        raise InputError(None, "--fps-out", f"is {args.fps_out} Hz", f"give {MIN_FPS:g}..{MAX_FPS:g} Hz")
    fit = FitOptions()
    if args.iterations is not None:
        if args.iterations < 1:
            raise InputError(None, "--iterations", f"is {args.iterations}", "give a positive number")
        fit.iterations = args.iterations
    bars: dict[str, tqdm] = {}

    def progress(stage: str, k: int, total: int) -> None:
        bar = bars.get(stage)
        if bar is None:
            for other in bars.values():
                other.close()
            unit = "frame" if stage == "landmarks" else "step"
            bar = bars[stage] = tqdm(total=total or None, desc=stage, unit=unit, leave=False)
        bar.update(k)

    try:
        clip = reconstruct(args.video, args.body_model, args.audio,
                           ReconstructOptions(fps_out=args.fps_out, fps_in=args.fps_in, fit=fit), progress)
    finally:
        for bar in bars.values():
            bar.close()
    write_motion(clip, args.output)
    extra = clip.meta.extra
    print(f"wrote {args.output}: {clip.num_frames} frames at {clip.fps:g} Hz ({clip.duration_s:.2f} s); "
          f"person in {extra['frames_with_person']} of {extra['source_frames']} source frames, "
          f"face in {extra['frames_with_face']}, hands in {extra['frames_with_left_hand']} (left) / "
          f"{extra['frames_with_right_hand']} (right)")
    return 0
