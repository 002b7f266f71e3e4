"""Tools, not the runtime: synthetic scenes, the scenario harness, sequence builders and benchmarks.

Kept apart from ``runtime`` the way gpiozero keeps its mock pins apart: the agent never imports them;
``demo``, the tests and ``make bench`` do.
"""
