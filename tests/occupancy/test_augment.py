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


def test_foliage_covers_part_of_the_crop_with_leaves_and_is_seeded():
    from edge_agent.occupancy.augment import foliage

    grey = np.full((64, 64, 3), 128, np.uint8)
    a, b = foliage(grey, np.random.default_rng(3)), foliage(grey, np.random.default_rng(3))
    assert np.array_equal(a, b) and a.shape == grey.shape and a.dtype == np.uint8
    changed = np.abs(a.astype(int) - 128).sum(axis=2) > 30
    assert 0.02 < changed.mean() < 0.95  # part of the bay, never all of it
    leaf = a[changed].astype(float)
    assert (leaf[:, 1] >= leaf[:, 0]).mean() > 0.8  # green-brown leaves, not a blue-grey shadow
