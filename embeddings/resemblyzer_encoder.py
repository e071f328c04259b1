"""`resemblyzer`: Resemblyzer's GE2E speaker encoder (3-layer LSTM on 40-band mel frames, weights shipped
in the `resemblyzer` package), on torch.

As Resemblyzer's own `embed_utterance`, a clip is cut into partial utterances of 160 mel frames (1.6 s),
1.3 per second, the last kept when it is at least 75% covered; a clip shorter than 1.6 s is zero-padded at
the end to one partial. Waveforms get Resemblyzer's volume normalisation (raised to -30 dBFS, never
lowered; digital silence is left as it is) but not its VAD silence trimming, which can remove a short clip entirely.

Layers, one forward pass over every partial of every clip in the batch:
- `lstm1`, `lstm2`, `lstm3`: each LSTM layer's final hidden state, one frame per partial (256);
- `partial`: the d-vector of each partial (ReLU of a linear map, L2-normalised; 256);
- `utterance`: the L2-normalised mean of the partials, one frame per clip: `embed_utterance`'s output.
"""

import numpy as np

from nossbench.embeddings import device as device_lib
from nossbench.embeddings.base import EmbeddingModel, file_digest, require

RATE = 1.3
MIN_COVERAGE = 0.75
TARGET_DBFS = -30


class Resemblyzer(EmbeddingModel):
  name = "resemblyzer"
  sample_rate = 16000
  layers = ("lstm1", "lstm2", "lstm3", "partial", "utterance")
  framework = "torch"

  def __init__(self, device: str = "cpu"):
    super().__init__(device)
    require("torch", self.name)
    resemblyzer = require("resemblyzer", self.name)
    self.audio = resemblyzer.audio
    self.encoder = resemblyzer.VoiceEncoder(device=device_lib.torch_device(device), verbose=False)
    self.encoder.eval()
    self.weights_file = resemblyzer.voice_encoder.Path(resemblyzer.voice_encoder.__file__).parent / "pretrained.pt"

  def config(self) -> dict:
    return {"rate": RATE, "min_coverage": MIN_COVERAGE, "normalize_volume_dbfs": TARGET_DBFS,
            "trim_silences": False}

  def weights_digest(self) -> str:
    return file_digest(self.weights_file)

  def partials(self, wave: np.ndarray) -> np.ndarray:
    """[partials, 160, 40] mel frames of one clip, as embed_utterance cuts them."""
    wave = np.asarray(wave, np.float32)
    if np.any(wave):  # digital silence has no level to raise
      wave = self.audio.normalize_volume(wave, TARGET_DBFS, increase_only=True)
    wave_slices, mel_slices = self.encoder.compute_partial_slices(len(wave), RATE, MIN_COVERAGE)
    if wave_slices[-1].stop > len(wave):
      wave = np.pad(wave, (0, wave_slices[-1].stop - len(wave)))
    mel = self.audio.wav_to_mel_spectrogram(wave)
    return np.stack([mel[s] for s in mel_slices])

  def embed(self, waveforms, layers=None):
    import torch  # pylint: disable=import-outside-toplevel

    layers = self.check_layers(layers or self.layers)
    mels = [self.partials(wave) for wave in waveforms]
    bounds = np.cumsum([0] + [len(m) for m in mels])
    with torch.inference_mode():
      batch = torch.from_numpy(np.concatenate(mels)).to(self.encoder.device)
      _, (hidden, _) = self.encoder.lstm(batch)
      raw = self.encoder.relu(self.encoder.linear(hidden[-1]))
      partial = raw / torch.norm(raw, dim=1, keepdim=True)
      frames = {f"lstm{i + 1}": hidden[i].cpu().numpy() for i in range(hidden.shape[0])}
      frames["partial"] = partial.cpu().numpy()
    outputs = {layer: [frames[layer][bounds[i]:bounds[i + 1]] for i in range(len(waveforms))]
               for layer in layers if layer != "utterance"}
    if "utterance" in layers:
      means = [frames["partial"][bounds[i]:bounds[i + 1]].mean(axis=0) for i in range(len(waveforms))]
      outputs["utterance"] = [(m / np.linalg.norm(m))[None].astype(np.float32) for m in means]
    return {layer: outputs[layer] for layer in layers}
