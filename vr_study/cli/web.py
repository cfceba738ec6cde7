"""``vr-study web serve``: the WebXR page for standalone headsets, next to the tablet pages.

The same app as ``tablet serve`` (same database, pairing codes, certificate) plus the
``/w/`` pages (:mod:`questionnaires.webxr`) and a WebSocket bridge from the pose stream
(:mod:`vr_study.stream.wsbridge`). Always HTTPS: browsers allow WebXR only in a secure
context. See docs/setup-quest-browser.md.
"""
from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("web", help="serve the WebXR page for standalone headsets (Quest browser)")
    wsub = p.add_subparsers(dest="web_command", metavar="ACTION")
    s = wsub.add_parser("serve", help="serve the WebXR page, the tablet pages and the pose-stream bridge (foreground)")
    s.add_argument("study", help="study .yaml file (its database is used) or a database path / SQLAlchemy URL")
    s.add_argument("--host", default="127.0.0.1", help="address to listen on (0.0.0.0 for headsets on Wi-Fi)")
    s.add_argument("--port", type=int, default=8766)
    s.add_argument("--stream", default="tcp://127.0.0.1:5555", help="pose server's PUB address (`stream serve --pub`)")
    s.add_argument("--server-key", help="the pose server's CURVE public key file (for a remote generator)")
    s.add_argument("--client-key", help="this bridge's CURVE secret key file (renderer.key_secret from `stream keys`)")
    s.add_argument("--library", help="stimulus library folder: speech named by audio cues is served from it")
    s.add_argument("--audio-dir", action="append", default=[], metavar="DIR",
                   help="another folder whose .wav files the page may play (repeatable)")
    s.add_argument("--instruments", help="folder of instrument YAML files (default: the bundled ones)")
    s.add_argument("--cert-dir", help="folder of the certificate and key (default: the database's folder)")
    s.set_defaults(func=_serve)
    p.set_defaults(func=lambda a: p.print_help() or 2)


def _serve(args) -> int:
    from pathlib import Path

    import uvicorn

    from questionnaires.tablet import create_app, uvicorn_tls
    from questionnaires.webxr import MissingThreeJs, WebXRConfig, add_webxr, check_three
    from questionnaires.webxr_model import web_model
    from vr_study.cli._net import check_listen
    from vr_study.cli.tablet import print_fingerprint, tablet_certificate
    from vr_study.cli._study_target import resolve_study_target
    from vr_study.errors import InputError
    from vr_study.storage import StudyDatabase
    from vr_study.stream.wsbridge import PoseBridge

    try:
        check_three()
    except MissingThreeJs as e:
        raise InputError(e.path, None, "is missing: three.js is not installed", e.fix) from None
    study = resolve_study_target(args.study, args.instruments)
    target, instruments = study.database, study.instruments_dir
    if not 0 <= args.port <= 65535:
        raise InputError(None, "--port", f"is {args.port}", "give a port from 1 to 65535 (0: any free port)")
    for d in args.audio_dir + ([args.library] if args.library else []):
        if not Path(d).is_dir():
            raise InputError(d, None, "is not a folder", "give an existing folder of speech files")
    server_key = client_keys = None
    if args.server_key:
        from vr_study.stream.security import load_keys

        server_key = load_keys(args.server_key).public
        client_keys = load_keys(args.client_key) if args.client_key else None
    certificate = tablet_certificate(True, args.cert_dir, args.host, str(target))
    check_listen(args.host, args.port, "--host/--port")

    def model():  # noqa: ANN202 - loaded on the first page's request
        from vr_study.body import load_body_model
        return web_model(load_body_model())

    config = WebXRConfig(PoseBridge(args.stream, server_key, client_keys), model,
                         audio_roots=[Path(d) for d in args.audio_dir],
                         library_dir=Path(args.library) if args.library else None)
    app = add_webxr(create_app(StudyDatabase(target, participant_pattern=study.participant_pattern), instruments), config)
    base = f"https://{args.host}:{args.port}"
    print(f"headset page: {base}/w/   (pair with the session's join code)", flush=True)
    print(f"tablet pages: {base}/t/", flush=True)
    print(f"experimenter page: {base}/x/login   token: {app.state.experimenter_token}", flush=True)
    print(f"pose stream: {args.stream}", flush=True)
    print_fingerprint(certificate)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning", ws="websockets-sansio",
                **uvicorn_tls(certificate))
    return 0
