"""Serial consoles: recording what the guest prints and watching it for reports."""
