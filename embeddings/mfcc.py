"""`mfcc13`, `mfcc20`, `mfcc40`: MFCCs of the `logmel` frontend (64 bands, 25 ms / 10 ms, 125-7500 Hz),
the DCT-II of the log-mel frames (tf.signal.mfccs_from_log_mel_spectrograms), first N coefficients.

The NOSS paper reports its Mel/MFCC baseline as the best of a small search over such settings; the
three coefficient counts here are the usual speech settings (13 as in ASR front ends, 20, 40), each its
own name so each gets its own cache entries. Padding is the frontend's (see logmel.py)."""

from nossbench.embeddings import device as device_lib
from nossbench.embeddings.base import stack_padded
from nossbench.embeddings.logmel import LogMel

class Mfcc(LogMel):
  layers = ("mfcc",)

  def __init__(self, device: str = "cpu", num_coefficients: int = 13):
    super().__init__(device)
    self.num_coefficients = num_coefficients
    self.name = f"mfcc{num_coefficients}"

  def config(self) -> dict:
    return {**super().config(), "num_coefficients": self.num_coefficients}

  def embed(self, waveforms, layers=("mfcc",)):
    import tensorflow as tf  # pylint: disable=import-outside-toplevel

    self.check_layers(layers)
    with tf.device(device_lib.tensorflow_device(self.device)):
      logmel = self.log_mel(stack_padded(waveforms))
      mfcc = tf.signal.mfccs_from_log_mel_spectrograms(logmel)[..., :self.num_coefficients].numpy()
    return {"mfcc": [mfcc[row, :self.num_frames(len(wave))] for row, wave in enumerate(waveforms)]}
