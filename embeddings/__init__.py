"""Embedding models: each declares its sample rate, named layers and a fingerprint that keys the cache."""
