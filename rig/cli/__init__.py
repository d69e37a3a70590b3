"""The `rig` command line: one small module per command, no logic of their own."""
