"""A broker that takes connections, subscriptions and pings and never acknowledges a PUBLISH (MQTT 5, plain TCP):
what an agent meets behind a broker whose persistence hangs, or a proxy that swallows one direction's packets.
Test-only; real paho talks to it. ``publishes`` records (connection number, dup flag, packet id, topic)."""

from __future__ import annotations

import socket
import threading
from typing import Callable


def _varint(data: bytes, i: int) -> tuple[int, int]:
    mult, val = 1, 0
    while True:
        b = data[i]
        i += 1
        val += (b & 127) * mult
        if not b & 128:
            return val, i
        mult *= 128


class MuteBroker:
    def __init__(self) -> None:
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen()
        self.port = self._sock.getsockname()[1]
        self.connects = 0
        self.publishes: list[tuple[int, int, int | None, str]] = []
        self._changed = threading.Condition()
        self._conns: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def wait_for(self, what: Callable[[MuteBroker], bool], timeout: float = 10.0) -> bool:
        with self._changed:
            return self._changed.wait_for(lambda: what(self), timeout)

    def close(self) -> None:
        self._sock.close()
        for c in self._conns:
            c.close()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            self._conns.append(conn)
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _read(self, conn: socket.socket, n: int) -> bytes:
        buf = b""
        while len(buf) < n:
            chunk = conn.recv(n - len(buf))
            if not chunk:
                raise EOFError
            buf += chunk
        return buf

    def _serve(self, conn: socket.socket) -> None:
        number = 0
        try:
            while True:
                head = self._read(conn, 1)[0]
                length, mult = 0, 1
                while True:
                    b = self._read(conn, 1)[0]
                    length += (b & 127) * mult
                    mult *= 128
                    if not b & 128:
                        break
                body = self._read(conn, length) if length else b""
                kind = head >> 4
                if kind == 1:  # CONNECT -> CONNACK, success, no properties
                    conn.sendall(b"\x20\x03\x00\x00\x00")
                    with self._changed:
                        self.connects += 1
                        number = self.connects
                        self._changed.notify_all()
                elif kind == 8:  # SUBSCRIBE -> SUBACK granting QoS 1 to each filter
                    plen, i = _varint(body, 2)
                    i += plen
                    codes = b""
                    while i < len(body):
                        i += 2 + int.from_bytes(body[i : i + 2], "big") + 1
                        codes += b"\x01"
                    payload = body[:2] + b"\x00" + codes
                    conn.sendall(bytes([0x90, len(payload)]) + payload)
                elif kind == 3:  # PUBLISH: recorded, never acknowledged
                    qos, dup = (head >> 1) & 3, (head >> 3) & 1
                    tl = int.from_bytes(body[:2], "big")
                    pid = int.from_bytes(body[2 + tl : 4 + tl], "big") if qos else None
                    with self._changed:
                        self.publishes.append((number, dup, pid, body[2 : 2 + tl].decode()))
                        self._changed.notify_all()
                elif kind == 12:  # PINGREQ -> PINGRESP: the connection looks alive
                    conn.sendall(b"\xd0\x00")
                elif kind == 14:
                    return
        except (EOFError, OSError):
            return
