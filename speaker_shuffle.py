"""The speaker-disjoint split that TFDS's own NOSS builders (crema_d, savee, dementiabank, voxforge) use.

Unique speaker ids are sorted, shuffled by `numpy.random.RandomState(seed)`, and cut at cumulative
fractions: split k takes the speakers from `int(cum_k-1 * n)` to `int(cum_k * n)`, and the last split
takes the rest. Reproducing it exactly keeps our splits identical to the published ones.

At the top of the package, like `userfiles`: the builders split by it and `splits` reproduces it, and
neither folder imports the other.
"""

from collections.abc import Iterable, Sequence

import numpy as np

NOSS_FRACTIONS = (("train", 0.7), ("validation", 0.1), ("test", 0.2))
SAVEE_FRACTIONS = (("train", 0.6), ("validation", 0.2), ("test", 0.2))


def split_boundaries(fractions: Sequence[tuple[str, float]], n_items: int) -> list[tuple[str, int, int]]:
  """Returns (split, start, end) index ranges over n_items for cumulative fractions."""
  if len(fractions) > n_items:
    raise ValueError(f"cannot cut {n_items} speakers into {len(fractions)} splits: need at least one each")
  if abs(sum(f for _, f in fractions) - 1.0) > 1e-8:
    raise ValueError(f"split fractions must sum to 1, got {list(fractions)}")
  bounds, cumulative = [], 0.0
  for name, fraction in fractions:
    start = int(cumulative * n_items)
    cumulative += fraction
    bounds.append((name, start, int(cumulative * n_items)))
  name, start, _ = bounds[-1]
  bounds[-1] = (name, start, n_items)
  return bounds


def assign_speakers(speakers: Iterable[str], fractions: Sequence[tuple[str, float]] = NOSS_FRACTIONS,
                    seed: int = 0) -> dict[str, str]:
  """Maps every unique speaker id to its split name."""
  order = sorted(set(speakers))
  np.random.RandomState(seed).shuffle(order)
  return {speaker: name
          for name, start, end in split_boundaries(fractions, len(order))
          for speaker in order[start:end]}
