"""Reports of campaigns and nightly runs: one HTML file (`rig report`) or live pages (`rig serve`)."""
