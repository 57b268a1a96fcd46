"""Benchmarks: scale and orchestration overhead, with a provider of known timings."""
