"""Camera-shift check benchmark (``make bench``): what ``camera.track_shift`` costs per checked frame.

A fixed camera mostly sends the view of the last feature measurement unmoved; the still check
(thumbnail + phase correlation) answers those, and only changed views pay for ORB + RANSAC.
Rows: median ms of a full feature measurement and of a still check, on the synthetic lot fitted
into 720p and 1080p frames, with sensor noise so no two frames are equal.
"""

from __future__ import annotations

import statistics
import time

import numpy as np

from edge_agent.camera.registration import Registration
from edge_agent.perception.bench import FRAME_SIZES, fit_frame
from edge_agent.sim.scenario import EMPTY
from edge_agent.sim.synthetic import BAYS, render


def _median_ms(times: list[float]) -> float:
    return round(statistics.median(times) * 1000, 2)


def main(repeat: int = 30) -> int:
    rng = np.random.default_rng(0)
    print("== camera shift check (ms per checked frame; OpenCV threads as in the agent)")
    print(f"{'frame':<7} {'full (ORB+RANSAC)':>18} {'still check':>12} {'ratio':>7}")
    for name, size in FRAME_SIZES.items():
        base = fit_frame(render(EMPTY), size)
        frames = [np.clip(base + rng.normal(0, 4, base.shape), 0, 255).astype(np.uint8) for _ in range(8)]
        scale = size[0] / base.shape[1]
        reg = Registration(24, [[k, [[x * scale, y * scale] for x, y in p]] for k, p in BAYS.items()])
        reg.measure(frames[0], now=0.0)
        full, still = [], []
        for i in range(repeat):
            t = time.perf_counter()
            reg.measure(frames[i % 8], now=1000.0 * (i + 1))  # past FULL_EVERY_S: a feature measurement
            full.append(time.perf_counter() - t)
            t = time.perf_counter()
            reg.measure(frames[(i + 1) % 8], now=1000.0 * (i + 1) + 1.0)  # a second later, unmoved
            still.append(time.perf_counter() - t)
        f, s = _median_ms(full), _median_ms(still)
        print(f"{name:<7} {f:>18.2f} {s:>12.2f} {f / max(s, 1e-6):>6.1f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
