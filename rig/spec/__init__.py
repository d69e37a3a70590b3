"""Interface specs: what a driver accepts from user space, imported from its own declarations."""
