"""Small synthetic tasks with known structure for the scoring tests, written in the real manifest format."""

import numpy as np
import pandas as pd

from nossbench.splits import manifest

LABELS = ("a", "b", "c")


def table(speakers: int = 6, per_speaker: int = 20, splits=("train",) * 4 + ("validation", "test"),
          labels=LABELS) -> pd.DataFrame:
  """`per_speaker` examples for each speaker, labels cycling, each speaker in one split."""
  rows = [(f"spk{s}_{i:02d}", labels[i % len(labels)], f"spk{s}", splits[s % len(splits)])
          for s in range(speakers) for i in range(per_speaker)]
  return pd.DataFrame(rows, columns=manifest.columns("canonical"))


def embeddings(rows: pd.DataFrame, dims: int = 8, signal: float = 3.0, speaker_offset: float = 0.0,
               seed: int = 0) -> np.ndarray:
  """A centre per label (scaled by `signal`), plus a per-speaker offset, plus unit noise."""
  rng = np.random.RandomState(seed)
  centres = {label: rng.randn(dims) * signal for label in sorted(set(rows["label"]))}
  offsets = {s: rng.randn(dims) * speaker_offset for s in sorted(set(rows["speaker_id"]))}
  return np.stack([centres[l] + offsets[s] + rng.randn(dims)
                   for l, s in zip(rows["label"], rows["speaker_id"])]).astype(np.float32)


def write(root, task: str, scheme: str, rows: pd.DataFrame):
  manifest.write_manifest(root, task, scheme, rows, {"seed": 0})
  return root


def small_task(tmp_path, task: str = "noss/crema_d"):
  """A task's canonical manifest under tmp_path/splits: (splits root, its table, embeddings that fit it)."""
  rows = table()
  write(tmp_path / "splits", task, "canonical", rows)
  return tmp_path / "splits", rows, embeddings(rows)


def score(tmp_path, splits, *inputs, extra=(), task: str = "noss/crema_d") -> int:
  """score-submission in this process (logistic regression only), reports in tmp_path/out: its exit code."""
  from nossbench.scoring import cli  # pylint: disable=import-outside-toplevel

  return cli.main([*map(str, inputs), "--task", task, "--splits", str(splits), "--out", str(tmp_path / "out"),
                   "--models", "logreg", *extra])
