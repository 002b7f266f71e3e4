"""Occupancy classifier tools: train (torch, optional extra) and evaluate (onnxruntime)."""
