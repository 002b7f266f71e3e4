"""HTTP for the sinks: one deadline for the whole attempt — name lookup, connect, TLS, every read and write.

Why: httpx's ``timeout`` is per phase (each socket read may take all of it), and the name lookup
has none at all: ``getaddrinfo`` waits as long as the resolver likes, so a hung resolver held a
sink's thread far past ``timeout_s``. httpcore takes a network backend (its documented extension
point); ours looks names up in a short-lived daemon thread and stops waiting at the deadline, and
hands every socket operation ``min(its timeout, time left)``. A lookup the resolver never answers
leaves its thread behind, so at most ``MAX_LOOKUPS`` per name may be unanswered at once; past that
an attempt to that name fails at once instead of starting another. Per name, because the sinks
share this backend: a robot's internet name hanging while the uplink is down must not use up the
slots of a LAN backend whose name answers at once. Addresses are tried in the resolver's order with
the families alternating (IPv6, IPv4, IPv6 …, RFC 8305 §4), and no address may take all the time
left while others wait: each gets its share (at least ``MIN_CONNECT_S``). A host whose first
address does not answer — a broken IPv6 route under a dual-stack name — otherwise spent every
attempt's whole deadline on it and never reached the address that works.
``cancel()`` (the agent stopping) ends what is in flight — open connections are shut down, waiting
lookups given up — and fails every later attempt at once: a sink waiting on an endpoint that never
answers must not hold the agent's stop for its ``timeout_s`` (systemd kills it after 15 s).

httpx still builds the request and reads the answer. With a proxy in the environment
(``HTTPS_PROXY``, ``HTTP_PROXY``, ``ALL_PROXY``) the client is httpx's own, as before — httpx honours
those only without a custom transport, and the proxy looks the name up anyway.
"""

from __future__ import annotations

import ipaddress
import os
import socket
import ssl
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, InvalidStateError
from concurrent.futures import TimeoutError as FutureTimeout
from contextlib import contextmanager
from typing import Any
from urllib.request import getproxies

import httpcore
import httpx

from edge_agent.notify.answers import Answer
from edge_agent.notify.delivery import Post
from edge_agent.notify.messages import Request

ANSWER_MAX_BYTES = 64 * 1024  # a robot's answer is ~40 bytes of JSON; nothing past this is read
MIN_CONNECT_S = 1.0  # an address's share of the deadline when more are left to try: enough for a far connect
MAX_LOOKUPS = 4  # lookups of one name left unanswered (each holds a thread) before attempts to it fail at once
Resolve = Callable[[str, int], "list[str]"]  # (host, port) -> addresses to try, in order
Monotonic = Callable[[], float]


def system_resolve(host: str, port: int) -> list[str]:
    return [str(info[4][0]) for info in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)]


class DeadlineBackend(httpcore.NetworkBackend):
    """httpcore's sync backend with a bounded name lookup and the attempt's deadline on every socket call.

    The deadline is per thread (``until``): the sinks share one client but each sends from its own thread.
    """

    def __init__(self, monotonic: Monotonic, resolve: Resolve = system_resolve, max_lookups: int = MAX_LOOKUPS,
                 inner: httpcore.NetworkBackend | None = None) -> None:
        self._monotonic = monotonic
        self._resolve = resolve
        self._max_lookups = max_lookups
        self._inner = inner or httpcore.SyncBackend()
        self._local = threading.local()
        self._lock = threading.Lock()
        self.lookups_running = 0  # all names
        self._running: dict[str, int] = {}  # per name (the configured sinks' hosts)
        self.cancelled = False
        self._open: set[_DeadlineStream] = set()  # connections in use, for cancel()
        self._waiting: set[Future[list[str]]] = set()  # lookups being waited for, for cancel()

    def cancel(self) -> None:
        """End every attempt now and fail the later ones (the agent is stopping).

        A connection is shut down through a duplicate of its descriptor (``shutdown`` acts on the
        socket: a read blocked in another thread returns at once; closing alone would not wake it).
        The set is read under the lock a stream must take before it closes, so no descriptor in it
        can have been closed and reused meanwhile.
        """
        with self._lock:
            self.cancelled = True
            for stream in self._open:
                sock = stream.get_extra_info("socket")
                fd = sock.fileno() if sock is not None else -1
                if fd < 0:
                    continue
                try:
                    with socket.socket(fileno=os.dup(fd)) as dup:
                        dup.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass  # already closed by the peer or not connected
            for future in self._waiting:
                _settle(future, exception=httpcore.ConnectError("the agent is stopping"))

    def _track(self, stream: _DeadlineStream | None, gone: _DeadlineStream | None = None) -> None:
        with self._lock:
            if gone is not None:
                self._open.discard(gone)
            if stream is not None:
                self._open.add(stream)

    @contextmanager
    def until(self, deadline: float) -> Iterator[None]:
        before = getattr(self._local, "deadline", None)
        self._local.deadline = deadline
        try:
            yield
        finally:
            self._local.deadline = before

    def left(self, timeout: float | None, expired: type[Exception]) -> float | None:
        """``timeout`` shortened to what is left of the deadline; raises ``expired`` when nothing is."""
        if self.cancelled:
            raise expired("the agent is stopping")
        deadline = getattr(self._local, "deadline", None)
        if deadline is None:
            return timeout
        rest = deadline - self._monotonic()
        if rest <= 0:  # a socket timeout of 0 would mean non-blocking, not "no time"
            raise expired("the sink's timeout passed")
        return rest if timeout is None else min(timeout, rest)

    def connect_tcp(self, host: str, port: int, timeout: float | None = None, local_address: str | None = None,
                    socket_options: Iterable[Any] | None = None) -> httpcore.NetworkStream:
        error: Exception | None = None
        addresses = interleave(self._lookup(host, port, self.left(timeout, httpcore.ConnectTimeout)))
        for i, address in enumerate(addresses):
            left = self.left(timeout, httpcore.ConnectTimeout)
            rest = len(addresses) - i
            share = left if left is None or rest == 1 else min(left, max(MIN_CONNECT_S, left / rest))
            try:
                stream = self._inner.connect_tcp(address, port, share, local_address, socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                error = exc
                continue
            wrapped = _DeadlineStream(stream, self)
            self._track(wrapped)
            if self.cancelled:  # cancel() ran while this one connected: it did not see it
                wrapped.close()
                raise httpcore.ConnectError("the agent is stopping")
            return wrapped
        raise error or httpcore.ConnectError(f"{host}: the resolver gave no address")

    def _lookup(self, host: str, port: int, timeout: float | None) -> list[str]:
        try:
            return [str(ipaddress.ip_address(host))]
        except ValueError:
            pass
        with self._lock:
            if self._running.get(host, 0) >= self._max_lookups:
                raise httpcore.ConnectError(f"{self._running[host]} name lookups still unanswered; not starting "
                                            f"another for {host}")
            self.lookups_running += 1
            self._running[host] = self._running.get(host, 0) + 1
        answer: Future[list[str]] = Future()

        def look() -> None:
            try:
                _settle(answer, result=self._resolve(host, port))
            except BaseException as exc:  # noqa: BLE001 - handed to the waiting sink
                _settle(answer, exception=exc)
            finally:
                with self._lock:
                    self._lookup_done(host)

        try:
            threading.Thread(target=look, name=f"notify-dns-{host}", daemon=True).start()
        except RuntimeError as exc:  # no thread to be had (memory, ulimit): the slot must not stay taken
            with self._lock:
                self._lookup_done(host)
            raise httpcore.ConnectError(f"name lookup of {host}: {exc}") from None
        with self._lock:
            self._waiting.add(answer)
            if self.cancelled:
                _settle(answer, exception=httpcore.ConnectError("the agent is stopping"))
        try:
            return answer.result(timeout)
        except FutureTimeout:
            raise httpcore.ConnectTimeout(f"name lookup of {host} unanswered after {timeout:g} s") from None
        except Exception as exc:  # noqa: BLE001 - socket.gaierror, or a name the resolver cannot encode
            raise httpcore.ConnectError(f"name lookup of {host}: {exc}") from None
        finally:
            with self._lock:
                self._waiting.discard(answer)

    def _lookup_done(self, host: str) -> None:
        """Free ``host``'s slot (under the lock)."""
        self.lookups_running -= 1
        self._running[host] -= 1
        if not self._running[host]:
            del self._running[host]

    def connect_unix_socket(self, path: str, timeout: float | None = None,
                            socket_options: Iterable[Any] | None = None) -> httpcore.NetworkStream:
        raise httpcore.ConnectError("notify sinks do not use unix sockets")

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


def interleave(addresses: list[str]) -> list[str]:
    """The resolver's order, the address families alternating from the first one's (RFC 8305 §4):
    two IPv6 addresses behind a broken route must not come before every IPv4 one."""
    first: list[str] = []
    other: list[str] = []
    family = None
    for address in addresses:
        try:
            version = ipaddress.ip_address(address.split("%", 1)[0]).version  # fe80::1%eth0: a scoped one
        except ValueError:  # not an address (an injected resolver's name): a family of its own
            version = 0
        family = version if family is None else family
        (first if version == family else other).append(address)
    out = [a for pair in zip(first, other) for a in pair]
    n = min(len(first), len(other))
    return out + first[n:] + other[n:]


class _DeadlineStream(httpcore.NetworkStream):
    def __init__(self, inner: httpcore.NetworkStream, backend: DeadlineBackend) -> None:
        self._inner = inner
        self._backend = backend

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, self._backend.left(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, self._backend.left(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._backend._track(None, gone=self)  # first: cancel() must not touch a descriptor being closed
        self._inner.close()

    def start_tls(self, ssl_context: ssl.SSLContext, server_hostname: str | None = None,
                  timeout: float | None = None) -> httpcore.NetworkStream:
        tls = self._inner.start_tls(ssl_context, server_hostname, self._backend.left(timeout, httpcore.ConnectTimeout))
        wrapped = _DeadlineStream(tls, self._backend)
        self._backend._track(wrapped, gone=self)
        return wrapped

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


def _settle(future: Future[list[str]], result: list[str] | None = None, exception: BaseException | None = None) -> None:
    """Give ``future`` its outcome unless it has one (a lookup answering after cancel(), or the reverse)."""
    try:
        if exception is not None:
            future.set_exception(exception)
        else:
            future.set_result(result or [])
    except InvalidStateError:
        pass


_ERRORS: dict[type[Exception], type[httpx.TransportError]] = {  # httpcore's leaf errors, as httpx maps them
    httpcore.ConnectTimeout: httpx.ConnectTimeout, httpcore.ReadTimeout: httpx.ReadTimeout,
    httpcore.WriteTimeout: httpx.WriteTimeout, httpcore.PoolTimeout: httpx.PoolTimeout,
    httpcore.ConnectError: httpx.ConnectError, httpcore.ReadError: httpx.ReadError,
    httpcore.WriteError: httpx.WriteError, httpcore.RemoteProtocolError: httpx.RemoteProtocolError,
    httpcore.LocalProtocolError: httpx.LocalProtocolError, httpcore.UnsupportedProtocol: httpx.UnsupportedProtocol,
    httpcore.ProxyError: httpx.ProxyError}
_BASES = (httpcore.TimeoutException, httpcore.NetworkError, httpcore.ProtocolError, httpcore.UnsupportedProtocol,
          httpcore.ProxyError)


@contextmanager
def _as_httpx(request: httpx.Request) -> Iterator[None]:
    """httpcore's errors as httpx's (what ``httpx_post`` and httpx's client expect)."""
    try:
        yield
    except _BASES as exc:
        fallback = httpx.TimeoutException if isinstance(exc, httpcore.TimeoutException) else httpx.TransportError
        raise _ERRORS.get(type(exc), fallback)(str(exc), request=request) from exc


class _Body(httpx.SyncByteStream):
    def __init__(self, inner: Iterable[bytes], request: httpx.Request) -> None:
        self._inner = inner
        self._request = request

    def __iter__(self) -> Iterator[bytes]:
        with _as_httpx(self._request):
            yield from self._inner

    def close(self) -> None:
        close = getattr(self._inner, "close", None)
        if close is not None:
            close()


class DeadlineTransport(httpx.BaseTransport):
    """An httpx transport over an httpcore pool that uses ``DeadlineBackend`` (httpx has no option for one)."""

    def __init__(self, backend: DeadlineBackend, ssl_context: ssl.SSLContext | None = None) -> None:
        self._pool = httpcore.ConnectionPool(ssl_context=ssl_context or httpx.create_ssl_context(),
                                             network_backend=backend)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        assert isinstance(request.stream, httpx.SyncByteStream)
        url = httpcore.URL(scheme=request.url.raw_scheme, host=request.url.raw_host, port=request.url.port,
                           target=request.url.raw_path)
        core = httpcore.Request(request.method, url, headers=request.headers.raw, content=request.stream,
                                extensions=request.extensions)
        with _as_httpx(request):
            answer = self._pool.handle_request(core)
        assert isinstance(answer.stream, Iterable)
        return httpx.Response(answer.status, headers=answer.headers, stream=_Body(answer.stream, request),
                              extensions=answer.extensions)

    def close(self) -> None:
        self._pool.close()


def deadline_client(monotonic: Monotonic, resolve: Resolve = system_resolve,
                    ssl_context: ssl.SSLContext | None = None) -> tuple[httpx.Client, DeadlineBackend | None]:
    """The sinks' client: redirects not followed (a 3xx is a failure), every attempt within its deadline —
    unless the environment names a proxy: then httpx's own client, which uses it (and no backend).

    ``ssl_context``: httpx's default (certifi's CAs) unless a test brings its own CA.
    """
    if any(v for k, v in getproxies().items() if k in ("http", "https", "all")):
        return httpx.Client(follow_redirects=False), None
    backend = DeadlineBackend(monotonic, resolve)
    return httpx.Client(follow_redirects=False, transport=DeadlineTransport(backend, ssl_context)), backend


def httpx_post(client: httpx.Client, monotonic: Monotonic, max_bytes: int = ANSWER_MAX_BYTES,
               backend: DeadlineBackend | None = None) -> Post:
    """POST with a bounded answer: at most ``max_bytes`` are read, and all within ``timeout``.

    Why: httpx's timeout is per socket read, so an endpoint trickling a byte at a time holds
    the sink's thread for as long as it likes, and ``r.text`` reads any size into memory
    (a 300 MB answer cost 940 MB of RSS, enough to get a Pi's agent killed). The body is
    read raw (``Accept-Encoding: identity``: no decompression bomb) and cut at ``max_bytes``;
    the deadline is checked after every chunk, and with ``backend`` (``deadline_client``) by
    every socket call and the name lookup too.
    """

    def post(req: Request, timeout: float) -> Answer:
        deadline = monotonic() + timeout
        headers = {**req.headers, "Accept-Encoding": "identity"}
        bounded = backend.until(deadline) if backend is not None else _unbounded()
        try:
            with bounded, client.stream("POST", req.url, content=req.body, headers=headers, timeout=timeout) as r:
                body = bytearray()
                for chunk in r.iter_raw():
                    body += chunk[: max_bytes - len(body)]
                    if len(body) >= max_bytes:
                        break  # the rest is never read: closing the response drops the connection
                    if monotonic() > deadline:
                        raise TimeoutError(f"no whole answer in {timeout:g} s (still arriving)")
                status, encoding = r.status_code, r.encoding or "utf-8"
                retry_after, location = r.headers.get("retry-after"), r.headers.get("location")
        except httpx.HTTPError as exc:
            if backend is not None and backend.cancelled:  # not the endpoint's doing: say so
                raise ConnectionError("cancelled: the agent is stopping") from None
            if isinstance(exc, httpx.TimeoutException):
                raise TimeoutError(f"no answer in {timeout:g} s ({type(exc).__name__}: {exc})") from None
            raise ConnectionError(f"{type(exc).__name__}: {exc}") from None
        try:
            return Answer(status, body.decode(encoding, errors="replace"), retry_after, location)
        except LookupError:  # an unknown charset named by the endpoint
            return Answer(status, body.decode("utf-8", errors="replace"), retry_after, location)

    return post


@contextmanager
def _unbounded() -> Iterator[None]:
    yield


__all__ = ["ANSWER_MAX_BYTES", "MAX_LOOKUPS", "MIN_CONNECT_S", "DeadlineBackend", "DeadlineTransport",
           "deadline_client", "httpx_post", "interleave", "system_resolve"]
