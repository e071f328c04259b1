"""`logmel`: the paper's log mel-spectrogram baseline, on TRILL's frontend settings (64 bands, 25 ms
window, 10 ms hop, 125-7500 Hz), computed with tf.signal in one batched pass."""

import numpy as np

from nossbench.embeddings.base import EmbeddingModel


class LogMel(EmbeddingModel):
  name = "logmel"
  sample_rate = 16000
  layers = ("logmel",)

  def __init__(self, num_mel_bins: int = 64, window_s: float = 0.025, hop_s: float = 0.010,
               lower_hz: float = 125.0, upper_hz: float = 7500.0, log_offset: float = 1e-3):
    self.num_mel_bins, self.lower_hz, self.upper_hz, self.log_offset = num_mel_bins, lower_hz, upper_hz, log_offset
    self.frame_length = int(round(window_s * self.sample_rate))
    self.frame_step = int(round(hop_s * self.sample_rate))
    self.fft_length = 1 << (self.frame_length - 1).bit_length()

  def config(self) -> dict:
    return {"num_mel_bins": self.num_mel_bins, "frame_length": self.frame_length,
            "frame_step": self.frame_step, "fft_length": self.fft_length, "lower_hz": self.lower_hz,
            "upper_hz": self.upper_hz, "log_offset": self.log_offset, "window": "hann"}

  def num_frames(self, num_samples: int) -> int:
    """Frames of a clip with `pad_end`: a clip shorter than one window still gives one frame."""
    return max(1, -(-num_samples // self.frame_step))

  def embed(self, waveforms, layers=("logmel",)):
    import tensorflow as tf  # pylint: disable=import-outside-toplevel

    longest = max(len(w) for w in waveforms)
    batch = np.zeros((len(waveforms), max(longest, 1)), np.float32)
    for row, wave in enumerate(waveforms):
      batch[row, :len(wave)] = wave
    stft = tf.signal.stft(batch, self.frame_length, self.frame_step, self.fft_length, pad_end=True)
    mel_matrix = tf.signal.linear_to_mel_weight_matrix(
        self.num_mel_bins, self.fft_length // 2 + 1, self.sample_rate, self.lower_hz, self.upper_hz)
    logmel = tf.math.log(tf.matmul(tf.abs(stft), mel_matrix) + self.log_offset).numpy()
    return {"logmel": [logmel[row, :self.num_frames(len(wave))] for row, wave in enumerate(waveforms)]}
