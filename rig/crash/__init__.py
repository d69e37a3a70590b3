"""Kernel reports: the format table, the parser, buckets and the crash store."""
