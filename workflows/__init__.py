"""Deterministic orchestration only: no I/O, no clocks, no randomness; every side effect is an activity."""
