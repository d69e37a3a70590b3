"""Guest images: a Debian kernel, an initramfs with busybox, /init, the agent and the driver."""
