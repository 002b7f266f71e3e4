"""Bays: which plate belongs to which bay, is a vehicle there, and the per-bay story."""
