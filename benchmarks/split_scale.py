"""Split scale: `prepare-splits` on an AudioSet-sized task (2,000,000 examples), against TFDS's own reader.

  .venv/bin/python benchmarks/split_scale.py [--rows 2000000] [--workdir /tmp/nossbench-split-scale]

Input: a TFDS dataset `splitscale/audioset`, synthesized once into WORKDIR/tfds with TFDS's
external-TFRecord API (tests/splits_helpers.py): 527 classes, 1 to 3 labels an example (`labels`,
multi-label), 16-character ids, one of 50,000 uploader ids as `speaker_id`, audio of one sample (only
ids, labels and speakers are read), train / validation / test of ROWS - 40,000 / 20,000 / 20,000
examples, train in 16 shards.

Measured, each in a fresh process (wall and CPU seconds, peak RSS: that process's, from wait4):
- `prepare-splits splitscale/audioset`: the canonical manifest, ROWS rows;
- the same plus `--speaker-disjoint --repeats 1`: a second ROWS-row manifest (greedy stratification);
- baseline: the same table read through TFDS's `as_dataset` with PartialDecoding (the reader's
  fallback for non-TFRecord datasets, and its previous implementation), reading only.
Prints one Markdown table row per measurement; fails if a manifest has the wrong row count.
"""

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time

TASK = "splitscale/audioset"
N_CLASSES, N_SPEAKERS, TRAIN_SHARDS, HELD_OUT = 527, 50_000, 16, 20_000
BASELINE = """
import sys, time
import tensorflow_datasets as tfds
from nossbench.splits import tfds_reader
table = tfds_reader.read_examples(tfds.builder(sys.argv[1], data_dir=sys.argv[2]), via_records=False)
print(len(table))
"""


def synthesize(data_dir: str, rows: int) -> None:
  sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))
  import numpy as np  # pylint: disable=import-outside-toplevel
  import splits_helpers  # pylint: disable=import-outside-toplevel

  audio = np.zeros(1, np.int16)

  def examples(start, stop):
    for i in range(start, stop):
      yield {"example_id": f"Y{i * 7919 % 10**10:010d}_{i % 100:04d}", "audio": audio,
             "labels": sorted({i * m % N_CLASSES for m in (1, 31, 97)[:1 + i % 3]}),
             "speaker_id": f"uploader{i * 104729 % N_SPEAKERS:05d}"}

  bounds = {"train": (0, rows - 2 * HELD_OUT, TRAIN_SHARDS), "validation": (rows - 2 * HELD_OUT, rows - HELD_OUT, 1),
            "test": (rows - HELD_OUT, rows, 1)}
  splits = {}
  for split, (start, stop, shards) in bounds.items():
    edges = np.linspace(start, stop, shards + 1).astype(int)
    splits[split] = [examples(a, b) for a, b in zip(edges[:-1], edges[1:])]
  features = splits_helpers.features([f"/m/c{k:03d}" for k in range(N_CLASSES)], multi_label=True)
  splits_helpers.write_tfds_dataset(data_dir, TASK, features, splits, fast=True)


def measure(command: list[str]) -> tuple[float, float, float, str]:
  """(wall seconds, CPU seconds, peak RSS in MiB, stdout) of one command in a fresh process."""
  with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
    start = time.perf_counter()
    process = subprocess.Popen(command, stdout=out, stderr=err, text=True)
    _, status, usage = os.wait4(process.pid, 0)
    elapsed = time.perf_counter() - start
    out.seek(0), err.seek(0)
    if os.waitstatus_to_exitcode(status):
      raise SystemExit(f"{command} failed:\n{err.read()[-3000:]}")
    return elapsed, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, out.read()


def main():
  parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("--rows", type=int, default=2_000_000)
  parser.add_argument("--workdir", default=os.path.join(tempfile.gettempdir(), "nossbench-split-scale"))
  parser.add_argument("--skip-baseline", action="store_true")
  args = parser.parse_args()
  from nossbench.splits import manifest  # pylint: disable=import-outside-toplevel

  data_dir = os.path.join(args.workdir, f"tfds-{args.rows}")
  if not os.path.exists(os.path.join(data_dir, *TASK.split("/"), "1.0.0", "dataset_info.json")):
    start = time.perf_counter()
    synthesize(data_dir, args.rows)
    print(f"synthesized {args.rows} examples into {data_dir} in {time.perf_counter() - start:.0f} s")
  bin_dir = os.path.dirname(sys.executable)
  runs = [("prepare-splits (canonical)", []), ("prepare-splits + --speaker-disjoint --repeats 1",
                                               ["--speaker-disjoint", "--repeats", "1"])]
  print(f"\nmachine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"load average before: {os.getloadavg()[0]:.1f}")
  print("| what | rows | wall s | CPU s | peak RSS MiB |\n|---|---|---|---|---|")
  for name, flags in runs:
    out = os.path.join(args.workdir, "manifests")
    seconds, cpu, rss, _ = measure([os.path.join(bin_dir, "prepare-splits"), TASK, "--data_dir", data_dir,
                               "--out", out, *flags])
    for scheme in ["canonical"] + (["speaker_disjoint"] if flags else []):
      table, _ = manifest.read_manifest(out, TASK, scheme)
      if len(table) != args.rows:
        raise SystemExit(f"{scheme} manifest has {len(table)} rows, expected {args.rows}")
      del table
    print(f"| {name} | {args.rows:,} | {seconds:.1f} | {cpu:.1f} | {rss:.0f} |")
  if not args.skip_baseline:
    seconds, cpu, rss, stdout = measure([sys.executable, "-c", BASELINE, TASK, data_dir])
    if int(stdout.split()[-1]) != args.rows:
      raise SystemExit(f"baseline read {stdout.split()[-1]} rows, expected {args.rows}")
    print(f"| baseline: TFDS as_dataset + PartialDecoding, reading only | {args.rows:,} | {seconds:.1f} | "
          f"{cpu:.1f} | {rss:.0f} |")
  print(f"load average after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
  main()
