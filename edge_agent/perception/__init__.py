"""Perception: frame → plate detect → rectify → read → colour → NEV verdict."""
