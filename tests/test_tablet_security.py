"""The tablet pages against a stranger on the lab's Wi-Fi: real HTTP(S) on loopback, real SQLite.

Join codes cannot be guessed (44.6 bits, lockouts), a session belongs to the first tablet
that joins it until the experimenter releases it, oversized bodies are refused before they
are read, the experimenter token never travels in a URL, forms need their CSRF field,
secrets sit in files only the owner can read, and ``--https`` serves a certificate whose
printed fingerprint matches the one a tablet sees.
"""
from __future__ import annotations

import contextlib
import hashlib
import math
import os
import socket
import ssl
import stat
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from questionnaires.simulate import csrf_field, join_session, parse_form
from questionnaires.tablet import create_app, serve
from questionnaires.tablet_context import grouped_code
from vr_study.storage import StudyDatabase, TrialRecord
from vr_study.storage.database import CODE_ALPHABET, CODE_LENGTH

ROOT = Path(__file__).resolve().parents[1]


class FakeClock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def new_session(db: StudyDatabase, pid: str, kinds=("playback",)) -> int:
    trials = [TrialRecord(trial_index=i, block=0, trial_kind=k, position_in_block=i, method="emage",
                          emotion="happy", questionnaires=["trial_ratings"]) for i, k in enumerate(kinds)]
    return db.create_session(pid, "sec", trials, plan_row=0, seed=0)


@pytest.fixture()
def env(tmp_path):
    db = StudyDatabase(tmp_path / "study.sqlite")
    server = serve(db, experimenter_token="correct-horse", poll_interval_s=0.2)
    clock = FakeClock()
    lim = server.app.state.tablet.limiters
    lim.client.clock = lim.session.clock = lim.everyone.clock = clock
    yield db, server, clock
    server.stop()
    db.close()


def client_from(server: str, address: str) -> httpx.Client:
    """A browser on another machine: its own cookies, its own source address (127.0.0.x)."""
    return httpx.Client(base_url=server, timeout=10, follow_redirects=False,
                        transport=httpx.HTTPTransport(local_address=address))


@contextlib.contextmanager
def experimenter(server: str):
    with httpx.Client(base_url=server, timeout=10, follow_redirects=False) as x:
        csrf = csrf_field(x.get("/x/login").text)
        assert x.post("/x/login", data={"token": "correct-horse", "csrf": csrf}).status_code == 303
        yield x


def test_join_codes_have_at_least_40_bits_and_read_in_groups(env):
    db, server, _ = env
    assert CODE_LENGTH * math.log2(len(CODE_ALPHABET)) >= 40
    sid = new_session(db, "P1")
    code = db.session_code(sid)
    assert len(code) == 9 and set(code) <= set(CODE_ALPHABET)
    with client_from(server, "127.0.0.1") as c:      # typed in groups, lower case, with spaces
        assert join_session(c, f" {grouped_code(code).lower().replace('-', ' - ')} ").status_code == 303


def test_wrong_codes_lock_the_client_out_and_not_the_others(env):
    db, server, clock = env
    sid = new_session(db, "P1")
    code = db.session_code(sid)
    with client_from(server, "127.0.0.2") as guesser, client_from(server, "127.0.0.3") as honest:
        for i in range(4):
            r = join_session(guesser, f"AAAAAAAA{CODE_ALPHABET[i]}")
            assert r.status_code == 403 and "No session has the code" in r.text
        r = join_session(guesser, "AAAAAAAAZ")                    # the 5th wrong code starts a lockout
        assert r.status_code == 429 and int(r.headers["retry-after"]) == 60
        r = join_session(guesser, code)                          # even the right code is not checked now
        assert r.status_code == 429 and "Too many wrong codes" in r.text
        assert join_session(honest, code).status_code == 303     # another tablet is not affected
        clock.t += 61
        for i in range(4):
            assert join_session(guesser, f"BBBBBBBB{CODE_ALPHABET[i]}").status_code == 403
        r = join_session(guesser, "BBBBBBBBZ")                   # the second lockout is twice as long
        assert r.status_code == 429 and int(r.headers["retry-after"]) == 120


def test_first_device_holds_the_session_until_the_experimenter_releases_it(env):
    db, server, clock = env
    sid = new_session(db, "P1")
    code = db.session_code(sid)
    pid = db.open_prompt(sid, 0, "trial_ratings", {})
    with client_from(server, "127.0.0.2") as tablet, client_from(server, "127.0.0.3") as other, \
            experimenter(server) as x:
        assert join_session(tablet, code).status_code == 303
        assert join_session(tablet, code).status_code == 303       # the same tablet may join again
        form = parse_form(tablet.get(f"/t/prompt/{pid}").text)
        # another device with the right code (shoulder surfing, a second tablet) is refused ...
        for _ in range(2):
            r = join_session(other, code)
            assert r.status_code == 403 and "already open on another tablet" in r.text
        r = join_session(other, code)                             # ... and after 3 tries locked out
        assert r.status_code == 429 and int(r.headers["retry-after"]) == 300
        # ... and copying the tablet's session cookie without its device cookie gets nothing
        other.cookies.set("vrs_tablet", tablet.cookies["vrs_tablet"])
        assert other.get(f"/t/prompt/{pid}").status_code == 403 and other.get("/t/api/state").status_code == 403
        st = x.get(f"/x/api/session/{sid}").json()
        assert st["tablet"]["paired"] and st["tablet"]["refused_joins"] == 3 and st["tablet"]["locked_s"] > 0
        page = x.get(f"/x/session/{sid}").text
        assert "3 join attempts from other devices refused" in page and "Paired since" in page
        # the experimenter releases the tablet: it stops working and the session gets a new code
        r = x.post(f"/x/session/{sid}/release-tablet", data={"csrf": csrf_field(page)})
        assert r.status_code == 303
        new_code = db.session_code(sid)
        assert new_code != code
        assert tablet.get(f"/t/prompt/{pid}").status_code == 403
        answers = {**form.hidden, **{k: "4" for k in form.items}}
        assert tablet.post(f"/t/prompt/{pid}", data=answers).status_code == 403
        assert join_session(other, code).status_code == 403         # the old code is gone
        assert join_session(other, new_code).status_code == 303     # the lockout was lifted with the release
        form2 = parse_form(other.get(f"/t/prompt/{pid}").text)
        r = other.post(f"/t/prompt/{pid}", data={**form2.hidden, **{k: "5" for k in form2.items}})
        assert r.status_code == 303 and r.headers["x-submission"] == "stored"
    assert {r.value for r in db.responses(sid)} == {5}
    kinds = [e.kind for e in db.events(sid)]
    assert kinds.count("tablet_paired") == 2 and kinds.count("tablet_released") == 1


def test_forms_need_their_csrf_field(env):
    db, server, _ = env
    sid = new_session(db, "P1")
    pid = db.open_prompt(sid, 0, "trial_ratings", {})
    code = db.session_code(sid)
    with client_from(server, "127.0.0.1") as c:
        c.get("/t/join")
        assert c.post("/t/join", data={"code": code}).status_code == 403             # no field
        assert c.post("/t/join", data={"code": code, "csrf": "0" * 64}).status_code == 403
        assert join_session(c, code).status_code == 303
        form = parse_form(c.get(f"/t/prompt/{pid}").text)
        data = {**form.hidden, **{k: "3" for k in form.items}}
        r = c.post(f"/t/prompt/{pid}", data={**data, "csrf": "f" * 64})
        assert r.status_code == 403 and "out of date" in r.text
        assert db.responses(sid) == []
        assert c.post(f"/t/prompt/{pid}", data=data).status_code == 303
    with experimenter(server) as x:
        assert x.post(f"/x/session/{sid}/command", data={"command": "pause"}).status_code == 403
        assert x.post(f"/x/session/{sid}/release-tablet", data={}).status_code == 403
    assert db.events(sid, kind="experimenter_command") == []


def test_experimenter_token_only_by_form_post_never_empty(env, tmp_path):
    db, server, clock = env
    with client_from(server, "127.0.0.4") as x:
        for url in ("/x/?token=correct-horse", "/x/login?token=correct-horse"):
            r = x.get(url)
            assert r.status_code == 400 and "vrs_experimenter" not in x.cookies
        csrf = csrf_field(x.get("/x/login").text)
        assert x.post("/x/login", data={"token": "correct-horse"}).status_code == 403      # no CSRF field
        assert x.post("/x/login", data={"token": "", "csrf": csrf}).status_code == 403
        for _ in range(3):
            assert x.post("/x/login", data={"token": "guess", "csrf": csrf}).status_code == 403
        r = x.post("/x/login", data={"token": "guess", "csrf": csrf})
        assert r.status_code == 429 and "retry-after" in r.headers
        assert x.post("/x/login", data={"token": "correct-horse", "csrf": csrf}).status_code == 429
        clock.t += 61
        r = x.post("/x/login", data={"token": "correct-horse", "csrf": csrf})
        assert r.status_code == 303 and x.get("/x/").status_code == 200
    for bad in ("", "   "):
        with pytest.raises(ValueError, match="empty"):
            create_app(db, experimenter_token=bad)
    r = subprocess.run([sys.executable, "-m", "vr_study.cli", "tablet", "serve", str(tmp_path / "study.sqlite"),
                        "--experimenter-token", ""], capture_output=True, text=True, timeout=60,
                       env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert r.returncode == 2 and r.stderr.startswith("error: ") and r.stderr.count("\n") == 1
    assert "--experimenter-token" in r.stderr and "is empty" in r.stderr


def test_database_and_its_journal_are_private(tmp_path):
    old = os.umask(0o022)
    try:
        db = StudyDatabase(tmp_path / "private.sqlite")
        new_session(db, "P1")
        create_app(db)                                     # writes the secret and the token
        files = [p for p in tmp_path.iterdir() if p.name.startswith("private.sqlite")]
        assert {p.name for p in files} >= {"private.sqlite", "private.sqlite-wal"}
        for p in files:
            assert stat.S_IMODE(p.stat().st_mode) == 0o600, p
        db.close()
    finally:
        os.umask(old)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start(args: list[str], port: int) -> tuple[subprocess.Popen, list[str]]:
    proc = subprocess.Popen([sys.executable, "-m", "vr_study.cli", "tablet", "serve", *args, "--port", str(port)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    lines = [proc.stdout.readline() for _ in range(2)]
    deadline = time.monotonic() + 30
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                break
        except OSError:
            assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read()
            time.sleep(0.1)
    return proc, lines


def _peak_rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise AssertionError("no VmHWM")


def test_oversized_bodies_are_refused_before_they_are_read(tmp_path):
    StudyDatabase(tmp_path / "s.sqlite").close()
    port = _free_port()
    proc, _ = _start([str(tmp_path / "s.sqlite")], port)
    try:
        httpx.get(f"http://127.0.0.1:{port}/t/join", timeout=10)
        before = _peak_rss_kib(proc.pid)
        # a declared 300 MB body: refused from its header alone, at once
        with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
            s.sendall(b"POST /t/join HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n"
                      b"Content-Length: 300000000\r\n\r\n" + b"code=" + b"A" * 60_000)
            reply = s.recv(4096)
        assert reply.startswith(b"HTTP/1.1 413")
        # a chunked body never declares its size: cut off once 64 KiB have arrived
        chunk = b"A" * (1 << 20)
        sent = 0
        with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
            s.sendall(b"POST /t/join HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n"
                      b"Transfer-Encoding: chunked\r\n\r\n")
            try:
                for _ in range(200):                            # up to 200 MiB
                    s.sendall(b"%x\r\n" % len(chunk) + chunk + b"\r\n")
                    sent += len(chunk)
            except (BrokenPipeError, ConnectionResetError):
                pass
            s.settimeout(5)
            try:
                reply = s.recv(4096)
            except (ConnectionResetError, TimeoutError):
                reply = b""
        assert sent < 100 << 20                                # the server hung up long before the end
        assert reply == b"" or reply.startswith(b"HTTP/1.1 413")
        grew_mib = (_peak_rss_kib(proc.pid) - before) / 1024
        assert grew_mib < 16, f"server memory grew {grew_mib:.1f} MiB"
        # a normal form still works (a 403 page for a wrong code, not a 413)
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as c:
            assert join_session(c, "ABCABCABC").status_code == 403
    finally:
        proc.terminate()
        proc.wait(10)


def test_https_serves_the_certificate_whose_fingerprint_it_prints(tmp_path):
    db_path = tmp_path / "s.sqlite"
    db = StudyDatabase(db_path)
    code = db.session_code(new_session(db, "P1"))
    db.close()
    port = _free_port()
    proc, lines = _start([str(db_path), "--https"], port)
    try:
        out = lines + [proc.stdout.readline()]
        assert out[0].startswith(f"tablet pages: https://127.0.0.1:{port}/t/")
        assert "token" in out[1] and "?token" not in out[1]
        printed = out[2].split("fingerprint:")[1].strip()
        ctx = ssl.create_default_context()
        ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
        with socket.create_connection(("127.0.0.1", port), timeout=10) as raw, \
                ctx.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
            der = tls.getpeercert(binary_form=True)
        seen = ":".join(f"{b:02X}" for b in hashlib.sha256(der).digest())
        assert seen == printed and len(printed) == 95
        for name in ("tablet-key.pem", "tablet-cert.pem"):
            assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o600
        # a tablet that trusts this certificate joins; its cookies are Secure
        verify = ssl.create_default_context(cafile=str(tmp_path / "tablet-cert.pem"))
        with httpx.Client(base_url=f"https://127.0.0.1:{port}", verify=verify, timeout=10) as c:
            r = join_session(c, code)
            assert r.status_code == 303 and all("secure" in h.lower() for h in r.headers.get_list("set-cookie"))
    finally:
        proc.terminate()
        proc.wait(10)
    # a second start reuses the certificate (tablets accept it once)
    proc, lines = _start([str(db_path), "--https"], port)
    try:
        assert proc.stdout.readline().split("fingerprint:")[1].strip() == printed
    finally:
        proc.terminate()
        proc.wait(10)


def test_attention_check_verdict_prefers_the_session_runners_and_matches_the_page_rule(env):
    from questionnaires.tablet_experimenter import attention_check_passed

    assert attention_check_passed({"q": 7}, {"q": 7}) and attention_check_passed({"q": 7}, {"q": "7.0"})
    assert not attention_check_passed({"q": 7}, {"q": 6}) and not attention_check_passed({"q": 7}, {})
    assert attention_check_passed({"emotion": "Happy"}, {"emotion": " happy"})
    assert attention_check_passed({}, {"q": 1}) is None
    db, server, _ = env
    sid = new_session(db, "P1", kinds=("playback", "attention_check"))
    pid = db.open_prompt(sid, 1, "trial_ratings", {"trial_kind": "attention_check", "instruction": "Tap 7.",
                                                     "expect": {"naturalness": 7}})
    db.submit_prompt(pid, {k: 7 for k in ("arousal_realism", "naturalness", "enjoyment", "diversity",
                                          "interaction_quality")}, "s1", "test")
    with experimenter(server) as x:
        check = x.get(f"/x/api/session/{sid}").json()["attention_checks"][0]
        assert check["result"] == "passed" and check["scored_by"] == "page"
        db.log_event(sid, "attention_check_result", 1, payload={"prompt_id": pid, "passed": False})
        check = x.get(f"/x/api/session/{sid}").json()["attention_checks"][0]
        assert check["result"] == "FAILED" and check["scored_by"] == "session"
        db.set_session_status(sid, "superseded")
        st = x.get(f"/x/api/session/{sid}").json()
        assert st["ended"] and not any(st["commands_enabled"].values()) and st["status_label"].startswith("Superseded")
        r = x.post(f"/x/session/{sid}/command", data={"command": "pause"}, headers={
            "authorization": "Bearer correct-horse"})
        assert r.status_code == 409


def test_an_expired_certificate_is_replaced(tmp_path):
    import datetime as dt

    from cryptography import x509

    from questionnaires.tls import ensure_certificate

    first = ensure_certificate(tmp_path, hosts=["127.0.0.1"])
    assert ensure_certificate(tmp_path).fingerprint_sha256 == first.fingerprint_sha256     # reused
    cert = x509.load_pem_x509_certificate(first.cert_path.read_bytes())
    assert x509.IPAddress(__import__("ipaddress").ip_address("127.0.0.1")) in \
        cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    days = (cert.not_valid_after_utc - dt.datetime.now(dt.timezone.utc)).days
    assert 820 <= days <= 825
    # a certificate that expires tomorrow is made anew
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.timezone.utc)
    old = (x509.CertificateBuilder().subject_name(cert.subject).issuer_name(cert.subject)
           .public_key(key.public_key()).serial_number(1).not_valid_before(now - dt.timedelta(days=800))
           .not_valid_after(now + dt.timedelta(hours=2)).sign(key, hashes.SHA256()))
    first.cert_path.write_bytes(old.public_bytes(serialization.Encoding.PEM))
    renewed = ensure_certificate(tmp_path, hosts=["127.0.0.1"])
    assert renewed.fingerprint_sha256 != first.fingerprint_sha256
    assert stat.S_IMODE(renewed.key_path.stat().st_mode) == 0o600
