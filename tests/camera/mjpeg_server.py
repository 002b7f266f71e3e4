"""A real MJPEG-over-HTTP camera on a loopback port, scripted to misbehave (for the camera tests).

Each connection is answered with a ``multipart/x-mixed-replace`` stream of the parts in ``script``
(JPEG bytes, or anything else: what a broken encoder sends), then the connection is held open and
silent until ``release()`` (a camera that stops sending without closing). No pacing: the parts go out
as fast as the client reads them, so nothing in a test waits on wall time.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable

import cv2
import numpy as np


def jpeg(i: int, w: int = 160, h: int = 96) -> bytes:
    """A small picture that differs from frame to frame (a bar that moves with ``i``)."""
    img = np.full((h, w, 3), 90, np.uint8)
    x = 8 + (i * 9) % (w - 40)
    cv2.rectangle(img, (x, 20), (x + 24, 60), (30, 200, 40), -1)
    return cv2.imencode(".jpg", img)[1].tobytes()


def garbage(seed: int) -> bytes:
    """A part no JPEG decoder takes: random bytes (a glitch on the wire, a broken encoder)."""
    return np.random.default_rng(seed).integers(0, 256, 4000, dtype=np.uint8).tobytes()


class MjpegServer:
    def __init__(self, script: Callable[[int], list[bytes]]) -> None:
        """``script(n)``: the parts to send on the n-th connection (0-based)."""
        self.script = script
        self.connections = 0
        self._held = threading.Event()
        self._sock = socket.socket()
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(8)
        self.url = f"http://127.0.0.1:{self._sock.getsockname()[1]}/video.mjpg"
        self._clients: list[socket.socket] = []
        threading.Thread(target=self._accept, name="mjpeg-server", daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self._sock.accept()
            except OSError:  # closed
                return
            n = self.connections
            self.connections += 1
            self._clients.append(conn)
            threading.Thread(target=self._serve, args=(conn, n), daemon=True).start()

    def _serve(self, conn: socket.socket, n: int) -> None:
        try:
            conn.recv(65536)  # the request
            conn.sendall(b"HTTP/1.0 200 OK\r\nContent-Type: multipart/x-mixed-replace; boundary=frame\r\n\r\n")
            for body in self.script(n):
                conn.sendall(b"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n" % len(body)
                             + body + b"\r\n")
            self._held.wait()  # silent, connection open
        except OSError:
            pass
        finally:
            conn.close()

    def release(self) -> None:
        """End every held connection (the client's read fails at once) and stop accepting."""
        self._held.set()
        self._sock.close()
        for c in self._clients:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
