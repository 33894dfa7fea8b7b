"""OCI images and registries: the image model, the layout reader and writer, and the
distribution client that pushes layouts and keeps bundles, base images and leases in a
registry."""
