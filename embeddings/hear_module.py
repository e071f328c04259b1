"""`hear:MODULE`: any model packaged for the HEAR benchmark's common API: an importable module with
`load_model(model_file_path)`, `get_timestamp_embeddings(audio, model)` and `get_scene_embeddings(audio,
model)`, its model carrying `sample_rate`. Torch models get torch tensors on the chosen device, others
TensorFlow tensors.

Layers: `timestamp` (the module's frame-level embeddings) and `scene` (its clip-level embedding, one
frame). The HEAR API computes them in two separate calls, so asking for both runs the model twice.
Options: `weights=PATH` (passed to load_model), `min_seconds`, `outputs`.
    hear:hearbaseline.wav2vec2#weights=/models/wav2vec2.pt
"""

import contextlib
import importlib
import importlib.metadata
import os

import numpy as np

from nossbench import UserError
from nossbench.embeddings import device as device_lib
from nossbench.embeddings.adapters import Adapter, to_numpy
from nossbench.embeddings.base import file_digest

FUNCTIONS = ("load_model", "get_timestamp_embeddings", "get_scene_embeddings")


class HearModule(Adapter):
  kind = "hear"
  options = {"weights": ""}
  shared_options = ("min_seconds", "outputs")
  framework = "torch"

  def load(self):
    try:
      self.module = importlib.import_module(self.location)
    except ImportError as error:
      raise UserError(f"{self.name}: cannot import HEAR module {self.location!r} ({error}); install its "
                      "package or add its folder to PYTHONPATH") from None
    missing = [name for name in FUNCTIONS if not callable(getattr(self.module, name, None))]
    if missing:
      raise UserError(f"{self.name}: {self.location} does not follow the HEAR API: it lacks {', '.join(missing)}")
    weights = self.settings["weights"]
    self.model = self.module.load_model(weights) if weights else self.module.load_model()
    self.sample_rate = int(self.model.sample_rate)
    self.torch = None
    try:
      import torch  # pylint: disable=import-outside-toplevel
      if isinstance(self.model, torch.nn.Module):
        self.torch = torch
        self.model.to(device_lib.torch_device(self.device)).eval()
    except ImportError:
      pass

  def identity(self) -> str:
    return f"hear:{self.location}"

  def config(self) -> dict:
    package = self.location.split(".")[0]
    try:
      version = importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
      version = ""
    return {**super().config(), "package_version": version, "sample_rate": self.sample_rate}

  def weights_digest(self) -> str:
    """The module's code (its package folder, or its file) and the weights file it was given."""
    source = os.path.dirname(self.module.__file__) if hasattr(self.module, "__path__") else self.module.__file__
    weights = self.settings["weights"]
    return file_digest(source) + (("+" + file_digest(weights)) if weights else "")

  def forward(self, waveforms, layers):
    audio = np.stack(waveforms)
    if self.torch is not None:
      audio = self.torch.from_numpy(audio).to(next(self.model.parameters(), self.torch.zeros(0)).device)
    else:
      import tensorflow as tf  # pylint: disable=import-outside-toplevel
      audio = tf.constant(audio)
    outputs = {}
    with self.torch.inference_mode() if self.torch is not None else contextlib.nullcontext():
      if layers is None or "timestamp" in layers:
        outputs["timestamp"] = to_numpy(self.module.get_timestamp_embeddings(audio, self.model)[0])
      if layers is None or "scene" in layers:
        outputs["scene"] = to_numpy(self.module.get_scene_embeddings(audio, self.model))
    return outputs

