"""Hardening figures: hostile uploads handled, API fuzzing, load (issue 7).

Runs the real service as a uvicorn child process on loopback (rate limits raised, as for the
tests: see tests/hardening/fuzz.py GENEROUS_ENV) and prints:

1. hostile corpus: cases tried (plain upload, and tus for a subset) / handled cleanly (a 4xx
   problem or a failed job with a plain message, or a reel for real videos under odd names),
   and whether the canary file or the loopback canary server was touched;
2. Schemathesis with every check: cases run / failures;
3. load: requests / errors / status p50 and p99 with N pollers and M uploaders.
4. issue 16: webhook SSRF cases (each address form at registration and after DNS rebinding,
   in process with a steered resolver) tried / handled, and whether the loopback listener was
   touched; API-key revocation chain steps (key, tokens minted from it and from those) tried /
   handled.
5. issue 16, probe memory: MP4s with 400,000 edit list entries uploaded 4 at once: tried /
   handled (a clear 4xx), and how much the API process's resident size grew meanwhile.
6. issue 16, slow clients: a 64 MiB header, 300 slowloris heads, 10 bodies trickled at
   1 KiB/s (deadlines shortened to 2 s for the run), and 1,100 idle connections against the
   default cap: tried / handled, and /health on a fresh connection during the flood.

    python benchmarks/hardening.py [--examples 30] [--pollers 100] [--uploaders 10] [--seconds 15]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.engine.media_factory import make_video  # noqa: E402
from tests.hardening.fuzz import (  # noqa: E402
    GENEROUS_ENV,
    SELF_REVOKING,
    new_api_key,
    run_schemathesis,
)
from tests.hardening.load import run_load  # noqa: E402
from tests.hardening.server_process import ServerProcess  # noqa: E402
from tests.hardening.test_hostile_uploads import (  # noqa: E402
    JARGON,
    TUS_SUBSET,
    job_of,
    plain_upload,
    tus_upload,
)
from tests.hostile_corpus import Canary, CountingServer, hostile_cases  # noqa: E402

FINISHED = ("completed", "failed", "cancelled")


def clear(text: str) -> bool:
    return bool(text.strip()) and not any(w.lower() in text.lower() for w in JARGON)


def hostile(server: ServerProcess, folder: Path, video: Path) -> tuple[int, int, bool]:
    canary = Canary(folder / "canary.ts")
    listener = CountingServer()
    corpus = folder / "corpus"
    corpus.mkdir()
    tried = clean = 0
    pending: list[tuple[bool, str]] = []
    try:
        with server.client() as client:
            for case in hostile_cases(canary, listener.url, video):
                path = case.build(corpus)
                for via in ("plain", "tus") if case.name in TUS_SUBSET else ("plain",):
                    tried += 1
                    send = plain_upload if via == "plain" else tus_upload
                    response = send(client, path, case.filename)
                    job_id = job_of(response, via)
                    if job_id is not None:
                        pending.append((case.accept, job_id))
                    elif 400 <= response.status_code < 500 and not case.accept:
                        clean += clear(response.json().get("detail", ""))
            for accept, job_id in pending:
                deadline = time.monotonic() + 120
                while True:
                    status = client.get(f"/api/v1/jobs/{job_id}").json()
                    if status["status"] in FINISHED or time.monotonic() > deadline:
                        break
                    time.sleep(0.2)  # polling a job, as a client does
                if accept:
                    clean += status["status"] == "completed"
                else:
                    clean += status["status"] == "failed" and clear(status.get("error") or "")
        untouched = not canary.was_read() and not listener.hits
        canary.prove_detection_works()
    finally:
        listener.close()
    return tried, clean, untouched


# -- issue 16: webhook SSRF and API-key revocation -------------------------------------------

REBIND_FORMS = {
    "loopback": "127.0.0.1",
    "IPv6 loopback": "::1",
    "IPv4-mapped": "::ffff:127.0.0.1",
    "IPv4-mapped (hex)": "::ffff:7f00:1",
    "IPv4-compatible": "::127.0.0.1",
    "NAT64 64:ff9b::/96": "64:ff9b::7f00:1",
    "NAT64 local-use 64:ff9b:1::/48": "64:ff9b:1:7f00:0:100::",
    "6to4": "2002:7f00:1::1",
    "Teredo (client 127.0.0.1)": "2001:0:a00:1:0:0:80ff:fffe",
    "link-local (cloud metadata)": "169.254.169.254",
    "private": "10.0.0.1",
    "shared (CGNAT)": "100.64.0.1",
    "unspecified": "0.0.0.0",
    "unique local": "fd00::1",
    "multicast": "224.0.0.1",
}
"""What a webhook's name may resolve to once registered: each must be refused."""


def webhook_ssrf() -> tuple[int, int, bool]:
    """Webhook targets, in process: the sender and the URL check with a resolver steered here
    (no real DNS can be), against a real loopback listener. For each address form, a name that
    resolves to a public address and to it must be refused at registration, and a name that
    resolved to a public address at registration and to it at delivery must not be called; plus
    literal-address and malformed URLs at registration. Returns (tried, handled, untouched)."""
    from moments.service.notify.webhooks import (
        BLOCKED_SENTENCE,
        WebhookSender,
        check_url,
        system_resolver,
    )
    from tests.service.test_webhook_targets import PUBLIC, SteeredDns
    from tests.service.test_webhooks import Receiver

    listener = Receiver()
    port = listener.server.server_address[1]
    url = f"http://hook.example.test:{port}/hook"
    tried = handled = 0
    try:
        for address in REBIND_FORMS.values():
            tried += 1  # registration: one bad address among the name's answers
            both = SteeredDns(hook_example_test=[PUBLIC, address])
            handled += check_url(url, False, both) is not None
            tried += 1  # delivery after rebinding
            dns = SteeredDns(hook_example_test=[PUBLIC])
            sender = WebhookSender(5, resolve=dns)
            try:
                registered = sender.check_url(url) is None
                dns.answers["hook.example.test"] = [address]
                result = sender.send(url, "whsec_bench", "job.completed", "bench", {"n": 1})
            finally:
                sender.close()
            handled += registered and not result.ok and result.shown == BLOCKED_SENTENCE
        for literal in (f"http://127.0.0.1:{port}/", f"http://[::ffff:127.0.0.1]:{port}/",
                        f"http://[::1]:{port}/", f"http://2130706433:{port}/",
                        f"http://0x7f000001:{port}/", "http://1.1.1.1:80:18999/h",
                        f"http://user:pw@127.0.0.1:{port}/"):  # fmt: skip
            tried += 1
            try:
                refused = check_url(literal, False, system_resolver) is not None
            except Exception:  # a crash is not a refusal (the API would answer 500)
                refused = False
            handled += refused
    finally:
        listener.close()
    return tried, handled, not listener.requests


def key_revocation(folder: Path, env: dict[str, str]) -> tuple[int, int, bool]:
    """Through the real server: a key, a token minted with it, a token minted with that token;
    the key is revoked; each later use of anything made from it must be a 401. Returns (steps
    tried, handled, whether the credential it was made with still works)."""
    import httpx

    server = ServerProcess(folder / "revocation" / "data", env).start()

    def as_(credential: str) -> httpx.Client:
        return httpx.Client(base_url=server.base_url, timeout=30,
                            headers={"Authorization": f"Bearer {credential}"})  # fmt: skip

    def mint(credential: str) -> str:
        with as_(credential) as client:
            return client.post("/api/v1/auth/token").json()["access_token"]

    try:
        with server.client() as local:
            key = local.post("/api/v1/keys", json={"name": "bench"}).json()
            token = mint(key["key"])
            child = mint(token)
            revoked = local.delete(f"/api/v1/keys/{key['id']}").status_code == 204
            uses = [("GET", "/api/v1/me"), ("POST", "/api/v1/auth/token"),
                    ("POST", "/api/v1/keys"), ("GET", "/api/v1/jobs")]  # fmt: skip
            steps = [(c, method, path) for c in (key["key"], token, child) for method, path in uses]
            handled = 0
            for credential, method, path in steps:
                with as_(credential) as client:
                    handled += client.request(method, path).status_code == 401
            with httpx.Client(base_url=server.base_url, timeout=30) as anonymous:
                query = anonymous.get("/api/v1/me", params={"access_token": token})
            steps.append(("", "GET", "?access_token="))
            handled += query.status_code == 401
            still = local.get("/api/v1/me").status_code == 200
    finally:
        server.stop()
    return len(steps), handled if revoked else 0, still


def issue16(folder: Path, env: dict[str, str]) -> None:
    tried, handled, untouched = webhook_ssrf()
    print(f"webhook SSRF ({len(REBIND_FORMS)} address forms, at registration and after "
          f"rebinding; literal and malformed URLs): {tried} cases tried, {handled} handled; "
          f"loopback listener {'untouched' if untouched else 'TOUCHED'}")  # fmt: skip
    tried, handled, still = key_revocation(folder, env)
    print(f"key revocation (the key, a token minted with it, one minted with that token): "
          f"{tried} steps tried, {handled} handled; the session that revoked it "
          f"{'still works' if still else 'BROKEN'}")  # fmt: skip


# -- issue 16: the upload probe's memory --------------------------------------------------------


def probe_memory(folder: Path, env: dict[str, str]) -> None:
    """4 hostile edit-list MP4s at once against a fresh server: handled, and the API's growth."""
    from tests.hardening.probe_memory import build_files, upload_at_once, warm_up

    files = build_files(folder / "probe-memory")
    server = ServerProcess(folder / "probe-memory" / "data", env).start()
    try:
        warm_up(server, folder / "probe-memory")
        result = upload_at_once(server, files)
    finally:
        server.stop()
    print(f"probe memory ({result.tried} MP4s of 400,000 edit list entries at once): "
          f"{result.tried} cases tried, {result.handled} handled; API resident size grew "
          f"{result.growth_mb:.0f} MB (peak {result.peak_kib * 1024 / 1e6:.0f} MB)")  # fmt: skip


# -- issue 16: slow and greedy clients --------------------------------------------------------

SLOW_ENV = {"MOMENTS_HEADER_TIMEOUT_SECONDS": "2", "MOMENTS_BODY_IDLE_SECONDS": "2"}
"""Deadlines shortened for the run (defaults 10 s and 30 s) so each case ends in seconds."""


def slow_clients(folder: Path, env: dict[str, str]) -> None:
    """Big header, slowloris, trickled bodies (one server, SLOW_ENV), then an idle flood of
    1,100 connections against a server with every default."""
    import resource
    import socket

    from tests.hardening.test_slow_clients import (
        closed_by_server,
        connect,
        health,
        open_fds,
        rss_bytes,
        status_of,
        upload_head,
    )

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # this side opens 1,100 sockets
    server = ServerProcess(folder / "slow" / "data", {**env, **SLOW_ENV}).start()
    try:
        pid = server.process.pid
        before, sent = rss_bytes(pid), 0
        with connect(server) as sock:
            sock.sendall(b"GET /health HTTP/1.1\r\nHost: bench\r\nX-Big: ")
            try:
                for _ in range(64):
                    sock.sendall(b"a" * 1024 * 1024)
                    sent += 1024 * 1024
            except OSError:
                pass
            answer = closed_by_server(sock, 5)
        grown = (rss_bytes(pid) - before) / 1e6
        big = answer is not None and status_of(answer) in (431, None) and grown < 16

        slow = [connect(server) for _ in range(300)]
        started, cut = time.monotonic(), {}
        for sock in slow:
            sock.sendall(b"GET /health HTTP/1.1\r\n")
        while len(cut) < len(slow) and time.monotonic() - started < 10:
            for index, sock in enumerate(slow):
                if index not in cut:
                    if closed_by_server(sock, 0) is not None:
                        cut[index] = time.monotonic() - started
                    else:
                        with contextlib.suppress(OSError):
                            sock.send(b"x")
            time.sleep(0.1)  # the slowloris pace: a byte per connection per 0.1 s
        for sock in slow:
            sock.close()

        bodies = [connect(server) for _ in range(10)]
        started, trickled = time.monotonic(), {}
        for sock in bodies:
            sock.sendall(upload_head(server, 10 * 1024 * 1024))
        while len(trickled) < len(bodies) and time.monotonic() - started < 15:
            for index, sock in enumerate(bodies):
                if index not in trickled:
                    answer = closed_by_server(sock, 0)
                    if answer is not None:
                        trickled[index] = (time.monotonic() - started, status_of(answer))
                    else:
                        with contextlib.suppress(OSError):
                            sock.send(b"\0" * 100)
            time.sleep(0.1)  # 100 bytes per 0.1 s: 1 KiB/s, as measured before the limit
        for sock in bodies:
            sock.close()
        fine_after = health(server) == 200
    finally:
        server.stop()

    server = ServerProcess(folder / "flood" / "data", env).start()  # every default
    flood: list[socket.socket] = []
    try:
        baseline = open_fds(server.process.pid)
        for _ in range(1100):
            flood.append(connect(server))
        asked = time.monotonic()
        during = health(server)
        took = time.monotonic() - asked
        held = open_fds(server.process.pid) - baseline
        closed = sum(closed_by_server(sock, 0) is not None for sock in flood)
    finally:
        for sock in flood:
            sock.close()
        server.stop()
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))

    cut_408 = sum(1 for seconds, status in trickled.values() if status == 408)
    print(f"slow clients (head deadline 2 s, body 2 KiB/s over 2 s windows): 64 MiB header: 1 "
          f"tried, {int(big)} handled ({sent / 2**20:.0f} MiB sent before the server closed, "
          f"RSS {grown:+.1f} MB); slowloris: {len(slow)} tried, {len(cut)} handled (closed "
          f"{min(cut.values(), default=0):.1f}-{max(cut.values(), default=0):.1f} s after "
          f"starting); body at 1 KiB/s: {len(bodies)} tried, {cut_408} handled (408 after "
          f"{min((t for t, _ in trickled.values()), default=0):.1f}-"
          f"{max((t for t, _ in trickled.values()), default=0):.1f} s); /health afterwards "
          f"{'200' if fine_after else 'FAILED'}")  # fmt: skip
    print(f"idle flood (1100 connections, default cap 1000): {closed} closed to stay under "
          f"the cap, server holds {held} more descriptors; /health on a fresh connection "
          f"during the flood: {during} in {took * 1000:.0f} ms")  # fmt: skip


def _lying_case(name: str, folder: Path, results) -> None:  # in a child process
    import av

    from moments.engine import HighlightOptions, highlight
    from moments.engine.errors import EngineError
    from tests.hostile_corpus import (
        long_small_video,
        mkv_claiming,
        mp4_claiming,
        mp4_with_time_scale_one,
        ts_with_b_frames,
        ts_wrapping,
        video_with_many_channels,
    )

    build = {
        "ts-b-frames": lambda: ts_with_b_frames(folder / "camera.ts"),
        "ts-clock-wraps": lambda: ts_wrapping(folder / "wrap.ts"),
        "says-1s-holds-3h10-mp4": lambda: mp4_claiming(
            long_small_video(folder / "long.mp4", 3 * 3600 + 600, fps=1, side=32),
            folder / "liar.mp4", 1.0,
        ),
        "says-1s-holds-3h10-mkv": lambda: mkv_claiming(
            long_small_video(folder / "long.mkv", 3 * 3600 + 600, fps=1, side=32),
            folder / "liar.mkv", 1.0,
        ),
        "mdhd-time-scale-1": lambda: mp4_with_time_scale_one(
            make_video(folder / "clip.mp4", seconds=10.0), folder / "scale1.mp4"
        ),
        "64-channel-sound": lambda: video_with_many_channels(folder / "multi.mov", seconds=10.0),
    }  # fmt: skip
    must_refuse = {
        "says-1s-holds-3h10-mp4": "the longest we accept is 3:00:00",
        "says-1s-holds-3h10-mkv": "the longest we accept is 3:00:00",
        "mdhd-time-scale-1": "timing is broken",
    }
    source = build[name]()
    asked = 5.0
    start = time.perf_counter()
    try:
        result = highlight(source, folder / f"{name}.mp4", HighlightOptions(duration=asked))
    except EngineError as exc:
        handled, how = name in must_refuse and must_refuse[name] in str(exc), str(exc)
    else:
        with av.open(str(result.output)) as reel:
            frames = sum(1 for _ in reel.decode(video=0))
        fits = asked <= result.duration <= asked * 1.05 + 0.05 and frames > 0
        poster = result.poster is not None and result.poster.stat().st_size > 0
        noted = name != "64-channel-sound" or "64 channels" in " ".join(result.notes)
        handled = name not in must_refuse and fits and poster and noted
        how = f"a {result.duration:.2f} s reel, {frames} frames" + (
            f"; note: {result.notes[0]}" if result.notes else ""
        )
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    results.put((name, handled, how, seconds, peak))


def lying_headers(folder: Path) -> None:
    """Issue 16, lying headers, through the engine (each case in a fresh process, for its peak
    memory): MPEG-TS with B-frames and with a clock that wraps must make a reel of the asked
    length with a poster; MP4 and Matroska whose headers say 1 s over 3 h 10 min, and an mdhd
    time scale of 1, must be refused for that reason; 64-channel sound must give a silent reel
    that says why. Prints cases tried / handled, the slowest case and the highest peak memory
    (of a case's process, making its file included).
    """
    import multiprocessing

    names = ["ts-b-frames", "ts-clock-wraps", "says-1s-holds-3h10-mp4", "says-1s-holds-3h10-mkv",
             "mdhd-time-scale-1", "64-channel-sound"]  # fmt: skip
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    rows = []
    for name in names:
        case = folder / "lying" / name
        case.mkdir(parents=True)
        child = context.Process(target=_lying_case, args=(name, case, results))
        child.start()
        child.join()
        rows.append(results.get() if child.exitcode == 0 else (name, False, "crashed", 0.0, 0.0))
    handled = sum(1 for row in rows if row[1])
    slowest = max(rows, key=lambda row: row[3])
    print(f"lying headers (engine, 5 s reels): {len(rows)} cases tried, {handled} handled; "
          f"slowest {slowest[0]} {slowest[3]:.1f} s, peak memory at most "
          f"{max(row[4] for row in rows):.0f} MiB")  # fmt: skip
    for name, ok, how, seconds, peak in rows:
        print(f"  {name}: {'handled' if ok else 'NOT HANDLED'} in {seconds:.2f} s, "
              f"{peak:.0f} MiB: {how}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=30, help="Schemathesis examples per op")
    parser.add_argument("--pollers", type=int, default=100)
    parser.add_argument("--uploaders", type=int, default=10)
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--interval", type=float, default=0.5)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="moments-hardening-") as tmp:
        folder = Path(tmp)
        video = make_video(folder / "clip.mp4", seconds=6.0, width=320, height=180)
        env = {**GENEROUS_ENV, "MOMENTS_WORKERS": "2"}

        server = ServerProcess(folder / "hostile" / "data", env).start()
        try:
            tried, clean, untouched = hostile(server, folder, video)
        finally:
            server.stop()
        print(f"hostile corpus: {tried} cases tried, {clean} handled cleanly; canary file and "
              f"loopback server {'untouched' if untouched else 'TOUCHED'}")  # fmt: skip

        server = ServerProcess(folder / "fuzz" / "data", env).start()
        try:
            token = server.headers["Authorization"].removeprefix("Bearer ")
            main_pass = run_schemathesis(
                server.base_url, token, folder / "st-main", max_examples=args.examples,
                exclude=SELF_REVOKING,
            )  # fmt: skip
            revoking = run_schemathesis(
                server.base_url, new_api_key(server.base_url, token), folder / "st-revoking",
                max_examples=args.examples, include=SELF_REVOKING,
            )  # fmt: skip
        finally:
            server.stop()
        cases = main_pass.cases + revoking.cases
        failures = main_pass.failures + revoking.failures + main_pass.errors + revoking.errors
        operations = main_pass.operations + revoking.operations
        print(f"schemathesis (all checks, {args.examples} examples/operation): {cases} cases "
              f"over {operations} operations, {failures} failures")  # fmt: skip

        server = ServerProcess(folder / "load" / "data", env).start()
        try:
            result = asyncio.run(
                run_load(
                    server.base_url, server.headers, video, pollers=args.pollers,
                    uploaders=args.uploaders, seconds=args.seconds, interval=args.interval,
                )
            )  # fmt: skip
        finally:
            server.stop()
        print(f"load ({args.pollers} pollers every {args.interval:g} s, {args.uploaders} "
              f"uploaders, {args.seconds:g} s): {result.requests} requests, {result.errors} "
              f"errors, {result.uploads} uploads; status p50 {result.percentile(50) * 1000:.0f} "
              f"ms, p99 {result.percentile(99) * 1000:.0f} ms; upload p50 "
              f"{result.percentile(50, 'upload') * 1000:.0f} ms")  # fmt: skip
        if result.error_samples:
            print("  first errors:", *result.error_samples, sep="\n    ")

        issue16(folder, env)
        probe_memory(folder, env)
        slow_clients(folder, env)
        lying_headers(folder)


if __name__ == "__main__":
    main()
