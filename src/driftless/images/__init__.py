"""Image automation: tags from OCI registries, update policies, setter markers."""
