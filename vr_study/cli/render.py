"""`vr-study render`: motion clips (+ speech) to an H.264 MP4 and/or PNG frames."""
from __future__ import annotations

import argparse

VIEWS = ("full", "upper", "face")  # the same as vr_study.render.framing.VIEWS (kept light here)


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``render`` to the parser."""
    p = sub.add_parser(
        "render", help="render motion clips to an MP4 with speech (side by side for several clips)",
        description="Render one or more SMPL-X motion clips with the default (or a given) body "
                    "model, headless (EGL, OSMesa fallback), to an H.264 MP4 with the speech "
                    "muxed in as AAC. Several clips are shown side by side, each captioned with "
                    "its method / emotion. The clip plays from its audio_offset_s into the audio.")
    p.add_argument("clips", nargs="+", metavar="CLIP", help="motion files (BEAT2 .npz, TalkSHOW .npy, AMUSE, AMASS, PIXIE)")
    p.add_argument("-o", "--output", metavar="OUT.mp4", help="video to write (H.264 + AAC)")
    p.add_argument("--audio", metavar="WAV", help="speech to mux in (default: the first clip's audio_path)")
    p.add_argument("--no-audio", action="store_true", help="write a silent video")
    p.add_argument("--view", default="full", help="camera framing: full (body), upper (body) or face; default full")
    p.add_argument("--size", default="640x480", metavar="WxH", help="size of each clip's panel in pixels (even numbers); default 640x480")
    p.add_argument("--fps", type=float, default=None, help="output frame rate in Hz (default: the highest clip rate, at most 60)")
    p.add_argument("--png-dir", metavar="DIR", help="also write every frame as DIR/frame_NNNNNN.png (DIR new or empty)")
    p.add_argument("--caption", action="append", metavar="TEXT",
                   help="caption of a clip's panel, once per clip in order (default: method / emotion)")
    p.add_argument("--no-captions", action="store_true", help="draw no captions")
    p.add_argument("--from", dest="fmt", metavar="FMT", help="motion format of the clips, if not detected")
    p.add_argument("--body-model", metavar="PATH", help="SMPL-X model file (.npz/.pkl); default: the bundled body")
    p.add_argument("--texture", metavar="IMG", help="base-colour texture of the body (PNG/JPEG); needs --uv-layout")
    p.add_argument("--uv-layout", metavar="OBJ", help="the body model's UV layout (smplx_uv.obj from the SMPL-X "
                                                      "download: 'vt' lines and 'f v/vt ...' faces)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from vr_study.errors import InputError
    from vr_study.render.offline import parse_size, render_video

    if args.view not in VIEWS:
        raise InputError(None, "--view", f"'{args.view}' is not a known view", f"use one of {', '.join(VIEWS)}")
    size = parse_size(args.size)
    if args.audio and args.no_audio:
        raise InputError(None, "--audio", "was given together with --no-audio", "use one of them")
    captions = False if args.no_captions else args.caption
    audio = False if args.no_audio else args.audio
    from vr_study.body.uv import attach_texture, check_texture_options

    check_texture_options(args.texture, args.uv_layout)
    body_model = args.body_model
    if args.texture is not None:
        from vr_study.body import load_body_model

        body_model = attach_texture(load_body_model(args.body_model), args.texture, args.uv_layout)
    result = render_video(args.clips, args.output, audio=audio, view=args.view, size=size, fps=args.fps,
                          captions=captions, body_model=body_model, png_dir=args.png_dir,
                          progress=True, fmt=args.fmt)
    where = " and ".join(str(p) for p in (result.path, result.png_dir) if p is not None)
    sound = ("with sound" if result.has_audio else "silent") if result.path is not None else "PNG frames"
    print(f"wrote {where}: {result.num_frames} frames, {result.width}x{result.height}, "
          f"{result.fps:g} fps, {result.duration_s:.2f} s, {sound}")
    return 0
