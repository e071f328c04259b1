"""Small models for the pipeline tests, registered in the test process only (embeddings/ stays as it is).

The registry imports models from `nossbench.embeddings.<module>`: `register` makes this file that
module for the test process. Run as a script, this file is `compute-embeddings` whose `logmel` kills its
own process with SIGKILL on the model call after the first $DIE_AFTER, as a crash or a pre-empted
machine would.
"""

import os
import signal
import sys

import numpy as np

from nossbench.embeddings import registry
from nossbench.embeddings.logmel import LogMel
from nossbench.pipelines import compute_embeddings
from tests_helpers import dominant_frequency

HIGH_HZ = 700.0
MODULE = "pipeline_test_models"


def register(name: str, class_name: str, kwargs=None, patch=None) -> None:
  """Adds `name` to the registry as this file's `class_name`; `patch`: pytest's monkeypatch, which undoes
  it after the test."""
  setitem = patch.setitem if patch else lambda mapping, key, value: mapping.__setitem__(key, value)
  setitem(sys.modules, f"nossbench.embeddings.{MODULE}", sys.modules[__name__])
  setitem(registry.MODELS, name, (MODULE, class_name, kwargs or {}))


def is_high(waveform: np.ndarray) -> bool:
  return dominant_frequency(waveform, 16000) > HIGH_HZ


class TwoLayers(LogMel):
  """Two layers from one forward pass: `mel` (log-mel frames) and `doubled` (twice those), whose output
  is NaN for clips whose dominant frequency is above HIGH_HZ."""

  name = "two_layers"
  layers = ("mel", "doubled")
  calls = 0

  def embed(self, waveforms, layers=("mel", "doubled")):
    TwoLayers.calls += 1
    self.check_layers(layers)
    mel = LogMel(self.device).embed(waveforms)["logmel"]
    doubled = [np.full_like(m, np.nan) if is_high(w) else 2 * m for m, w in zip(mel, waveforms)]
    return {layer: {"mel": mel, "doubled": doubled}[layer] for layer in layers}


class FailsOnHigh(LogMel):
  """`logmel` that raises, as a broken model would, on any batch holding a clip above HIGH_HZ."""

  def embed(self, waveforms, layers=("logmel",)):
    if any(is_high(w) for w in waveforms):
      raise ValueError("this model cannot take that clip")
    return super().embed(waveforms, layers)


class DiesAfter(LogMel):
  """`logmel` that kills the process on the model call after the first $DIE_AFTER."""

  calls = 0

  def embed(self, waveforms, layers=("logmel",)):
    DiesAfter.calls += 1
    if DiesAfter.calls > int(os.environ["DIE_AFTER"]):
      os.kill(os.getpid(), signal.SIGKILL)
    return super().embed(waveforms, layers)


if __name__ == "__main__":
  register("logmel", "DiesAfter")
  sys.exit(compute_embeddings.main(sys.argv[1:]))
