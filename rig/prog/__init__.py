"""Programs (sequences of calls on a driver's doors) and their text and wire encodings."""
