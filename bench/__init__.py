"""Benchmarks: `make bench` (or `python -m bench [intake|worker|rules|redis]`)."""
