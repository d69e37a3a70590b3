"""Benchmarks behind `rig bench NAME --json`: each module exposes a click command `cli`."""
