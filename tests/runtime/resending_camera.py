"""A live MJPEG camera on a loopback port that can drop its connection and, on the next one, resend the frames it
sent before (a camera's or NVR's buffer after a reconnect) before going live again.

Live frames are the rendered scene under fresh sensor noise, paced at ``fps`` as a camera sends them (the agent
under test is a real process on the system clock). ``drop()`` closes the connection and refuses new ones;
``resend(seconds, times)`` makes the next connection send the last ``seconds`` of frames sent, ``times`` over, at
the live pace, then live frames.
"""

from __future__ import annotations

import socket
import threading
import time
from collections import deque

import cv2
import numpy as np

from edge_agent.sim.scenario import Scene
from edge_agent.sim.synthetic import render


class ResendingCamera:
    def __init__(self, fps: float = 5.0) -> None:
        self.fps = fps
        self.scene = Scene()
        self.resent = 0  # frames resent so far
        self.live_again = threading.Event()
        self._down = False
        self._gen = 0
        self._resend: list[bytes] = []
        self._sent: deque[tuple[float, bytes]] = deque(maxlen=int(fps * 120))
        self.sent_live = self._sent  # the live frames sent (time, JPEG), the last 2 minutes
        self._rng = np.random.default_rng(3)
        self._sock = socket.socket()
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(8)
        self.url = f"http://127.0.0.1:{self._sock.getsockname()[1]}/video.mjpg"
        self._conns: list[socket.socket] = []
        self._closed = False
        threading.Thread(target=self._accept, name="resending-camera", daemon=True).start()

    def _frame(self) -> bytes:
        img = render(self.scene).astype(np.int16)
        img = np.clip(img + self._rng.integers(-4, 5, img.shape), 0, 255).astype(np.uint8)
        return cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 85])[1].tobytes()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            if self._down:
                conn.close()
                continue
            self._conns.append(conn)
            threading.Thread(target=self._serve, args=(conn, self._gen), daemon=True).start()

    def drop(self) -> None:
        """The camera goes away: its connection closed, new ones refused until ``resend``."""
        self._down = True
        self._gen += 1
        for c in self._conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
                c.close()
            except OSError:
                pass
        self._conns.clear()

    def resend(self, seconds: float, times: int = 1) -> None:
        """Back: the next connection first gets the last ``seconds`` of frames sent before, ``times`` over."""
        last = self._sent[-1][0] if self._sent else 0.0
        self._resend = [b for t, b in self._sent if t >= last - seconds] * times
        self._down = False

    def _serve(self, conn: socket.socket, gen: int) -> None:
        def part(body: bytes) -> None:
            conn.sendall(
                b"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n" % len(body) + body + b"\r\n"
            )

        try:
            conn.recv(65536)
            conn.sendall(b"HTTP/1.0 200 OK\r\nContent-Type: multipart/x-mixed-replace; boundary=frame\r\n\r\n")
            due = time.monotonic()
            old, self._resend = self._resend, []
            for body in old:  # a live camera's pace: the agent is a real process on the system clock
                part(body)
                self.resent += 1
                due += 1 / self.fps
                time.sleep(max(0.0, due - time.monotonic()))
            if old:
                self.live_again.set()
            while gen == self._gen and not self._closed:
                body = self._frame()
                self._sent.append((time.monotonic(), body))
                part(body)
                due += 1 / self.fps
                time.sleep(max(0.0, due - time.monotonic()))
        except OSError:
            pass

    def close(self) -> None:
        self._closed = True
        self.drop()
        self._sock.close()
