"""`vr-study xr`: the OpenXR renderer, its desktop simulator and the headless test runtime."""
from __future__ import annotations

import argparse
import json
import os
import sys


#: exit codes of `xr run`: 0 clean end, 1 the session was lost (headset disconnected),
#: 2 bad input or no runtime, 3 the OpenXR runtime failed unexpectedly
EXIT_SESSION_LOST = 1
EXIT_XR_RUNTIME = 3


def register(sub: argparse._SubParsersAction) -> None:
    """Add this module's subcommands to the parser."""
    p = sub.add_parser("xr", help="show avatars in a headset (OpenXR) or the desktop simulator")
    xsub = p.add_subparsers(dest="xr_command", metavar="XR_COMMAND")

    r = xsub.add_parser("run", help="run the renderer: a clip directly, or the pose stream")
    src = r.add_argument_group("pose source (one of)")
    src.add_argument("--clip", help="motion clip (.npz, BEAT2 layout or any format `vr-study motion` reads)")
    src.add_argument("--audio", help="speech wav started in sync with --clip (default: the clip's audio_path)")
    src.add_argument("--stream", metavar="ADDRESS", help="pose stream to subscribe to, e.g. tcp://127.0.0.1:5555")
    src.add_argument("--avatar", action="append", metavar="ID",
                     help="avatar id(s) to show from the stream (default: all that appear, up to 4)")
    src.add_argument("--server-key", help="the pose server's CURVE public key file (for a remote generator)")
    src.add_argument("--client-key", help="this renderer's CURVE secret key file (renderer.key_secret from "
                                          "`stream keys`), allow-listed on the pose server")
    r.add_argument("--simulate", action="store_true",
                   help="desktop simulator: same scene and drawing code, scripted head pose, no headset")
    r.add_argument("--frames", type=int, help="ask to exit after N frames (default: when the clip ends)")
    r.add_argument("--frame-log", help="write the frame log here (JSON Lines, one object per frame)")
    r.add_argument("--capture-dir", help="write each eye's image as PPM (simulator; the headless test runtime)")
    r.add_argument("--capture-every", type=int, default=1, help="capture every Nth frame (default 1)")
    r.add_argument("--binding", choices=["auto", "egl", "xlib"], default="auto",
                   help="OpenGL binding for the OpenXR session (auto: xlib when DISPLAY is set, else egl)")
    r.add_argument("--validate", action="store_true", help="enable the Khronos core validation layer")
    r.add_argument("--audio-backend", choices=["auto", "sounddevice", "recorded"], default="auto",
                   help="auto: PortAudio when available, else record the scheduled start only")
    r.add_argument("--audio-root", help="with --stream: a copy of the stimulus library, where cued speech is looked "
                                        "up when the pose server's path does not exist on this machine")
    r.add_argument("--lead", type=float, default=0.3,
                   help="seconds between the first frame and the clip's start (default 0.3)")
    r.add_argument("--distance", type=float, default=1.3, help="metres from the participant to the avatar")
    r.add_argument("--skinning", choices=["auto", "gpu", "cpu"], default="auto",
                   help="where avatars are skinned (auto: in the vertex shader unless the body model "
                        "has pose-corrective blend shapes; cpu: the numpy reference path)")
    r.add_argument("--texture", metavar="IMG", help="base-colour texture of the body (PNG/JPEG); needs --uv-layout")
    r.add_argument("--uv-layout", metavar="OBJ", help="the body model's UV layout (smplx_uv.obj)")
    sim = r.add_argument_group("simulator")
    sim.add_argument("--head-pose", default="0,1.6,0", help="'x,y,z[,qx,qy,qz,qw]' in STAGE, metres")
    sim.add_argument("--eye-size", default="640x720", help="per-eye image size WxH in pixels")
    sim.add_argument("--unpaced", action="store_true", help="do not keep to 90 Hz (run as fast as possible)")
    sim.add_argument("--input-script", metavar="FILE",
                     help="scripted hands, head turns and panel keys (JSON Lines, see vr_study.xr.sim_input); "
                          "on a terminal the arrow keys, Enter and Backspace work too")
    q = r.add_argument_group("in-headset questionnaires")
    q.add_argument("--questionnaires", metavar="STUDY_OR_DB",
                   help="show the session's headset prompts as a panel: the study spec (.yaml) or its database")
    q.add_argument("--participant", help="whose session's prompts to show (with --questionnaires)")
    q.add_argument("--instruments", metavar="DIR",
                   help="extra instrument folder (default: the spec's questionnaires.instruments_dir)")
    q.add_argument("--panel-px-per-deg", type=float, default=25.0,
                   help="the headset's pixels per degree; sets the panel's texture size (default 25)")
    r.set_defaults(func=_run)

    b = xsub.add_parser("build-test-runtime", help="compile the headless OpenXR test runtime and its manifest")
    b.add_argument("-o", "--out", help="output folder (default: a cache folder)")
    b.set_defaults(func=_build)
    p.set_defaults(func=lambda a: p.print_help() or 2)


def _build(args) -> int:
    from vr_study.errors import InputError
    from vr_study.xr.testruntime import RuntimeBuildError, build_test_runtime

    try:
        manifest = build_test_runtime(args.out)
    except RuntimeBuildError as e:
        raise InputError(None, None, str(e).splitlines()[0]) from None
    print(manifest)
    print(f"export XR_RUNTIME_JSON={manifest}", file=sys.stderr)
    return 0


def _eye_size(text: str) -> tuple[int, int]:
    from vr_study.errors import InputError

    try:
        w, h = (int(v) for v in text.lower().split("x"))
        if not (16 <= w <= 8192 and 16 <= h <= 8192):
            raise ValueError
    except ValueError:
        raise InputError(None, "--eye-size", f"is {text!r}", "give WxH in pixels, e.g. 640x720") from None
    return w, h


def _load_source(args):
    """(pose source, audio or None, audio offset s) from --clip/--audio or --stream."""
    from pathlib import Path

    from vr_study.audio import read_audio
    from vr_study.errors import InputError
    from vr_study.motion import MotionClip
    from vr_study.xr.posesource import ClipPoseSource, StreamPoseSource

    if args.clip and args.stream:
        raise InputError(None, "--clip/--stream", "both given", "play a clip directly or subscribe to a stream")
    if args.stream:
        if args.audio:
            raise InputError(None, "--audio", "goes with --clip", "the pose server plays a stream's audio")
        from vr_study.cli.stream import _client_keys, _server_key
        key, client = _server_key(args.server_key), _client_keys(args)
        try:
            return StreamPoseSource(args.stream, args.avatar, key, client_keys=client), None, 0.0
        except InputError as e:  # the address: name the option it came from
            raise InputError(args.stream, "--stream", e.problem, "give e.g. tcp://127.0.0.1:5555") from None
    if args.clip:
        from vr_study.formats import read_motion
        clip = read_motion(args.clip)
    else:  # the bare scene: an avatar standing still, arms down, for three seconds
        clip = MotionClip.zeros(90, fps=30.0)
        clip.body_pose[:, 15, 2] = -1.2  # left shoulder (joint 16), radians about Z
        clip.body_pose[:, 16, 2] = 1.2   # right shoulder (joint 17)
    audio = None
    audio_path = args.audio or (clip.meta.audio_path if args.clip else None)
    if audio_path:
        if not args.audio and not Path(audio_path).is_absolute():
            audio_path = str(Path(args.clip).parent / audio_path)
        if args.audio or Path(audio_path).is_file():
            audio = read_audio(audio_path)
    return ClipPoseSource(clip, avatar_id=(args.avatar or ["agent"])[0]), audio, float(clip.meta.audio_offset_s or 0.0)


def _questionnaire_panel(args):
    """The session's in-headset questionnaire panel (``--questionnaires``), or None.

    The one place where questionnaires are wired into the renderer: the panel reads the
    study database and the instruments, the renderer only draws it and reports pointers.
    The participant's session need not exist yet: the panel waits for it
    (:class:`questionnaires.participant_panel.ParticipantPanel`).
    """
    from pathlib import Path

    from vr_study.errors import InputError

    if not args.questionnaires:
        if args.participant:
            raise InputError(None, "--participant", "is only used with --questionnaires",
                             "add --questionnaires STUDY.yaml, or leave --participant out")
        return None
    if not args.participant:
        raise InputError(None, "--questionnaires", "needs --participant", "add --participant ID (e.g. P07)")
    if not args.panel_px_per_deg or not 5 <= args.panel_px_per_deg <= 80:
        raise InputError(None, "--panel-px-per-deg", f"is {args.panel_px_per_deg}",
                         "give the headset's pixels per degree, 5..80 (Quest 3: 25)")
    from questionnaires.instruments import load_instruments
    from questionnaires.panel_layout import PanelGeometry
    from questionnaires.participant_panel import ParticipantPanel, waiting_text
    from vr_study.cli._study_target import resolve_study_target
    from vr_study.storage import StudyDatabase

    study = resolve_study_target(args.questionnaires, args.instruments, "--questionnaires")
    database, pattern = study.database, study.participant_pattern
    extra = Path(study.instruments_dir) if study.instruments_dir else None
    instruments = load_instruments()
    if extra is not None:
        instruments.update(load_instruments(extra))
    # a spec whose database does not exist yet: created as `session run` would (the spec's id pattern)
    db = StudyDatabase(database, participant_pattern=pattern)
    try:
        pid = db.check_participant_id(args.participant)
        panel = ParticipantPanel(db, instruments, pid, geometry=PanelGeometry(px_per_deg=args.panel_px_per_deg))
    except BaseException:
        db.close()
        raise
    if panel.session_id is None:
        print(f"note: {pid} has no session yet; the headset shows \"{waiting_text(pid)[1]}\" until "
              f"'vr-study session run ... --participant {pid}' starts it", file=sys.stderr)
    return panel


def _run(args) -> int:
    from pathlib import Path

    from vr_study.errors import InputError

    if args.frames is not None and args.frames < 1:
        raise InputError(None, "--frames", f"is {args.frames}", "give a positive number of frames")
    eye_size = _eye_size(args.eye_size)
    from vr_study.xr.viewmath import parse_pose
    try:
        head = parse_pose(args.head_pose)
    except ValueError as e:
        raise InputError(None, "--head-pose", f"is {args.head_pose!r} ({e})", "e.g. 0,1.6,0") from None
    input_script = []
    if args.input_script:
        if not args.simulate:
            raise InputError(None, "--input-script", "is for the simulator",
                             "add --simulate (the headless test runtime reads XR_HEADLESS_INPUT_SCRIPT)")
        from vr_study.xr.sim_input import read_input_script
        input_script = read_input_script(args.input_script)
    from vr_study.body.uv import attach_texture, check_texture_options
    from vr_study.xr.avatar import load_avatar_body_model

    check_texture_options(args.texture, args.uv_layout)
    body, _ = load_avatar_body_model()
    if args.texture is not None:  # a bad texture or layout is refused before anything is opened
        attach_texture(body, args.texture, args.uv_layout)
    source, audio, audio_offset = _load_source(args)
    panel_source = _questionnaire_panel(args)  # an in-VR panel (vr_study.xr.panel_source.PanelSource)

    from vr_study.xr.audio_schedule import open_audio_output
    from vr_study.xr.framelog import FrameLog
    from vr_study.xr.presenter import Presenter

    from vr_study.xr.gpuskin import resolve_skinning
    try:
        skinning, skinning_note = resolve_skinning(args.skinning, body)
    except ValueError as e:
        raise InputError(None, "--skinning", f"is gpu but {str(e).split(': ', 1)[-1]}",
                         "use --skinning auto or cpu") from None
    if skinning_note and args.skinning == "auto":
        print(f"note: skinning on the CPU: {skinning_note}", file=sys.stderr)
    audio_out = open_audio_output(args.audio_backend) if (audio is not None or args.stream) else None
    presenter_box = []

    def make_presenter(scene):
        p = Presenter(scene, source, body, audio=audio, audio_output=audio_out, audio_offset_s=audio_offset,
                      lead_s=args.lead, distance_m=args.distance, skinning=skinning, audio_root=args.audio_root)
        presenter_box.append(p)
        return p

    log = FrameLog(args.frame_log)
    report: dict = {}
    try:
        if args.simulate:
            from vr_study.xr.simulator import SimulatorConfig, run_simulator
            cfg = SimulatorConfig(eye_size=eye_size, head_pose=head, frames=args.frames, paced=not args.unpaced,
                                  capture_dir=Path(args.capture_dir) if args.capture_dir else None,
                                  capture_every=args.capture_every, input_script=input_script)
            summary = run_simulator(cfg, make_presenter, log, panel_source=panel_source)
            report["mode"] = "simulator"
            report["exit_reason"] = "frames done" if args.frames else "clip finished"
        else:
            if args.validate:
                os.environ["XR_ENABLE_API_LAYERS"] = "XR_APILAYER_LUNARG_core_validation"
                os.environ.setdefault("XR_CORE_VALIDATION_EXPORT_TYPE", "text")
            if args.capture_dir:  # honoured by the project's headless test runtime
                os.environ["XR_HEADLESS_CAPTURE_DIR"] = str(Path(args.capture_dir).resolve())
                os.environ["XR_HEADLESS_CAPTURE_EVERY"] = str(max(1, args.capture_every))
            from vr_study.xr.session import NoRuntimeError, XrRunConfig, XrRuntimeError, XrSessionError, run_xr
            try:
                result = run_xr(XrRunConfig(binding=args.binding, frames=args.frames), make_presenter, log,
                                panel_source=panel_source)
            except NoRuntimeError as e:
                raise InputError(None, None, str(e)) from None
            except XrSessionError as e:
                raise InputError(None, None, f"OpenXR: {e}") from None
            except XrRuntimeError as e:
                print(f"error: {' '.join(str(e).split())}; the frame log holds the frames shown until then",
                      file=sys.stderr)
                return EXIT_XR_RUNTIME
            summary = result.summary
            report.update(mode="openxr", runtime=result.runtime_name, binding=result.binding,
                          gl_renderer=result.gl_renderer, exit_reason=result.exit_reason,
                          states=result.states)
    finally:
        if panel_source is not None:
            panel_source.close()
            panel_source.db.close()
        stats = source.stats()
        source.close()
        if audio_out is not None:
            audio_out.close()
    p = presenter_box[0] if presenter_box else None
    report.update(frames=summary.frames, rendered=summary.rendered, late=summary.late,
                  missed_vsyncs=summary.missed_vsyncs, frame_rate_hz=round(summary.frame_rate_hz, 2),
                  cpu_ms_mean=round(summary.cpu_ms_mean, 3), cpu_ms_p99=round(summary.cpu_ms_p99, 3),
                  max_pose_age_s=round(summary.max_pose_age_s, 4), avatars=sorted(p.meshes) if p else [],
                  skinning=skinning,
                  stream=stats)
    if p is not None and p.motion_start_s is not None:
        report["motion_start_s"] = round(p.motion_start_s, 6)
    if p is not None and p.audio_schedule is not None:
        s = p.audio_schedule
        # when the speech position that belongs to the clip's first frame plays, relative to
        # that frame (0: in sync); a positive offset is skipped into, a negative one delays the speech
        report["audio"] = {"backend": s.backend, "start_s": round(s.start_time_s, 6),
                           "offset_to_motion_s": round(s.start_time_s + min(0.0, audio_offset) - p.motion_start_s, 6)}
    if p is not None and (p.cue_schedules or p.cue_problems):
        report["audio_cues"] = {"backend": audio_out.name if audio_out else None,
                                "started": [{"start_s": round(c.start_time_s, 6), "duration_s": round(c.duration_s, 3)}
                                            for c in p.cue_schedules],
                                "problems": p.cue_problems}
    print(json.dumps(report))
    if "loss" in str(report.get("exit_reason", "")) or report.get("exit_reason") == "session lost":
        print(f"error: the OpenXR session was lost ({report['exit_reason']}); is the headset connected?",
              file=sys.stderr)
        return EXIT_SESSION_LOST
    return 0
