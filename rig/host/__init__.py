"""Host preparation: packages, libvirt daemons and the KVM-or-TCG verdict."""
