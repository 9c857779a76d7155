"""Peer simulators for bench/run_bench.py; each runs in its own process (see common.py)."""
