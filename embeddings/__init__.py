"""Embedding models: each declares its sample rate, named layers, output dims and a fingerprint that keys
the cache. `registry.get_model(name, device)` is the entry point; README.md beside this file lists the
models, their layers and padding, and the `KIND:LOCATION#options` syntax of the model-file adapters."""
