"""Scoring speed: the full NOSS probe grid on a CREMA-D-sized submission, against the reference approach.

  .venv/bin/python benchmarks/scoring_speed.py [--examples 7442] [--dims 2048] [--jobs -1]

Input: synthetic embeddings with CREMA-D's shape (7,442 clips of 91 speakers, 6 emotions, float32),
made of an emotion direction, a speaker offset and noise, so the probes have something to find; the
canonical split cuts the shuffled speakers at 0.7 / 0.8 as TFDS does.

- reference approach (the NOSS code's way, eval_embedding/sklearn/train_and_eval_sklearn.py): for each
  of the 20 configurations (5 models x 4 normalisations), one after another, read the three split files
  of tf.train.Example records (its reader parses every record into Python lists), normalise each split
  (per-speaker statistics per split file), fit a fresh estimator with scikit-learn's default threading,
  predict validation and test.
- nossbench: what score-submission does: read and validate the .npz submission once, then
  `protocols.canonical` (normalised variants computed once and memory-mapped, fits in parallel
  single-threaded workers, slowest first, forests on column-major rows).
Both choose on validation accuracy; every configuration's validation metrics, the choice and its test
metrics must be identical, or the script fails. Prints a Markdown table row per approach.
"""

import argparse
import os
import platform
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.exceptions import ConvergenceWarning

from nossbench.scoring import grid, metrics, models, normalization, protocols, submission

SPLITS = ("train", "validation", "test")


def crema_d_like(examples: int, dims: int, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
  rng = np.random.RandomState(seed)
  speakers = np.array([str(1001 + s) for s in range(91)])
  speaker = speakers[np.arange(examples) % 91]
  label = np.array(["NEU", "HAP", "SAD", "ANG", "FEA", "DIS"])[rng.randint(0, 6, examples)]
  order = np.random.RandomState(0).permutation(speakers)
  split_of = {s: ("train" if i < int(0.7 * 91) else "validation" if i < int(0.8 * 91) else "test")
              for i, s in enumerate(order)}
  table = pd.DataFrame({"example_id": [f"{s}_{i:05d}" for i, s in enumerate(speaker)], "label": label,
                        "speaker_id": speaker, "split": [split_of[s] for s in speaker]})
  emotion = {name: rng.randn(dims) for name in np.unique(label)}
  offset = {s: rng.randn(dims) * 1.5 for s in speakers}
  x = np.stack([0.15 * emotion[l] + offset[s] for l, s in zip(label, speaker)]) + rng.randn(examples, dims) * 2
  return table, x.astype(np.float32)


EMBEDDING = "submission"  # the NOSS files' feature is `embedding/<name>`


def write_noss_files(task: protocols.Task, folder: Path) -> dict[str, Path]:
  """The embeddings as the NOSS reference pipeline leaves them: per split, a TFRecord of tf.train.Example
  with `embedding/<name>` (floats), `label` and `speaker_id` (bytes)."""
  import tensorflow as tf  # pylint: disable=import-outside-toplevel

  paths = {}
  for split in SPLITS:
    paths[split] = folder / f"{split}.tfrecord"
    rows = task.table.index[task.table["split"] == split]
    with tf.io.TFRecordWriter(str(paths[split])) as writer:
      for row in rows:
        feature = {f"embedding/{EMBEDDING}": tf.train.Feature(float_list=tf.train.FloatList(value=task.x[row])),
                   "label": tf.train.Feature(bytes_list=tf.train.BytesList(value=[task.table["label"][row].encode()])),
                   "speaker_id": tf.train.Feature(bytes_list=tf.train.BytesList(
                       value=[task.table["speaker_id"][row].encode()]))}
        writer.write(tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString())
  return paths


def read_noss_file(path: Path, label_list: list, norm: str) -> tuple[np.ndarray, np.ndarray]:
  """The reference's reader (sklearn_utils.tfexamples_to_nps): parse every record into Python lists,
  convert, normalise the file's embeddings (L2 per example, then per-speaker statistics of this file)."""
  import tensorflow as tf  # pylint: disable=import-outside-toplevel

  embeddings, labels, speakers = [], [], []
  for record in tf.compat.v1.io.tf_record_iterator(str(path)):
    feature = tf.train.Example.FromString(record).features.feature
    embeddings.append(feature[f"embedding/{EMBEDDING}"].float_list.value)
    labels.append(label_list.index(feature["label"].bytes_list.value[0].decode("utf-8")))
    speakers.append(feature["speaker_id"].bytes_list.value[0].decode("utf-8"))
  x = np.array(embeddings, np.float32)
  return normalization.apply(x, norm, np.array(speakers)), np.array(labels)


def reference(task: protocols.Task, files: dict[str, Path]) -> tuple[dict, float]:
  """The NOSS reference's way: for each configuration, from scratch and one after another, read and
  normalise the three split files, fit a fresh estimator, predict; then the same choice on validation.
  Returns (result, seconds)."""
  n_classes, start = len(task.classes), time.perf_counter()
  entries, test_metrics = [], []
  for model_name, norm in task.configs:
    data = {split: read_noss_file(files[split], task.classes, norm) for split in SPLITS}
    model = models.make(model_name, task.seed)
    with warnings.catch_warnings():
      warnings.simplefilter("ignore", ConvergenceWarning)
      model.fit(*data["train"])
    found = {}
    for name in ("validation", "test"):
      x, y = data[name]
      scores = np.zeros((len(y), n_classes))
      scores[:, model.classes_] = model.predict_proba(x)
      found[name] = metrics.classification(y, model.predict(x), scores, n_classes)
    entries.append({"model": model_name, "normalization": norm, "validation": found["validation"]})
    test_metrics.append(found["test"])
  seconds = time.perf_counter() - start
  best = max(range(len(entries)), key=lambda i: (entries[i]["validation"]["accuracy"], -i))
  return {"grid": entries, "model": entries[best]["model"], "normalization": entries[best]["normalization"],
          **test_metrics[best]}, seconds


def ours(table: pd.DataFrame, npz: Path, jobs: int) -> tuple[dict, float]:
  """score-submission's path: read and validate the .npz against the manifest once, then the grid."""
  start = time.perf_counter()
  x = submission.validate(str(npz), submission.read([npz]), table)
  task = protocols.Task("noss/crema_d", table, x, seed=0, jobs=jobs)
  with grid.Variants(task.x, task.speakers, task.normalizations) as variants:
    result = protocols.canonical(task, variants)
  return result, time.perf_counter() - start


def main():
  parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("--examples", type=int, default=7442)
  parser.add_argument("--dims", type=int, default=2048)
  parser.add_argument("--jobs", type=int, default=-1)
  args = parser.parse_args()
  table, x = crema_d_like(args.examples, args.dims)
  task = protocols.Task("noss/crema_d", table, x, seed=0, jobs=args.jobs)
  print(f"{args.examples} x {args.dims} float32, {len(task.configs)} configurations; {os.cpu_count()} cores, "
        f"{platform.processor() or platform.machine()}; load average before: {os.getloadavg()[0]:.1f}")
  with tempfile.TemporaryDirectory() as folder:
    files = write_noss_files(task, Path(folder))
    npz = Path(folder) / "submission.npz"
    np.savez(npz, example_id=table["example_id"].to_numpy(dtype=str), embedding=x)
    fast, fast_seconds = ours(table, npz, args.jobs)
    print(f"nossbench: {fast_seconds:.1f} s; chose {fast['model']}/{fast['normalization']}, "
          f"validation accuracy {fast['validation']['accuracy']:.4f}, test accuracy {fast['accuracy']:.4f}")
    slow, slow_seconds = reference(task, files)
  print(f"reference approach: {slow_seconds:.1f} s")
  different = [f"{a['model']}/{a['normalization']}" for a, b in zip(slow["grid"], fast["grid"])
               if a["validation"] != b["validation"]]
  different += [k for k, v in slow.items() if k != "grid" and fast[k] != v]
  if different:
    raise SystemExit(f"numbers differ: {different}")
  print("identical numbers: every configuration's validation metrics, the choice and its test metrics")
  print("\n| approach | wall s | ratio |\n|---|---|---|")
  print(f"| reference: each configuration from scratch, sequential | {slow_seconds:.1f} | 1.0 |")
  print(f"| nossbench grid (jobs {args.jobs}) | {fast_seconds:.1f} | {slow_seconds / fast_seconds:.2f} |")
  print(f"load average after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
  main()
