"""Apache Beam pipelines: `compute-embeddings` and the embedding cache it fills."""
