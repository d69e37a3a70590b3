"""`rig review`: a driver change's attack surface diff, rule findings and a focused campaign."""
