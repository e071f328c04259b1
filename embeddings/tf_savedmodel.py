"""`savedmodel:PATH` and `tfhub:HANDLE`: any TensorFlow SavedModel (TRILL, TRILL-distilled, FRILL,
TRILLsson, YAMNet, VGGish, ...), offline.

Options (after `#`, joined with `&`; see adapters.py for the shared ones):
- `signature=NAME`: call that signature (its outputs are the layers); default: call the object itself,
  or its only signature when it is not callable (a Keras model saved with tf.saved_model.save).
- `input=NAME`: the keyword the waveform goes to; default: positional, or a signature's only input.
- `rate_input=NAME`: also pass the sample rate under that keyword (TRILL: `sample_rate`).
- `batched=0`: the model takes one 1-D clip per call (YAMNet, VGGish); default 1: [batch, samples].
- `rate=16000`, `min_seconds=0`, `outputs=a,b` (the layers to expose).

`tfhub:HANDLE` never downloads: HANDLE is a local SavedModel folder, or a URL looked up in TF Hub's cache
as `tensorflow_hub` lays it out: `$TFHUB_CACHE_DIR/<sha1 of the URL>/`. Fill the cache on a machine with
network access with `TFHUB_CACHE_DIR=DIR python -c "import tensorflow_hub as hub; hub.load('URL')"`.
Examples:
    tfhub:https://tfhub.dev/google/nonsemantic-speech-benchmark/trill/3#input=samples&rate_input=sample_rate&outputs=layer19
    tfhub:https://tfhub.dev/google/yamnet/1#batched=0&outputs=output1
    savedmodel:/models/frill#outputs=embedding
"""

import hashlib
import os
import tempfile

from nossbench import UserError
from nossbench.embeddings import device as device_lib
from nossbench.embeddings.adapters import Adapter, name_outputs
from nossbench.embeddings.base import file_digest


class SavedModel(Adapter):
  kind = "savedmodel"
  options = {"signature": "", "input": "", "rate_input": "", "batched": "1"}
  framework = "tensorflow"

  def model_dir(self) -> str:
    return self.location

  def load(self):
    import tensorflow as tf  # pylint: disable=import-outside-toplevel

    self.path = self.model_dir()
    if not tf.io.gfile.exists(os.path.join(self.path, "saved_model.pb")):
      raise UserError(f"{self.name}: no SavedModel at {self.path} (saved_model.pb is missing)")
    self.batched = self.settings["batched"] != "0"
    self.tf_device = device_lib.tensorflow_device(self.device)
    with tf.device(self.tf_device):
      self.loaded = tf.saved_model.load(self.path)
    signature = self.settings["signature"]
    if not signature and not callable(self.loaded) and len(self.loaded.signatures) == 1:
      signature = self.settings["signature"] = next(iter(self.loaded.signatures))
    self.function = self.loaded
    if signature:
      if signature not in self.loaded.signatures:
        raise UserError(f"{self.name}: no signature {signature!r}; it has "
                        f"{', '.join(sorted(self.loaded.signatures)) or 'none'}")
      self.function = self.loaded.signatures[signature]
      inputs = sorted(set(self.function.structured_input_signature[1]) - {self.settings["rate_input"]})
      if not self.settings["input"]:
        if len(inputs) != 1:
          raise UserError(f"{self.name}: signature {signature!r} takes {', '.join(inputs)}; choose the "
                          "waveform's with #input=NAME")
        self.settings["input"] = inputs[0]
    elif not callable(self.loaded):
      raise UserError(f"{self.name}: the SavedModel is not callable; choose one of its signatures with "
                      f"#signature=NAME ({', '.join(sorted(self.loaded.signatures)) or 'none'})")

  def identity(self) -> str:
    return "savedmodel"  # the same SavedModel through tfhub: keeps its fingerprint

  def weights_digest(self) -> str:
    return file_digest(self.path)

  def forward(self, waveforms, layers):
    import numpy as np  # pylint: disable=import-outside-toplevel
    import tensorflow as tf  # pylint: disable=import-outside-toplevel

    audio = tf.constant(np.stack(waveforms) if self.batched else waveforms[0])
    kwargs = {}
    if self.settings["rate_input"]:
      kwargs[self.settings["rate_input"]] = tf.constant(self.sample_rate)
    with tf.device(self.tf_device):
      if self.settings["input"]:
        result = self.function(**{self.settings["input"]: audio}, **kwargs)
      else:
        result = self.function(audio, **kwargs)
    outputs = name_outputs(result)
    return outputs if layers is None else {layer: outputs[layer] for layer in layers}


def tfhub_cache_dir() -> str:
  """TF Hub's cache folder: TFHUB_CACHE_DIR, else the default tensorflow_hub uses."""
  return os.environ.get("TFHUB_CACHE_DIR") or os.path.join(tempfile.gettempdir(), "tfhub_modules")


class TfHub(SavedModel):
  kind = "tfhub"

  def model_dir(self) -> str:
    import tensorflow as tf  # pylint: disable=import-outside-toplevel

    handle = self.location
    if not handle.startswith(("http://", "https://")):
      return handle
    folder = os.path.join(tfhub_cache_dir(), hashlib.sha1(handle.encode("utf-8")).hexdigest())
    if not tf.io.gfile.isdir(folder) or not tf.io.gfile.listdir(folder):
      raise UserError(
          f"{handle} is not in the TF Hub cache (looked for {folder}; models are never downloaded here). "
          f"On a machine with network access run: TFHUB_CACHE_DIR={tfhub_cache_dir()} python -c "
          f"\"import tensorflow_hub as hub; hub.load('{handle}')\" and copy that folder here, or set "
          "TFHUB_CACHE_DIR to the cache that holds it")
    return folder
