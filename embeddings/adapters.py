"""What the model-file adapters share: the `KIND:LOCATION#key=value&key=value` syntax, turning whatever a
model returns into named layers, and running clips of equal length together.

A generic model's frame hop is unknown, so frames computed on padding could not be cut off again: clips
of equal length share one call, any other clip runs alone (the pipeline batches clips of similar length,
and a dataset of fixed-length clips runs fully batched). `min_seconds` zero-pads shorter clips at the end;
by default nothing is padded, and a model that cannot take a short clip fails with its own error.

Layers are the model's outputs: the keys of a returned dict (sorted), `output0`, `output1`, ... of a
tuple, or `output` for a single tensor. With `batched=1` (default) an output's first axis is the batch,
the next the frames; an output with no frame axis gives one frame per clip.
"""

import numpy as np

from nossbench import UserError
from nossbench.embeddings.base import EmbeddingModel, pad_to

COMMON_OPTIONS = {"rate": "16000", "min_seconds": "0", "outputs": ""}


def split_spec(spec: str) -> tuple[str, dict[str, str]]:
  """`LOCATION#a=1&b=2` -> (LOCATION, {a: 1, b: 2}). LOCATION must not contain '#'."""
  location, _, query = spec.partition("#")
  options = {}
  for item in filter(None, query.split("&")):
    key, sep, value = item.partition("=")
    if not sep or not key:
      raise UserError(f"bad model option {item!r} in {spec!r}: write options as #key=value&key=value")
    options[key] = value
  return location, options


def group_equal_lengths(waveforms) -> list[list[int]]:
  """Indices of the clips grouped by length, groups in order of first appearance."""
  groups = {}
  for index, wave in enumerate(waveforms):
    groups.setdefault(len(wave), []).append(index)
  return list(groups.values())


def to_numpy(value) -> np.ndarray:
  if hasattr(value, "detach"):  # torch
    value = value.detach().cpu()
  if hasattr(value, "numpy"):  # torch, TensorFlow
    value = value.numpy()
  return np.asarray(value, np.float32)


def name_outputs(result) -> dict[str, np.ndarray]:
  if isinstance(result, dict):
    return {str(key): to_numpy(result[key]) for key in sorted(result, key=str)}
  if isinstance(result, (tuple, list)):
    return {f"output{index}": to_numpy(value) for index, value in enumerate(result)}
  return {"output": to_numpy(result)}


def as_frames(array: np.ndarray) -> np.ndarray:
  """One clip's output as [frames, ...]: a vector or a scalar is one frame."""
  if array.ndim == 0:
    return array.reshape(1, 1)
  return array[None] if array.ndim == 1 else array


class Adapter(EmbeddingModel):
  """A model file behind `KIND:LOCATION#options`. Subclasses set `kind`, `options` (their own keys with
  defaults, beside COMMON_OPTIONS), load the model in `load()` and run it in `forward()`."""

  kind: str
  options: dict[str, str] = {}
  shared_options = tuple(COMMON_OPTIONS)
  batched = True
  pads = False  # equal lengths only (see above): the pipeline batches them so

  def __init__(self, spec: str, device: str = "cpu"):
    super().__init__(device)
    self.name = f"{self.kind}:{spec}"
    self.location, given = split_spec(spec)
    known = {**{key: COMMON_OPTIONS[key] for key in self.shared_options}, **self.options}
    unknown = sorted(set(given) - set(known))
    if unknown:
      raise UserError(f"{self.name}: unknown option {', '.join(unknown)}; {self.kind} takes "
                      f"{', '.join(sorted(known))}")
    self.settings = {**known, **given}
    try:
      self.sample_rate = int(self.settings.get("rate", COMMON_OPTIONS["rate"]))
      min_seconds = float(self.settings["min_seconds"])
    except ValueError:
      raise UserError(f"{self.name}: rate must be an integer and min_seconds a number") from None
    self.load()  # may set sample_rate from the model
    self.min_samples = int(round(min_seconds * self.sample_rate))
    probe = self.forward([np.zeros(max(self.sample_rate, self.min_samples), np.float32)], None)
    wanted = [name for name in self.settings["outputs"].split(",") if name]
    missing = [name for name in wanted if name not in probe]
    if missing:
      raise UserError(f"{self.name} has no output {', '.join(missing)}; its outputs: {', '.join(probe)}")
    self.layers = tuple(wanted or probe)

  def identity(self) -> str:
    return self.kind

  def config(self) -> dict:
    return {"options": {key: value for key, value in sorted(self.settings.items())}}

  def load(self):
    raise NotImplementedError

  def forward(self, waveforms: list[np.ndarray], layers) -> dict[str, np.ndarray]:
    """Runs equal-length clips (one clip when not batched); returns every output (or `layers`)."""
    raise NotImplementedError

  def embed(self, waveforms, layers=None):
    layers = self.check_layers(layers or self.layers)
    waves = [pad_to(wave, self.min_samples) for wave in waveforms]
    outputs = {layer: [None] * len(waves) for layer in layers}
    groups = group_equal_lengths(waves) if self.batched else [[i] for i in range(len(waves))]
    for group in groups:
      result = self.forward([waves[i] for i in group], layers)
      for layer in layers:
        value = result[layer]
        if not self.batched:
          outputs[layer][group[0]] = as_frames(value)
          continue
        if value.ndim == 0 or value.shape[0] != len(group):
          raise RuntimeError(f"{self.name}: output {layer} has shape {value.shape} for a batch of "
                             f"{len(group)} clips; a model that takes one clip per call needs #batched=0")
        for row, index in enumerate(group):
          outputs[layer][index] = as_frames(value[row])
    return outputs
