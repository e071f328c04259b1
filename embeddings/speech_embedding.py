"""`speech_embedding`: Google's speech_embedding model (a keyword-spotting embedding trained on speech),
as the two ONNX files shipped inside `openwakeword==0.4.0`: its mel frontend (`melspectrogram.onnx`: 32
bands on windows of 512 samples every 160, i.e. 32 ms every 10 ms, no padding) and the embedding network
(`embedding_model.onnx`: 76 mel frames = 0.775 s in, one 96-dim vector out, every 8 frames = 80 ms).

Layers: `melspectrogram` (32 per 10 ms frame, after openwakeword's rescaling x/10 + 2, which brings the
ONNX frontend close to the TensorFlow one the network was trained with) and `embedding` (96 per 80 ms).
The frontend takes int16-scaled samples, so waveforms are multiplied by 32767; its output for a clip
changes with the other clips of a batch (a level floor taken over the whole input), so it runs one clip
at a time. A clip shorter than one
embedding window (12,512 samples, 0.78 s) is zero-padded at the end to one window; otherwise a trailing
part shorter than a window gives no embedding frame (it still has its mel frames).
"""

import importlib.resources

import numpy as np

from nossbench.embeddings import device as device_lib
from nossbench.embeddings.base import EmbeddingModel, file_digest, pad_to, require

MEL_WINDOW = 512
MEL_HOP = 160
EMBED_FRAMES = 76
EMBED_HOP = 8
MIN_SAMPLES = MEL_WINDOW + (EMBED_FRAMES - 1) * MEL_HOP


class SpeechEmbedding(EmbeddingModel):
  name = "speech_embedding"
  sample_rate = 16000
  layers = ("melspectrogram", "embedding")
  framework = "onnxruntime"

  def __init__(self, device: str = "cpu"):
    super().__init__(device)
    onnxruntime = require("onnxruntime", self.name)
    require("openwakeword", self.name)
    models = importlib.resources.files("openwakeword") / "resources" / "models"
    self.files = {"melspectrogram": str(models / "melspectrogram.onnx"),
                  "embedding": str(models / "embedding_model.onnx")}
    providers = device_lib.onnx_providers(device)
    self.sessions = {layer: onnxruntime.InferenceSession(path, providers=providers)
                     for layer, path in self.files.items()}

  def config(self) -> dict:
    return {"package": "openwakeword==0.4.0", "mel_rescale": "x/10+2", "input_scale": 32767,
            "embed_frames": EMBED_FRAMES, "embed_hop": EMBED_HOP, "min_samples": MIN_SAMPLES}

  def weights_digest(self) -> str:
    return "+".join(file_digest(self.files[layer]) for layer in sorted(self.files))

  def embed(self, waveforms, layers=None):
    layers = self.check_layers(layers or self.layers)
    # One clip per frontend call: its dB floor is set by the loudest frame of the whole input batch, so
    # a batch would make a clip's frames depend on its neighbours. The network is batched.
    mels = [self.sessions["melspectrogram"].run(None, {"input": pad_to(wave, MIN_SAMPLES)[None] * 32767.0})[0]
            [0, 0].astype(np.float32) / 10.0 + 2.0 for wave in waveforms]
    outputs = {"melspectrogram": mels}
    if "embedding" in layers:
      windows, starts = [], []
      for mel in mels:
        offsets = range(0, len(mel) - EMBED_FRAMES + 1, EMBED_HOP)
        windows.extend(mel[start:start + EMBED_FRAMES] for start in offsets)
        starts.append(len(offsets))
      result = self.sessions["embedding"].run(None, {"input_1": np.stack(windows)[..., None].astype(np.float32)})[0]
      result = result.reshape(len(windows), -1)
      bounds = np.cumsum([0] + starts)
      outputs["embedding"] = [result[bounds[i]:bounds[i + 1]] for i in range(len(waveforms))]
    return {layer: outputs[layer] for layer in layers}
