"""``vr-study tablet serve``: the tablet and experimenter pages as a process of their own.

``vr-study session run`` starts the pages itself; run them separately (``session run
--no-tablet``) when they should live on another machine or survive the session process.
``--https`` serves them over TLS with a self-signed certificate kept next to the database;
its SHA-256 fingerprint is printed so the experimenter can compare it with the one the
tablet's browser shows when it first connects.
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
    add_https_options(s)
    s.set_defaults(func=_serve)
    p.set_defaults(func=lambda a: p.print_help() or 2)


def add_https_options(p: argparse.ArgumentParser) -> None:
    """The ``--https`` and ``--cert-dir`` options (``tablet serve``, ``session run``)."""
    p.add_argument("--https", action="store_true",
                   help="serve the tablet pages over TLS with a self-signed certificate (generated once, kept "
                        "next to the database; its SHA-256 fingerprint is printed for pairing tablets)")
    p.add_argument("--cert-dir", help="folder of the certificate and key (default: the database's folder)")


def tablet_certificate(https: bool, cert_dir: str | None, host: str, database: str):  # noqa: ANN201
    """The :class:`questionnaires.tls.Certificate` for ``--https`` (None without it).

    Kept in ``cert_dir`` or next to ``database`` (a path or SQLAlchemy URL), so ``tablet
    serve`` and ``session run`` on one study serve the same certificate and a tablet
    accepts it once. An unwritable folder is an :class:`InputError`.
    """
    if not https:
        return None
    from pathlib import Path

    from questionnaires.tls import ensure_certificate
    from vr_study.errors import InputError

    folder = cert_dir or (str(Path(database).resolve().parent) if "://" not in database else ".")
    try:
        return ensure_certificate(folder, hosts=None if host in ("0.0.0.0", "::") else
                                  [host, "localhost", "127.0.0.1"])
    except OSError as e:
        raise InputError(folder, None, f"cannot write the certificate ({e.strerror})",
                         "give a writable folder with --cert-dir") from None


def warn_plain_http(certificate, host: str) -> None:  # noqa: ANN001 - a Certificate or None
    """Warn on stderr when the pages are served without TLS on an address other machines reach."""
    import sys

    if certificate is None and host not in ("127.0.0.1", "localhost", "::1"):
        print(f"warning: plain HTTP on {host}: answers and the experimenter token cross the network "
              "unencrypted; use --https on a shared Wi-Fi", file=sys.stderr, flush=True)


def print_fingerprint(certificate) -> None:  # noqa: ANN001 - a Certificate or None
    """Print the certificate's SHA-256 fingerprint for pairing tablets (nothing without one)."""
    if certificate is not None:
        print(f"certificate SHA-256 fingerprint: {certificate.fingerprint_sha256}", flush=True)
        print("  (check that the tablet's browser shows this fingerprint before accepting the certificate)",
              flush=True)


def _serve(args) -> int:
    import os
    import sys

    import uvicorn

    from questionnaires.tablet import create_app, uvicorn_tls
    from vr_study.cli._study_target import resolve_study_target
    from vr_study.errors import InputError
    from vr_study.storage import StudyDatabase

    study = resolve_study_target(args.study, args.instruments)
    target, instruments = study.database, study.instruments_dir
    if args.experimenter_token is not None and not args.experimenter_token.strip():
        raise InputError(None, "--experimenter-token", "is empty", "give a non-empty token, or leave the option "
                         "out to use the study's generated one")
    if not 0 <= args.port <= 65535:
        raise InputError(None, "--port", f"is {args.port}", "give a port from 1 to 65535 (0: any free port)")
    certificate = tablet_certificate(args.https, args.cert_dir, args.host, str(target))
    from vr_study.cli._net import check_listen
    check_listen(args.host, args.port, "--host/--port")
    app = create_app(StudyDatabase(target, participant_pattern=study.participant_pattern), instruments, args.experimenter_token)
    if "://" not in str(target) and os.stat(target).st_mode & 0o077:
        print(f"warning: {target} can be read by other users of this machine (it holds the experimenter token "
              f"and participants' answers); run: chmod 600 {target}", file=sys.stderr, flush=True)
    scheme = "https" if certificate else "http"
    warn_plain_http(certificate, args.host)
    base = f"{scheme}://{args.host}:{args.port}"
    print(f"tablet pages: {base}/t/", flush=True)
    print(f"experimenter page: {base}/x/login   token: {app.state.experimenter_token}", flush=True)
    print_fingerprint(certificate)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning", **uvicorn_tls(certificate))
    return 0
