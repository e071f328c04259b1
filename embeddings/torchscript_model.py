"""`torchscript:PATH`: any TorchScript module (torch.jit.save) whose forward takes audio.

Options (see adapters.py for `rate`, `min_seconds`, `outputs`): `batched=0` when forward takes one 1-D
clip; default 1: a [batch, samples] float tensor. The layers are what forward returns: the keys of a
dict, `output0`... of a tuple, or `output`.
    torchscript:/models/encoder.pt#outputs=hidden
"""

import io
import warnings

import numpy as np
from etils import epath

from nossbench import UserError
from nossbench.embeddings import device as device_lib
from nossbench.embeddings.adapters import Adapter, name_outputs
from nossbench.embeddings.base import file_digest, require


class TorchScriptModel(Adapter):
  kind = "torchscript"
  options = {"batched": "1"}
  framework = "torch"

  def load(self):
    torch = require("torch", self.name)
    if not epath.Path(self.location).is_file():
      raise UserError(f"{self.name}: no TorchScript file at {self.location}")
    self.batched = self.settings["batched"] != "0"
    self.torch_device = device_lib.torch_device(self.device)
    try:
      with warnings.catch_warnings():  # torch 2.9+ calls TorchScript deprecated; it still loads
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        self.module = torch.jit.load(io.BytesIO(epath.Path(self.location).read_bytes()),
                                     map_location=self.torch_device)
    except RuntimeError as error:
      raise UserError(f"{self.name}: not a TorchScript file ({str(error).splitlines()[0]})") from None
    self.module.eval()

  def weights_digest(self) -> str:
    return file_digest(self.location)

  def forward(self, waveforms, layers):
    import torch  # pylint: disable=import-outside-toplevel

    audio = np.stack(waveforms) if self.batched else waveforms[0]
    with torch.inference_mode():
      outputs = name_outputs(self.module(torch.from_numpy(audio).to(self.torch_device)))
    return outputs if layers is None else {layer: outputs[layer] for layer in layers}
