"""Model names known to `compute-embeddings --model`."""

from nossbench import UserError
from nossbench.embeddings.base import EmbeddingModel
from nossbench.embeddings.logmel import LogMel

MODELS = {"logmel": LogMel}


def get_model(name: str) -> EmbeddingModel:
  if name not in MODELS:
    raise UserError(f"unknown model {name!r}; available models: {', '.join(sorted(MODELS))}")
  return MODELS[name]()
