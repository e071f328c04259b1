"""What every embedding model provides to the pipeline."""

import hashlib
import json

import numpy as np


class EmbeddingModel:
  """A model maps a batch of waveforms to frame-level outputs for each requested layer.

  Subclasses set `name`, `sample_rate`, `layers` (names, in depth order) and implement `config()` (every
  setting that changes the output) and `embed()`. One `embed` call runs one forward pass for all layers.
  """

  name: str
  sample_rate: int
  layers: tuple[str, ...]

  def config(self) -> dict:
    raise NotImplementedError

  def weights_digest(self) -> str:
    """sha256 over the weights; models without weights have none."""
    return ""

  @property
  def fingerprint(self) -> str:
    """Changes whenever the weights or any output-changing setting change; part of every cache key."""
    blob = json.dumps({"name": self.name, "config": self.config(), "weights": self.weights_digest()},
                      sort_keys=True)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:16]

  def embed(self, waveforms: list[np.ndarray], layers: tuple[str, ...]) -> dict[str, list[np.ndarray]]:
    """waveforms: float32 mono at `sample_rate` in [-1, 1]. Returns {layer: [frames x dims per clip]}."""
    raise NotImplementedError
