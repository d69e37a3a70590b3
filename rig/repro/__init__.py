"""Reproducing crashes: replay saved programs, minimise them, export standalone reproducers."""
