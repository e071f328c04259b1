"""`logmel`: the paper's log mel-spectrogram baseline, on TRILL's frontend settings (64 bands, 25 ms
window, 10 ms hop, 125-7500 Hz), computed with tf.signal in one batched pass.

Frames are `pad_end` STFT frames: a clip of n samples gives ceil(n / hop) frames, so a clip shorter than
one window still gives one frame (its window zero-padded at the end)."""

import numpy as np

from nossbench.embeddings import device as device_lib
from nossbench.embeddings.base import EmbeddingModel, stack_padded


class LogMel(EmbeddingModel):
  name = "logmel"
  sample_rate = 16000
  layers = ("logmel",)
  framework = "tensorflow"

  def __init__(self, device: str = "cpu", num_mel_bins: int = 64, window_s: float = 0.025,
               hop_s: float = 0.010, lower_hz: float = 125.0, upper_hz: float = 7500.0,
               log_offset: float = 1e-3):
    super().__init__(device)
    self.num_mel_bins, self.lower_hz, self.upper_hz, self.log_offset = num_mel_bins, lower_hz, upper_hz, log_offset
    self.frame_length = int(round(window_s * self.sample_rate))
    self.frame_step = int(round(hop_s * self.sample_rate))
    self.fft_length = 1 << (self.frame_length - 1).bit_length()

  def config(self) -> dict:
    return {"num_mel_bins": self.num_mel_bins, "frame_length": self.frame_length,
            "frame_step": self.frame_step, "fft_length": self.fft_length, "lower_hz": self.lower_hz,
            "upper_hz": self.upper_hz, "log_offset": self.log_offset, "window": "hann"}

  def num_frames(self, num_samples: int) -> int:
    return max(1, -(-num_samples // self.frame_step))

  def log_mel(self, batch):
    """[batch, samples] -> [batch, frames, bins] tf.Tensor; reused by the models built on this frontend."""
    import tensorflow as tf  # pylint: disable=import-outside-toplevel

    stft = tf.signal.stft(batch, self.frame_length, self.frame_step, self.fft_length, pad_end=True)
    mel_matrix = tf.signal.linear_to_mel_weight_matrix(
        self.num_mel_bins, self.fft_length // 2 + 1, self.sample_rate, self.lower_hz, self.upper_hz)
    return tf.math.log(tf.matmul(tf.abs(stft), mel_matrix) + self.log_offset)

  def embed(self, waveforms, layers=("logmel",)):
    import tensorflow as tf  # pylint: disable=import-outside-toplevel

    self.check_layers(layers)
    with tf.device(device_lib.tensorflow_device(self.device)):
      logmel = self.log_mel(stack_padded(waveforms)).numpy()
    return {"logmel": [logmel[row, :self.num_frames(len(wave))] for row, wave in enumerate(waveforms)]}
