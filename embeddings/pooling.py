"""Pooling of frame-level outputs into one vector per clip."""

import numpy as np

POOLINGS = ("mean", "mean+std", "none")


def pool(frames: np.ndarray, method: str) -> np.ndarray:
  """frames: [time, ...]. `mean` averages over time (the NOSS protocol); `mean+std` appends the std;
  `none` keeps every frame (the caller stores the shape). Dimensions past the second are flattened for
  `mean` and `mean+std`."""
  frames = np.asarray(frames, np.float32)
  if frames.ndim == 0 or frames.shape[0] == 0:
    raise ValueError(f"cannot pool an output of shape {frames.shape}: it has no frames")
  if method == "none":
    return frames
  frames = frames.reshape(frames.shape[0], -1)
  if method == "mean":
    return frames.mean(axis=0)
  if method == "mean+std":
    return np.concatenate([frames.mean(axis=0), frames.std(axis=0)])
  raise ValueError(f"unknown pooling {method!r}; choose one of {', '.join(POOLINGS)}")
