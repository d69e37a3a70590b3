"""Fuzzing campaigns: workers driving VMs, recording crashes, reporting progress."""
