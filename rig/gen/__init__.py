"""Program generators and fuzzing engines driven by interface specs."""
