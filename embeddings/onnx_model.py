"""`onnx:PATH`: any ONNX model whose input is audio, run with onnxruntime (CUDA provider on `gpu`).

Options (see adapters.py for `rate`, `min_seconds`, `outputs`): `input=NAME` when the model has several
inputs. Whether the model takes a batch is read from its input: rank 2 is [batch, samples], rank 1 one
clip per call. The layers are the model's declared outputs.
    onnx:/models/encoder.onnx#rate=16000&outputs=hidden
"""

import numpy as np
from etils import epath

from nossbench import UserError
from nossbench.embeddings import device as device_lib
from nossbench.embeddings.adapters import Adapter
from nossbench.embeddings.base import file_digest, require


class OnnxModel(Adapter):
  kind = "onnx"
  options = {"input": ""}
  framework = "onnxruntime"

  def load(self):
    onnxruntime = require("onnxruntime", self.name)
    if not epath.Path(self.location).is_file():
      raise UserError(f"{self.name}: no ONNX file at {self.location}")
    self.session = onnxruntime.InferenceSession(epath.Path(self.location).read_bytes(),
                                                providers=device_lib.onnx_providers(self.device))
    inputs = {i.name: i for i in self.session.get_inputs()}
    name = self.settings["input"] or (next(iter(inputs)) if len(inputs) == 1 else "")
    if name not in inputs:
      raise UserError(f"{self.name}: choose the audio input with #input=NAME among {', '.join(inputs)}")
    self.settings["input"] = name
    rank = len(inputs[name].shape)
    if rank not in (1, 2):
      raise UserError(f"{self.name}: input {name} has rank {rank}; audio must be [batch, samples] or [samples]")
    self.batched = rank == 2
    self.output_names = [o.name for o in self.session.get_outputs()]

  def weights_digest(self) -> str:
    return file_digest(self.location)

  def forward(self, waveforms, layers):
    audio = np.stack(waveforms) if self.batched else waveforms[0]
    names = list(layers) if layers is not None else self.output_names
    values = self.session.run(names, {self.settings["input"]: audio.astype(np.float32)})
    return {name: np.asarray(value, np.float32) for name, value in zip(names, values)}
