"""The VM fleet: domain XML, the libvirt backend, instances and the pool."""
