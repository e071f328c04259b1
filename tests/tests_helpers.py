"""Small measurements shared by tests."""

import numpy as np


def dominant_frequency(samples: np.ndarray, rate: int) -> float:
  spectrum = np.abs(np.fft.rfft(samples.astype(np.float64) * np.hanning(len(samples))))
  return float(np.fft.rfftfreq(len(samples), 1 / rate)[np.argmax(spectrum)])
