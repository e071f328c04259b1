"""Embedding normalisations of the NOSS reference grid: per-example L2, per-speaker z-scores, both, neither.

Per-speaker statistics (mean and standard deviation of each dimension over that speaker's examples) use
no labels. They are computed over the rows handed in; the reference computes them per split file, which
is the same thing when splits are speaker-disjoint. A constant dimension keeps a standard deviation of 1
(as in the reference); an all-zero example keeps its zeros under L2 (the reference would divide by zero).
"""

import numpy as np

NORMALIZATIONS = ("none", "l2", "speaker", "l2+speaker")


def l2(x: np.ndarray) -> np.ndarray:
  norms = np.linalg.norm(x, axis=1, keepdims=True)
  return x / np.where(norms == 0, 1, norms).astype(x.dtype)


def per_speaker(x: np.ndarray, speakers: np.ndarray) -> np.ndarray:
  """z-scores of each dimension within each speaker's rows (rows keep their order and position)."""
  out = np.empty_like(x)
  order = np.argsort(speakers, kind="stable")
  ordered = speakers[order]
  boundaries = np.flatnonzero(ordered[1:] != ordered[:-1]) + 1
  for rows in np.split(order, boundaries):
    block = x[rows]
    block -= block.mean(axis=0)
    std = block.std(axis=0)
    std[std == 0] = 1
    block /= std
    out[rows] = block
  return out


def apply(x: np.ndarray, name: str, speakers: np.ndarray | None) -> np.ndarray:
  """A normalised float32 copy of x [N, D]; `speakers` [N] (any sortable ids) is needed for `speaker`."""
  if name not in NORMALIZATIONS:
    raise ValueError(f"unknown normalisation {name!r}; known: {', '.join(NORMALIZATIONS)}")
  out = np.array(x, dtype=np.float32)
  if name.startswith("l2"):
    out = l2(out)
  if name.endswith("speaker"):
    out = per_speaker(out, speakers)
  return out
