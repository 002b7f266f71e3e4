"""Training augmentation is seeded (reproducible training) and keeps the crop a crop."""

from __future__ import annotations

import numpy as np

from edge_agent.occupancy.augment import PRE_SIZE, augment_batch, centre, geometric


def _crops(n=6):
    rng = np.random.default_rng(0)
    return (rng.random((n, PRE_SIZE, PRE_SIZE, 3)) * 255).astype(np.uint8)


def test_same_seed_same_batch_other_seed_other_batch():
    x = _crops()
    a = augment_batch(x, 64, np.random.default_rng(5))
    b = augment_batch(x, 64, np.random.default_rng(5))
    c = augment_batch(x, 64, np.random.default_rng(6))
    assert a.shape == (6, 64, 64, 3) and a.dtype == np.uint8
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def test_geometric_keeps_the_bay_centre_in_view():
    img = np.zeros((PRE_SIZE, PRE_SIZE, 3), np.uint8)
    img[30:50, 30:50] = 255  # the bay's middle
    rng = np.random.default_rng(1)
    for _ in range(50):
        out = geometric(img, 64, rng)
        assert out[30:34, 30:34].mean() > 100  # shifts / zooms are small enough not to lose the car


def test_centre_is_a_plain_resize():
    x = _crops(2)
    assert centre(x, 64).shape == (2, 64, 64, 3)
    assert centre(x, PRE_SIZE) is x
