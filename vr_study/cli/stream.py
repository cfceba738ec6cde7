"""``vr-study stream serve|send|watch|keys``: the ZeroMQ pose stream from the shell."""
from __future__ import annotations

import argparse
import json


def register(sub: argparse._SubParsersAction) -> None:
    from vr_study.stream import DEFAULT_CONTROL, DEFAULT_PUB  # light: no heavy imports

    p = sub.add_parser("stream", help="serve, control and watch the SMPL-X pose stream (ZeroMQ)")
    ssub = p.add_subparsers(dest="stream_command", metavar="ACTION")

    s = ssub.add_parser("serve", help="play clips for avatars on command")
    s.add_argument("--library", help="stimulus library folder (clips are then named by id)")
    s.add_argument("--pub", default=DEFAULT_PUB, help=f"PUB address to bind (default {DEFAULT_PUB})")
    s.add_argument("--control", default=DEFAULT_CONTROL, help=f"control address to bind (default {DEFAULT_CONTROL})")
    s.add_argument("--secret-key", help="CURVE secret key file of this server (see `stream keys`)")
    s.add_argument("--allow", action="append", default=[], metavar="KEY_FILE|DIR",
                   help="with --secret-key: client public key (.key) allowed to connect, or a folder of them; "
                        "repeatable (default: every *.key beside the secret key except the server's own)")
    s.add_argument("--clip", action="append", default=[], metavar="AVATAR=CLIP",
                   help="load CLIP (path or library id) for AVATAR at start; repeatable")
    s.add_argument("--play", action="store_true", help="start playing the --clip clips at once")
    s.add_argument("--loop", action="store_true", help="loop the --clip clips")
    s.add_argument("--lead", type=float, default=0.05, help="seconds ahead of presentation that frames go out")
    s.add_argument("--duration", type=float, help="stop after this many seconds")
    s.add_argument("--live", choices=["prosody"], help="live generator for `speak` commands (motion made as speech arrives)")
    s.set_defaults(func=_serve)

    c = ssub.add_parser("send", help="send one control command to a running server")
    c.add_argument("cmd", choices=["load", "play", "speak", "stop", "marker", "status", "shutdown"])
    c.add_argument("--avatar", default="agent")
    c.add_argument("--clip")
    c.add_argument("--text", default="")
    c.add_argument("--audio", help="speak: speech wav (a path on the server machine)")
    c.add_argument("--emotion", default="neutral", help="speak: emotion label")
    c.add_argument("--seed", type=int, default=0, help="speak: seed")
    c.add_argument("--control", default=DEFAULT_CONTROL)
    c.add_argument("--server-key", help="the server's CURVE public key file")
    c.add_argument("--client-key", help="this client's CURVE secret key file (.key_secret), allow-listed on the server")
    c.set_defaults(func=_send)

    w = ssub.add_parser("watch", help="subscribe and print stream statistics once a second")
    w.add_argument("--pub", default=DEFAULT_PUB)
    w.add_argument("--avatar", action="append", help="avatar ids (default: all)")
    w.add_argument("--server-key", help="the server's CURVE public key file")
    w.add_argument("--client-key", help="this client's CURVE secret key file (.key_secret), allow-listed on the server")
    w.add_argument("--seconds", type=float, default=5.0)
    w.set_defaults(func=_watch)

    k = ssub.add_parser("keys", help="create CURVE key pairs for the server, the renderer and the session runner")
    k.add_argument("-o", "--out", required=True, help="folder for the key files")
    k.set_defaults(func=_keys)
    p.set_defaults(func=lambda a: p.print_help() or 2)


def _server_key(path):
    if not path:
        return None
    from vr_study.stream.security import load_keys

    return load_keys(path).public


def _client_keys(args):
    """This client's key pair from --client-key (needs --server-key), or None."""
    if not getattr(args, "client_key", None):
        return None
    from vr_study.errors import InputError
    from vr_study.stream.security import load_keys

    if not getattr(args, "server_key", None):
        raise InputError(None, "--client-key", "needs --server-key", "give the server's public key file too")
    keys = load_keys(args.client_key)
    if keys.secret is None:
        raise InputError(args.client_key, None, "is a public key only", "give the client's .key_secret file")
    return keys


def _allowed_clients(args, keys):
    from pathlib import Path

    from vr_study.errors import InputError
    from vr_study.stream.security import load_public_keys

    if keys is None:
        if args.allow:
            raise InputError(None, "--allow", "needs --secret-key", "client keys are checked only with CurveZMQ on")
        return None
    if args.allow:
        return load_public_keys(args.allow)
    folder = Path(args.secret_key).parent
    allowed = [k for k in load_public_keys([f for f in sorted(folder.glob("*.key"))]) if k != keys.public]
    if not allowed:
        raise InputError(folder, None, "holds no client public keys (*.key) beside the server's",
                         "create them with `vr-study stream keys -o DIR` or name them with --allow")
    return allowed


def _serve(args) -> int:
    import time

    from vr_study.errors import InputError
    from vr_study.stream import PoseServer, library_resolver
    from vr_study.stream.security import load_keys

    keys = load_keys(args.secret_key) if args.secret_key else None
    if keys is not None and keys.secret is None:
        raise InputError(args.secret_key, None, "is a public key only", "give the server's .key_secret file")
    allowed = _allowed_clients(args, keys)
    live = None
    if args.live == "prosody":
        from generators.prosody import ProsodyStream

        def live(emotion: str, seed: int):
            return ProsodyStream(emotion=emotion, seed=seed)

    server = PoseServer(args.pub, args.control, library_resolver(args.library), keys=keys, lead_s=args.lead,
                        live_factory=live, allowed_clients=allowed)
    try:
        for spec in args.clip:
            if "=" not in spec:
                raise InputError(None, "--clip", f"'{spec}' is not AVATAR=CLIP", "write e.g. --clip agent=clip.npz")
            avatar, name = spec.split("=", 1)
            server.handle({"cmd": "load", "avatar": avatar, "clip": name})
            if args.play:
                server.handle({"cmd": "play", "avatar": avatar, "loop": args.loop})
        print(f"pose server: poses on {server.publisher.endpoint}, control on {server.control_endpoint}"
              + (f" (CURVE, {len(allowed)} allowed client keys)" if keys else ""), flush=True)
        until = time.monotonic() + args.duration if args.duration else None
        server.serve_forever(until)
    finally:
        server.close()
    return 0


def _send(args) -> int:
    from vr_study.stream import StreamControl

    fields = {"avatar": args.avatar}
    if args.cmd == "load":
        fields["clip"] = args.clip
    if args.cmd == "marker":
        fields = {"text": args.text}
    if args.cmd == "speak":
        from vr_study.errors import InputError

        if not args.audio:
            raise InputError(None, "--audio", "is missing", "name the speech wav to speak")
        fields.update(audio=args.audio, emotion=args.emotion, seed=args.seed)
    if args.cmd in ("status", "shutdown"):
        fields = {}
    from vr_study.errors import InputError
    from vr_study.stream import ControlError

    with StreamControl(args.control, server_public_key=_server_key(args.server_key),
                       client_keys=_client_keys(args)) as ctl:
        try:
            reply = ctl.request(args.cmd, **fields)
        except ControlError as e:
            raise InputError(args.control, None, str(e),
                             "check that `stream serve` runs there and, with CurveZMQ, that --server-key is its "
                             "public key and --client-key is allow-listed") from None
    print(json.dumps(reply, indent=2))
    return 0


def _watch(args) -> int:
    import dataclasses
    import time

    from vr_study.stream import PoseSubscriber

    end = time.monotonic() + args.seconds
    with PoseSubscriber(args.pub, args.avatar, _server_key(args.server_key), client_keys=_client_keys(args)) as sub:
        next_print = time.monotonic() + 1.0
        while time.monotonic() < end:
            sub.poll(timeout_ms=20)
            now = time.monotonic()
            for a in sub.avatars():
                sub.pose_at(a, now)
            if now >= next_print:
                st = sub.stats
                ages = {a: round(now - (sub.newest_time_s(a) or now), 3) for a in sub.avatars()}
                print(json.dumps({"received": st.received, "gaps": st.gaps, "late": st.late,
                                  "restarts": st.restarts, "malformed": st.dropped_malformed,
                                  "avatars": sub.avatars(), "newest_age_s": ages}), flush=True)
                next_print = now + 1.0
        print(json.dumps({a: dataclasses.asdict(b) for a, b in sub.stats.per_avatar.items()}))
    return 0


def _keys(args) -> int:
    from vr_study.stream.security import create_keypair

    for name in ("server", "renderer", "session"):
        pub, sec = create_keypair(args.out, name)
        print(f"{name}: public {pub}, secret {sec}")
    print("keep server.key_secret and the clients' .key files on the pose-server machine (`stream serve "
          "--secret-key` allow-lists them); give each client server.key and its own .key_secret "
          "(`xr run --server-key server.key --client-key renderer.key_secret`, `session run --server-key "
          "server.key --client-key session.key_secret`)")
    return 0
