"""rig: a fuzzing and robustness test rig for Linux kernel drivers."""

__version__ = "0.1.0"
