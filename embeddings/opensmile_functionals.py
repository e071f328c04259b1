"""`opensmile_compare16` and `opensmile_egemaps`: openSMILE's ComParE 2016 (6,373 values; the NOSS
paper's OpenSmile baseline) and eGeMAPS v02 (88 values) functionals, one vector per clip (one frame).

openSMILE leaves some functionals undefined (NaN) on clips under 60 ms, so clips shorter than 0.1 s are
zero-padded at the end to 0.1 s. openSMILE runs on the CPU only, one clip at a time."""

import ctypes
import glob
import importlib.util
import os
import sys

import numpy as np

from nossbench.embeddings.base import EmbeddingModel, pad_to, require

FEATURE_SETS = {"opensmile_compare16": "ComParE_2016", "opensmile_egemaps": "eGeMAPSv02"}
MIN_SECONDS = 0.1


def import_opensmile(model: str):
  """Imports opensmile with its native library bound to its own symbols first (RTLD_DEEPBIND).

  TensorFlow exports an FFT routine (`rdft`) of the same name as openSMILE's own, but a different
  variant: with TensorFlow loaded first, openSMILE would call TensorFlow's and crash (SIGSEGV in
  `cTransformFFT`, or a corrupted heap). Loading the library once with DEEPBIND before `opensmile` loads
  it (dlopen then returns this handle) keeps its calls inside it; so nothing in nossbench imports
  opensmile but this function."""
  if "opensmile" not in sys.modules and hasattr(os, "RTLD_DEEPBIND"):
    spec = importlib.util.find_spec("opensmile")
    if spec is not None and spec.submodule_search_locations:
      pattern = os.path.join(spec.submodule_search_locations[0], "core", "bin", "*", "libSMILEapi.so")
      for library in sorted(glob.glob(pattern)):
        ctypes.CDLL(library, mode=os.RTLD_DEEPBIND | os.RTLD_LOCAL)
  return require("opensmile", model)


class OpenSmileFunctionals(EmbeddingModel):
  sample_rate = 16000
  layers = ("functionals",)

  def __init__(self, device: str = "cpu", name: str = "opensmile_compare16"):
    super().__init__(device)
    self.name, self.feature_set = name, FEATURE_SETS[name]
    opensmile = import_opensmile(name)
    self.version = opensmile.__version__
    self.smile = opensmile.Smile(feature_set=opensmile.FeatureSet[self.feature_set],
                                 feature_level=opensmile.FeatureLevel.Functionals)

  def config(self) -> dict:
    return {"feature_set": self.feature_set, "feature_level": "Functionals", "opensmile": self.version,
            "min_seconds": MIN_SECONDS}

  def embed(self, waveforms, layers=("functionals",)):
    self.check_layers(layers)
    minimum = int(MIN_SECONDS * self.sample_rate)
    return {"functionals": [
        self.smile.process_signal(pad_to(wave, minimum), self.sample_rate).to_numpy(np.float32)
        for wave in waveforms]}
