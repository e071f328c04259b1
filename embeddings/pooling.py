"""Pooling of frame-level outputs into one vector per clip."""

import numpy as np

POOLINGS = ("mean", "mean+std")


def pool(frames: np.ndarray, method: str) -> np.ndarray:
  """frames: [time, dims]. `mean` averages over time (the NOSS protocol); `mean+std` appends the std."""
  frames = frames.reshape(frames.shape[0], -1).astype(np.float32)
  if method == "mean":
    return frames.mean(axis=0)
  if method == "mean+std":
    return np.concatenate([frames.mean(axis=0), frames.std(axis=0)])
  raise ValueError(f"unknown pooling {method!r}; choose one of {', '.join(POOLINGS)}")
