"""What every embedding model provides to the pipeline, and small helpers the model families share."""

import functools
import hashlib
import importlib
import json
import os
import re

import numpy as np
from etils import epath

from nossbench import UserError

# Optional packages, with the command that installs each: a missing one is a user error, not a traceback.
INSTALL_HINTS = {
    "onnxruntime": "pip install 'nossbench[onnx]'",
    "openwakeword": "pip install 'nossbench[onnx]'",
    "opensmile": "pip install 'nossbench[opensmile]'",
    "torch": "pip install 'nossbench[torch]'",
    "torchcrepe": "pip install 'nossbench[torch]'",
    "transformers": "pip install 'nossbench[hf]'",
    "huggingface_hub": "pip install 'nossbench[hf]'",
    # resemblyzer 0.1.4 declares `webrtcvad` (broken without pkg_resources) and the `typing` backport:
    # its working dependencies come with the extra, the package itself without its own.
    "resemblyzer": "pip install 'nossbench[torch]' && pip install --no-deps resemblyzer==0.1.4",
}


def require(module: str, model: str):
  """Imports an optional package, or explains how to install it."""
  try:
    return importlib.import_module(module)
  except ImportError as error:
    hint = INSTALL_HINTS.get(module.split(".")[0], f"pip install {module.split('.')[0]}")
    raise UserError(f"model {model!r} needs the Python package {module!r}, which cannot be imported "
                    f"({error}); install it with: {hint}") from None


class EmbeddingModel:
  """A model maps a batch of waveforms to frame-level outputs for each requested layer.

  Subclasses set `name`, `sample_rate`, `layers` (names, in depth order), `framework` (whose report
  decides `--device auto`, see device.py), document how they pad clips shorter than their window, and
  implement `config()` (every setting that changes the output) and `embed()`. One `embed` call runs one
  forward pass for all requested layers. `device` is already resolved: `cpu` or `gpu`.
  """

  name: str
  sample_rate: int
  layers: tuple[str, ...]
  framework: str = "cpu-only"
  # Whether clips of different lengths may share one `embed` call (the model masks or trims what padding
  # adds). False: the pipeline batches only clips of identical length.
  pads: bool = True

  def __init__(self, device: str = "cpu"):
    self.device = device

  def config(self) -> dict:
    raise NotImplementedError

  def weights_digest(self) -> str:
    """sha256 over the weights; models without weights have none."""
    return ""

  def identity(self) -> str:
    """What the fingerprint calls the model: its name; adapters use their kind, so that a model file
    moved to another path keeps its fingerprint."""
    return self.name

  @functools.cached_property
  def fingerprint(self) -> str:
    """Changes whenever the weights or any output-changing setting change; part of every cache key."""
    blob = json.dumps({"name": self.identity(), "config": self.config(), "weights": self.weights_digest()},
                      sort_keys=True)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:16]

  def output_dims(self) -> dict[str, tuple[int, ...]]:
    """Shape of one frame of each layer, measured once on one second of silence."""
    if "_output_dims" not in self.__dict__:
      outputs = self.embed([np.zeros(self.sample_rate, np.float32)], self.layers)
      self._output_dims = {layer: tuple(int(d) for d in outputs[layer][0].shape[1:]) for layer in self.layers}
    return self._output_dims

  def check_device(self, device: str) -> None:
    """Raises a UserError when this model, as its spec configures it, cannot run on `device` (cpu|gpu).
    Called when the model is loaded, and by compute-embeddings before Beam starts where it knows the
    workers' device; most models run on either."""

  def check_layers(self, layers) -> tuple[str, ...]:
    layers = tuple(layers)
    unknown = [layer for layer in layers if layer not in self.layers]
    if unknown:
      raise UserError(f"{self.name} has no layer {', '.join(unknown)}; its layers: {', '.join(self.layers)}")
    return layers

  def embed(self, waveforms: list[np.ndarray], layers: tuple[str, ...]) -> dict[str, list[np.ndarray]]:
    """waveforms: float32 mono at `sample_rate` in [-1, 1]. Returns {layer: [frames x dims per clip]},
    at least one frame per clip."""
    raise NotImplementedError


def pad_to(wave: np.ndarray, length: int) -> np.ndarray:
  """Zero-pads a clip at the end to at least `length` samples."""
  wave = np.asarray(wave, np.float32)
  return np.pad(wave, (0, length - len(wave))) if len(wave) < length else wave


def stack_padded(waveforms, length: int | None = None) -> np.ndarray:
  """[batch, longest] float32, each clip zero-padded at the end."""
  length = max([length or 0] + [len(w) for w in waveforms])
  batch = np.zeros((len(waveforms), max(length, 1)), np.float32)
  for row, wave in enumerate(waveforms):
    batch[row, :len(wave)] = wave
  return batch


def file_digest(path) -> str:
  """sha256 of a weights file, or of every file under a folder (relative names included, sorted); local
  paths and gs:// alike."""
  root = epath.Path(path)
  files, folders = ([root], []) if root.is_file() else ([], [root])
  while folders:
    for child in folders.pop().iterdir():
      (folders if child.is_dir() else files).append(child)
  digest = hashlib.sha256()
  for name in sorted(files, key=lambda f: os.path.relpath(os.fspath(f), os.fspath(root))):
    digest.update(os.path.relpath(os.fspath(name), os.fspath(root)).encode("utf-8") + b"\0")
    with name.open("rb") as handle:
      for block in iter(lambda: handle.read(1 << 20), b""):
        digest.update(block)
  return digest.hexdigest()


def file_sha256(path) -> str:
  """sha256 of one local file, remembered across runs under ~/.cache/nossbench/sha256 (or
  $XDG_CACHE_HOME) keyed by the file's real path, size and modification time: a multi-GB checkpoint is
  read once, not on every run; a changed file has another size or mtime and is hashed again."""
  real = os.path.realpath(path)
  stat = os.stat(real)
  key = hashlib.sha256(f"{real}\0{stat.st_size}\0{stat.st_mtime_ns}".encode("utf-8")).hexdigest()
  store = os.path.join(os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "nossbench", "sha256")
  remembered = os.path.join(store, key)
  try:
    with open(remembered, encoding="ascii") as handle:
      digest = handle.read().strip()
    if re.fullmatch(r"[0-9a-f]{64}", digest):
      return digest
  except OSError:
    pass
  with open(real, "rb") as handle:
    digest = hashlib.file_digest(handle, "sha256").hexdigest()
  try:
    os.makedirs(store, exist_ok=True)
    temporary = f"{remembered}.{os.getpid()}.tmp"
    with open(temporary, "w", encoding="ascii") as handle:
      handle.write(digest)
    os.replace(temporary, remembered)
  except OSError:  # a read-only home: hash again next time
    pass
  return digest
