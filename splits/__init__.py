"""Split algorithms, split manifests (write, read, check) and the `prepare-splits` command."""
