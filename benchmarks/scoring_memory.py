"""Peak memory of `score-submission` against the submission's in-memory size (N x D x 4 bytes).

  .venv/bin/python benchmarks/scoring_memory.py [--sizes 4000x512,8000x1024,16000x1024] [--jobs 2]
                                                [--models logreg,lda]

For each size, writes a CREMA-D-like task (the canonical manifest, 91 speakers) and a float32 .npz
submission, runs the real `score-submission` command on it and samples, every 50 ms, the memory of the
command and every process below it (its joblib/loky workers): the sum of RSS (counts pages shared by
several processes, e.g. the memory-mapped normalised variants, once per process) and the sum of PSS
(proportional set size: shared pages split between the processes sharing them, so the sum is what the
command really holds). A run on a tiny submission gives the baseline (interpreter, numpy, pandas,
scikit-learn; it runs in one process, as small grids do); the multiple reported per size is
(peak - baseline) / (N x D x 4), which for small sizes is mostly the fixed cost of the worker processes'
imports. The last line gives the marginal multiple between the smallest and largest size:
(PSS_large - PSS_small) / (bytes_large - bytes_small), what each further byte of submission costs.
Prints a Markdown table row per size.

`--ratios` prints instead what typical embeddings and ids pack to with deflate (zlib level 6, what
np.savez_compressed uses), which is where the .npz and .parquet readers' 200:1 limit comes from.
"""

import argparse
import os
import zlib
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import psutil

sys.path.insert(0, str(Path(__file__).parent))
from scoring_speed import crema_d_like  # noqa: E402  pylint: disable=wrong-import-position

from nossbench.splits import manifest  # noqa: E402  pylint: disable=wrong-import-position

TASK = "noss/crema_d"
SENTENCES = ("DFA", "IEO", "IOM", "ITH", "ITS", "IWL", "IWW", "MTI", "TAI", "TIE", "TSI", "WSI")
EMOTIONS = ("ANG", "DIS", "FEA", "HAP", "NEU", "SAD")


def sample(pid: int, peaks: dict, done: threading.Event) -> None:
  root = psutil.Process(pid)
  while not done.is_set():
    try:
      processes = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
      return
    rss = pss = 0
    for process in processes:
      try:
        info = process.memory_full_info()
      except (psutil.NoSuchProcess, psutil.AccessDenied):
        continue
      rss, pss = rss + info.rss, pss + info.pss
    peaks["rss"], peaks["pss"] = max(peaks["rss"], rss), max(peaks["pss"], pss)
    peaks["processes"] = max(peaks["processes"], len(processes))
    time.sleep(0.05)


def measure(folder: Path, examples: int, dims: int, jobs: int, models: str) -> dict:
  table, x = crema_d_like(examples, dims)
  splits = folder / f"splits-{examples}x{dims}"
  manifest.write_manifest(splits, TASK, "canonical", table, {"seed": 0})
  path = folder / f"{examples}x{dims}.npz"
  np.savez(path, example_id=table["example_id"].to_numpy().astype(str), embedding=x)
  command = [str(Path(sys.executable).parent / "score-submission"), str(path), "--task", TASK, "--splits",
             str(splits), "--out", str(folder / f"report-{examples}x{dims}"), "--jobs", str(jobs), "--models", models]
  peaks, done = {"rss": 0, "pss": 0, "processes": 0}, threading.Event()
  start = time.time()
  process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
  watcher = threading.Thread(target=sample, args=(process.pid, peaks, done))
  watcher.start()
  _, err = process.communicate()
  done.set()
  watcher.join()
  if process.returncode != 0:
    raise SystemExit(f"score-submission failed on {examples}x{dims}: {err[-2000:]}")
  return {**peaks, "seconds": time.time() - start, "bytes": x.nbytes}


def compression_ratios() -> None:
  rng = np.random.RandomState(0)
  n, d = 2000, 512
  arrays = {
      "Gaussian float32": rng.randn(n, d).astype(np.float32),
      "Gaussian float16": rng.randn(n, d).astype(np.float16),
      "log-mel-like float32": np.log(rng.rand(n, d) + 1e-3).astype(np.float32),
      "ReLU, 50% zeros": np.maximum(rng.randn(n, d), 0).astype(np.float32),
      "ReLU, 90% zeros": np.maximum(rng.randn(n, d) - 1.28, 0).astype(np.float32),
      "ReLU, 99% zeros": np.maximum(rng.randn(n, d) - 2.33, 0).astype(np.float32),
      "rounded to 0.01": np.round(rng.randn(n, d), 2).astype(np.float32),
      "one-hot float32": np.eye(d, dtype=np.float32)[rng.randint(0, d, n)],
      "all zeros (a bomb)": np.zeros((n, d), np.float32),
      "CREMA-D ids <U15": np.array([f"{1001 + i % 91}_{SENTENCES[i // 91 % 12]}_{EMOTIONS[i // 1092]}_XX"
                                    for i in range(6552)]),
      "CREMA-D ids and one of 200 characters": np.array([f"{1001 + i % 91}_{SENTENCES[i // 91 % 12]}_"
                                                         f"{EMOTIONS[i // 1092]}_XX" for i in range(6552)] + ["x" * 200]),
      "VoxCeleb-like ids <U25": np.array([f"id{10000 + rng.randint(1251)}/{rng.randint(1 << 60):011x}"
                                          f"/{rng.randint(100):05d}" for _ in range(n)]),
  }
  print("| array | deflate ratio |\n|---|---|")
  for name, array in arrays.items():
    data = array.tobytes()
    print(f"| {name} | {len(data) / len(zlib.compress(data, 6)):.1f}:1 |")


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("--sizes", default="4000x512,8000x1024,16000x1024")
  parser.add_argument("--jobs", type=int, default=2)
  parser.add_argument("--models", default="logreg,lda")
  parser.add_argument("--ratios", action="store_true", help="print deflate ratios of typical arrays and stop")
  args = parser.parse_args()
  if args.ratios:
    compression_ratios()
    return
  mib = 2**20
  with tempfile.TemporaryDirectory() as folder:
    base = measure(Path(folder), 546, 8, args.jobs, args.models)  # 6 clips a speaker: the baseline
    print(f"baseline (546 x 8): peak RSS {base['rss'] / mib:.0f} MiB, PSS {base['pss'] / mib:.0f} MiB, "
          f"{base['processes']} processes; {os.cpu_count()} CPUs")
    print("| N x D | submission (N·D·4) | peak RSS sum | peak PSS sum | (PSS − baseline) / submission | processes | s |")
    print("|---|---|---|---|---|---|---|")
    rows = []
    for size in args.sizes.split(","):
      examples, dims = map(int, size.split("x"))
      r = measure(Path(folder), examples, dims, args.jobs, args.models)
      rows.append(r)
      print(f"| {examples:,} x {dims:,} | {r['bytes'] / mib:.0f} MiB | {r['rss'] / mib:.0f} MiB | "
            f"{r['pss'] / mib:.0f} MiB | {(r['pss'] - base['pss']) / r['bytes']:.1f}x | {r['processes']} | "
            f"{r['seconds']:.0f} |", flush=True)
    if len(rows) > 1:
      small, large = rows[0], rows[-1]
      print(f"marginal: {(large['pss'] - small['pss']) / (large['bytes'] - small['bytes']):.1f}x the submission's "
            f"bytes (PSS), {(large['rss'] - small['rss']) / (large['bytes'] - small['bytes']):.1f}x (RSS)")


if __name__ == "__main__":
  main()
