"""Stable hashes of ids: numbers that depend only on their inputs, never on `hash()` or the machine.

Used wherever a split must not move when other data is added (`--hash-assign`, per-speaker shuffles, the
fallback splits of birdsong and tut18). At the top of the package, like `userfiles`: `builders` and
`splits` both use it, and neither folder imports the other.
"""

import hashlib


def _digest(parts) -> bytes:
  return hashlib.sha256("/".join(str(p) for p in parts).encode("utf-8")).digest()


def stable_uint32(*parts) -> int:
  """A 32-bit seed for numpy.random.RandomState from, e.g., (seed, repeat, speaker)."""
  return int.from_bytes(_digest(parts)[:4], "little")


def stable_unit(*parts) -> float:
  """A number in [0, 1) spread uniformly over its inputs."""
  return int.from_bytes(_digest(parts)[:8], "little") / 2.0**64
