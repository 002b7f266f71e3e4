"""Benchmark: the agent's camera loop while its review page takes a login flood.

Why: a probe sent 40 parallel wrong logins to ``run``'s page; ~35 argon2 checks of 64 MiB ran
at once, the process grew to 1.7 GB and the camera loop fell from 4.9 to 2.4 fps (issue 15).
Targets: RSS grows < 150 MB during the flood, and fps stays >= 90 % of idle.

The agent is the real one (``assemble``: camera reader on a looping folder of rendered frames
with a parked car, detector + recogniser on every frame, the review page on uvicorn), in this
process. The flood comes from another process over loopback HTTP, as an attacker's would, so
its own threads cost this process nothing. Two cases:

* ``one-ip``: the shipped limits (5 failures per IP and user name in the window);
* ``many-ips``: each client its own address (``X-Forwarded-For`` through loopback, set as a
  trusted proxy, so the 16-connections-per-address bound does not apply) and the failure limit
  lifted: only the bound on concurrent password checks stands between the flood and the camera loop.

It lives in ``runtime`` (not ``web``) because it drives the whole agent.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import cv2

from edge_agent import imfile

RSS_TARGET_MB = 150.0
FPS_TARGET = 0.90
WRONG = "not-the-password"
RIGHT = "the-right-password"


def _status_kb(field: str, pid: int | str = "self") -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


class _RssSampler:
    """Samples this process's resident size every ``every_s`` (plus the kernel's peak, reset at start)."""

    def __init__(self, every_s: float = 0.005) -> None:
        self.every_s, self.samples, self._stop = every_s, [], threading.Event()
        self._t = threading.Thread(target=self._run, name="rss", daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self.every_s):
            self.samples.append(_status_kb("VmRSS"))

    def __enter__(self) -> _RssSampler:
        try:  # "5" resets VmHWM (Linux >= 4.0), so the peak below is this window's
            Path("/proc/self/clear_refs").write_text("5")
        except OSError:
            pass
        self._t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._t.join()
        self.peak_kb = max([_status_kb("VmHWM"), *self.samples])


class _Counted:
    """Wraps the users file's ``verify`` to count password checks running at once (the real check runs)."""

    def __init__(self, users: Any) -> None:
        self.inner, self.active, self.peak, self.calls = users.verify, 0, 0, 0
        self._lock = threading.Lock()
        users.verify = self

    def __call__(self, name: str, password: str) -> bool:
        with self._lock:
            self.active += 1
            self.calls += 1
            self.peak = max(self.peak, self.active)
        try:
            return self.inner(name, password)
        finally:
            with self._lock:
                self.active -= 1


class _Timed:
    """Wraps the agent's plate reader to time every detector + recogniser run."""

    def __init__(self, reader: Any) -> None:
        self.inner, self.ms = reader, []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def process(self, image: Any, region: Any = None) -> Any:
        t = time.perf_counter()
        try:
            return self.inner.process(image) if region is None else self.inner.process(image, region)
        finally:
            self.ms.append((time.perf_counter() - t) * 1000)


def _write_frames(folder: Path, n: int) -> None:
    from edge_agent.sim.scenario import FUEL
    from edge_agent.sim.synthetic import NoiseBank, Scene, render

    folder.mkdir(parents=True, exist_ok=True)
    noise, img = NoiseBank(), render(Scene(cars=(FUEL,)))
    for i in range(n):  # sensor noise: consecutive frames differ, as a live camera's do (not "frozen")
        imfile.imwrite(folder / f"{i:04d}.jpg", noise.apply(img), [cv2.IMWRITE_JPEG_QUALITY, 90])


def _window(agent: Any, timed: _Timed, seconds: float) -> dict[str, float]:
    f0, n0, t0, c0 = agent.monitor.frames, len(timed.ms), time.perf_counter(), time.process_time()
    time.sleep(seconds)  # a benchmark measures wall time: this is the window
    wall = time.perf_counter() - t0
    ms = timed.ms[n0:]
    return {"fps": round((agent.monitor.frames - f0) / wall, 2),
            "agent_cpu_pct": round(100 * (time.process_time() - c0) / wall, 1),
            "inference_ms_median": round(statistics.median(ms), 1) if ms else None,
            "inference_ms_p95": round(sorted(ms)[int(0.95 * (len(ms) - 1))], 1) if ms else None}


def bench_cert(folder: Path) -> dict[str, str]:
    """A self-signed P-256 pair for the ``handshakes`` target's ``web.tls`` (openssl, as docs/web.md makes one)."""
    folder.mkdir(parents=True, exist_ok=True)
    cert, key = folder / "web.crt", folder / "web.key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                    "-keyout", str(key), "-out", str(cert), "-days", "2", "-subj", "/CN=edge-agent bench",
                    "-addext", "subjectAltName=IP:127.0.0.1"], check=True, capture_output=True)
    key.chmod(0o600)
    return {"cert_file": str(cert), "key_file": str(key)}


def bench_config(data: Path, frames: Path, models: Path, mode: str, fps: float = 5.0, threads: int = 2,
                 tls: dict[str, str] | None = None) -> Any:
    """The agent's config for one case (a function of its own so a test can check that it still parses:
    the config's ceilings once turned the ``many-ips`` case's lifted limit into an error)."""
    from edge_agent.sim.scenario import scene_config

    return scene_config(str(data), camera={"source": str(frames), "loop": True, "fps": fps},
                        perception={"models_dir": str(models), "threads": threads},
                        occupancy={"probe_s": 0.01},  # the detector on every frame: the loop's worst case
                        web={"enabled": True, "port": 0, "users_file": str(data / "users.txt"),
                             "session_secret_file": str(data / "key"),
                             "login_max_failures": 5 if mode == "one-ip" else 10_000,  # the most config allows
                             "trusted_proxies": [] if mode == "one-ip" or tls else ["127.0.0.1"], "tls": tls})


def _case(models: Path, tmp: Path, mode: str, legacy_hash: bool, fps: float, seconds: float,
          clients: int, threads: int, client_nice: int, target: str = "login") -> dict[str, Any]:
    from argon2 import PasswordHasher

    from edge_agent.clock import SystemClock
    from edge_agent.runtime.assemble import assemble
    from edge_agent.web.auth import UsersFile

    frames = tmp / "frames"
    if not frames.exists():
        _write_frames(frames, 12)
    data = tmp / f"data-{mode}"
    users = UsersFile(data / "users.txt")
    users.set("admin", RIGHT)
    if legacy_hash:  # argon2-cffi's default profile (64 MiB, 4 lanes): what existing installs hold
        users.path.write_text("admin:" + PasswordHasher().hash(RIGHT) + "\n")
    tls = bench_cert(data / "tls") if target == "handshakes" else None
    parts = assemble(bench_config(data, frames, models, mode, fps, threads, tls), clock=SystemClock())
    agent = parts.agent
    timed = _Timed(agent.reader)
    agent.reader = timed
    parts.start()
    loop = threading.Thread(target=agent.run_forever, name="loop", daemon=True)
    loop.start()
    try:
        ctx = parts.web.app.state.ctx
        checks = _Counted(ctx.users)
        time.sleep(3.0)  # model warm-up and the change detector's first reference
        rss0 = _status_kb("VmRSS")
        idle = _window(agent, timed, seconds)
        with _RssSampler() as rss:
            ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
            # the attacker's CPU is on another machine; here it shares ours, so it yields to the agent
            flood = subprocess.Popen(["nice", "-n", str(client_nice), sys.executable, "-m", "edge_agent.sim.flood_bench",
                                      "--flood", parts.web.url, "--clients", str(clients),
                                      "--seconds", str(seconds), "--target", target,
                                      *(["--many-ips"] if mode == "many-ips" else [])],
                                     stdout=subprocess.PIPE, text=True)
            during = _window(agent, timed, seconds)
            out, _ = flood.communicate(timeout=seconds + 120)
            ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        after = _window(agent, timed, seconds)  # idle again: the box's own load drifts, so idle is averaged
        replies = json.loads(out.strip().splitlines()[-1])
        client_cpu = ru1.ru_utime + ru1.ru_stime - ru0.ru_utime - ru0.ru_stime
    finally:
        parts.stop()
        loop.join(10)
    growth = round((rss.peak_kb - rss0) / 1024, 1)
    idle_fps = (idle["fps"] + after["fps"]) / 2
    ratio = round(during["fps"] / idle_fps, 3) if idle_fps else None
    return {"case": mode, "target": target, "hash": "legacy 64 MiB" if legacy_hash else "current", "clients": clients,
            "idle": idle, "flood": during, "idle_after": after, "fps_ratio": ratio, "rss_before_mb": round(rss0 / 1024, 1),
            "rss_peak_growth_mb": growth, "password_checks": checks.calls,
            "max_concurrent_checks": checks.peak, "replies": replies, "client_nice": client_nice,
            "client_cpu_pct": round(100 * client_cpu / seconds, 1),
            "ok": growth < RSS_TARGET_MB and ratio is not None and ratio >= FPS_TARGET}


def _swarm(url: str, clients: int, seconds: float, many_ips: bool, one_round: Callable[[Any, dict], list[str]],
           cookies: dict[str, str] | None = None) -> dict[str, int]:
    """``clients`` threads, each with a client of its own, leaving together (the first wave truly parallel) and
    calling ``one_round(client, its_state)`` (the codes of that round's requests) until ``seconds`` have passed, one
    round at least; the codes counted. ``many_ips``: each thread says it is another address (``X-Forwarded-For``,
    believed from a trusted proxy)."""
    import httpx

    counts: Counter[str] = Counter()
    lock, start = threading.Lock(), threading.Barrier(clients)
    end = time.monotonic() + seconds

    def worker(n: int) -> None:
        hdrs = {"X-Forwarded-For": f"10.9.{n // 250}.{n % 250 + 1}"} if many_ips else {}
        state: dict = {}
        with httpx.Client(base_url=url, cookies=cookies, headers=hdrs, timeout=120) as c:
            start.wait()
            while True:
                codes = one_round(c, state)
                with lock:
                    counts.update(codes)
                if time.monotonic() >= end:
                    return

    ts = [threading.Thread(target=worker, args=(n,)) for n in range(clients)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return dict(counts)


def _code(label: str, send: Callable[[], Any]) -> str:
    """``label`` and the status of the request ``send`` makes (or the name of its transport error)."""
    import httpx

    try:
        code = str(send().status_code)
    except httpx.HTTPError as exc:
        code = type(exc).__name__
    return f"{label} {code}".strip()


def flood(url: str, clients: int, seconds: float, many_ips: bool = False) -> dict[str, int]:
    """``clients`` threads posting wrong logins for ``seconds`` (at least one wave); status counts."""
    import re

    import httpx

    with httpx.Client(base_url=url) as c:
        tok = re.search(r'name="csrf" value="([^"]+)"', c.get("/login").text).group(1)
        cookies = dict(c.cookies)
    form = {"username": "admin", "password": WRONG, "csrf": tok}
    return _swarm(url, clients, seconds, many_ips, lambda c, _: [_code("", lambda: c.post("/login", data=form))],
                  cookies)


def flood_pages(url: str, clients: int, seconds: float, many_ips: bool = False) -> dict[str, int]:
    """A signed-in installer's browser (or a script with its cookie) asking for the costly pages as fast as it can:
    a snapshot (a camera picture stored as evidence), its image, the statistics. Status counts per path kind."""
    import re

    import httpx

    with httpx.Client(base_url=url) as c:
        tok = re.search(r'name="csrf" value="([^"]+)"', c.get("/login").text).group(1)
        c.post("/login", data={"username": "admin", "password": RIGHT, "csrf": tok})
        page = c.get("/bays").text
        tok = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
        bay = re.search(r'/bays/([^/"]+)/snapshot', page).group(1)
        cookies = dict(c.cookies)

    def one_round(c: httpx.Client, state: dict) -> list[str]:
        eid = state.get("eid")
        codes = [_code("snapshot", lambda: c.post(f"/bays/{bay}/snapshot", data={"csrf": tok})),
                 _code("image", lambda: c.get(f"/evidence/{eid}/frame.jpg")) if eid is not None
                 else _code("stats", lambda: c.get("/stats")),
                 _code("stats", lambda: c.get("/stats"))]
        if eid is None:
            found = re.search(r'/evidence/([^/"]+)/frame\.jpg', c.get("/bays").text)
            state["eid"] = found.group(1) if found else None
        return codes

    return _swarm(url, clients, seconds, many_ips, one_round, cookies)


def flood_anonymous(url: str, clients: int, seconds: float, many_ips: bool = False) -> dict[str, int]:
    """Anyone on the network, signed in nowhere: the login page and a page that sends it there, as fast as it
    can (the cheapest requests, which no rate limit counts). Status counts per path."""
    return _swarm(url, clients, seconds, many_ips,
                  lambda c, _: [_code(path, partial(c.get, path)) for path in ("/login", "/violations")])


def flood_handshakes(url: str, clients: int, seconds: float, many_ips: bool = False) -> dict[str, int]:
    """Anyone on the network opening TLS connections as fast as it can, each a full handshake (no session resumed)
    and one request (``many_ips``: each thread from its own loopback address, 127.0.1.N). Beside it, from
    127.0.0.2, a member of staff whose browser opens 6 connections at once every second: ``staff ok`` / ``staff
    failed`` and ``staff_ms_p95`` (a whole wave of 6) tell what the flood leaves them. Status counts."""
    import socket
    import ssl
    from concurrent.futures import ThreadPoolExecutor
    from urllib.parse import urlsplit

    port = urlsplit(url).port
    client = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    client.check_hostname, client.verify_mode = False, ssl.CERT_NONE
    counts: Counter[str] = Counter()
    lock, end = threading.Lock(), time.monotonic() + seconds

    def once(source: str) -> str:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=30, source_address=(source, 0)) as raw, \
                    client.wrap_socket(raw, server_hostname="127.0.0.1") as s:
                s.sendall(b"GET /login HTTP/1.1\r\nHost: edge\r\nConnection: close\r\n\r\n")
                head = s.recv(12)
                return head[9:12].decode() if head.startswith(b"HTTP/1.1 ") else "closed"
        except (OSError, ssl.SSLError) as exc:
            return type(exc).__name__

    def attacker(n: int) -> None:
        source = f"127.0.1.{n % 250 + 1}" if many_ips else "127.0.0.1"
        while True:  # one round at least
            code = once(source)
            with lock:
                counts[code] += 1
            if time.monotonic() >= end:
                return

    waves: list[float] = []

    def staff() -> None:
        while True:  # one wave at least
            t0 = time.monotonic()
            with ThreadPoolExecutor(6) as pool:
                got = list(pool.map(once, ["127.0.0.2"] * 6))
            waves.append((time.monotonic() - t0) * 1000)
            with lock:
                counts.update("staff ok" if c == "200" else "staff failed" for c in got)
            if time.monotonic() >= end:
                return
            time.sleep(max(0.0, 1.0 - (time.monotonic() - t0)))  # the next page a second later

    ts = [threading.Thread(target=attacker, args=(n,)) for n in range(clients)] + [threading.Thread(target=staff)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    out = dict(counts)
    out["staff_ms_p95"] = round(sorted(waves)[int(0.95 * (len(waves) - 1))]) if waves else -1
    return out


def run(models: Path, modes: tuple[str, ...] = ("one-ip", "many-ips"), legacy_hash: bool = True,
        fps: float = 5.0, seconds: float = 8.0, clients: int = 40, threads: int = 2,
        client_nice: int = 19, target: str = "login") -> list[dict[str, Any]]:
    if not Path("/proc/self/status").exists():
        raise SystemExit("this bench reads /proc (Linux)")
    with tempfile.TemporaryDirectory(prefix="edge-agent-flood-") as tmp:
        return [_case(models, Path(tmp), m, legacy_hash, fps, seconds, clients, threads, client_nice, target)
                for m in modes]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", default=str(Path(__file__).resolve().parents[2] / "models"))
    p.add_argument("--mode", choices=("one-ip", "many-ips", "both"), default="both")
    p.add_argument("--current-hash", action="store_true", help="hash the user with today's profile, not the legacy one")
    p.add_argument("--fps", type=float, default=5.0)
    p.add_argument("--seconds", type=float, default=8.0)
    p.add_argument("--clients", type=int, default=40)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--client-nice", type=int, default=19,
                   help="the flood process's nice value (on a device the attacker's CPU is elsewhere)")
    p.add_argument("--json", action="store_true")
    p.add_argument("--target", choices=("login", "pages", "anonymous", "handshakes"), default="login",
                   help="login: wrong passwords; pages: a signed-in client on snapshots, images and statistics; "
                        "anonymous: the login page and redirects to it; handshakes: new TLS connections (web.tls) "
                        "as fast as they go, beside a member of staff's browser")
    p.add_argument("--flood", metavar="URL", help=argparse.SUPPRESS)  # the attacker's side (a subprocess)
    p.add_argument("--many-ips", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.flood:
        flooder = {"login": flood, "pages": flood_pages, "anonymous": flood_anonymous,
                   "handshakes": flood_handshakes}[args.target]
        print(json.dumps(flooder(args.flood, args.clients, args.seconds, args.many_ips)))
        return 0
    modes = ("one-ip", "many-ips") if args.mode == "both" else (args.mode,)
    rows = run(Path(args.models), modes, not args.current_hash, args.fps, args.seconds, args.clients, args.threads,
               args.client_nice, args.target)
    if args.json:
        print(json.dumps(rows))
    for r in rows if not args.json else ():
        i, f = r["idle"], r["flood"]
        print(f"{r['target']} flood, {r['case']}, {r['clients']} parallel clients, user hash {r['hash']}:")
        for label, w in (("idle", i), ("after", r["idle_after"])):
            print(f"  camera loop {label:>5} {w['fps']:.2f} fps, inference {w['inference_ms_median']} ms "
                  f"(p95 {w['inference_ms_p95']}), agent CPU {w['agent_cpu_pct']} %")
        print(f"  camera loop flood {f['fps']:.2f} fps, inference {f['inference_ms_median']} ms "
              f"(p95 {f['inference_ms_p95']}), agent CPU {f['agent_cpu_pct']} %"
              f"  → {100 * (r['fps_ratio'] or 0):.0f} % of idle (mean of both) (target ≥ {100 * FPS_TARGET:.0f} %)")
        print(f"  flood client (nice {r['client_nice']}) CPU {r['client_cpu_pct']} % of one core")
        print(f"  RSS {r['rss_before_mb']} MB before, peak +{r['rss_peak_growth_mb']} MB (target < {RSS_TARGET_MB:.0f})")
        print(f"  password checks {r['password_checks']} (at most {r['max_concurrent_checks']} at once); "
              f"replies {r['replies']} → {'ok' if r['ok'] else 'MISSED'}")
    return 0 if all(r["ok"] for r in rows) else 1


if __name__ == "__main__":  # python -m edge_agent.sim.flood_bench
    raise SystemExit(main())
