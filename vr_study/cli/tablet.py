"""``vr-study tablet serve``: the tablet and experimenter pages as a process of their own.

``vr-study session run`` starts the pages itself; run them separately (``session run
--no-tablet``) when they should live on another machine or survive the session process.
"""
from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("tablet", help="serve the tablet questionnaire pages for a study")
    tsub = p.add_subparsers(dest="tablet_command", metavar="ACTION")
    s = tsub.add_parser("serve", help="serve the tablet and experimenter pages (foreground)")
    s.add_argument("study", help="study .yaml file (its database is used) or a database path / SQLAlchemy URL")
    s.add_argument("--host", default="127.0.0.1", help="address to listen on (0.0.0.0 for tablets on Wi-Fi)")
    s.add_argument("--port", type=int, default=8765)
    s.add_argument("--instruments", help="folder of instrument YAML files (default: the bundled ones)")
    s.add_argument("--experimenter-token", help="token for the experimenter page (default: the study's)")
    s.set_defaults(func=_serve)
    p.set_defaults(func=lambda a: p.print_help() or 2)


def _serve(args) -> int:
    from pathlib import Path

    import uvicorn

    from questionnaires.tablet import create_app
    from vr_study.errors import InputError
    from vr_study.storage import StudyDatabase

    target, instruments = args.study, args.instruments
    if target.endswith((".yaml", ".yml")):
        from vr_study.study.spec import load_spec

        spec = load_spec(target)
        target = spec.database
        instruments = instruments or (str(spec.resolve(spec.questionnaires.instruments_dir))
                                      if spec.questionnaires.instruments_dir else None)
    elif "://" not in target and not Path(target).is_file():
        raise InputError(target, None, "does not exist",
                         "give the study .yaml (or its database); the first session creates the database")
    from vr_study.cli._net import check_listen
    check_listen(args.host, args.port, "--host/--port")
    app = create_app(StudyDatabase(target), instruments, args.experimenter_token)
    print(f"tablet pages: http://{args.host}:{args.port}/t/   experimenter: "
          f"http://{args.host}:{args.port}/x/?token={app.state.experimenter_token}", flush=True)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    return 0
