"""Scoring at HARES scale: the linear probe on synthetic AudioSet-shaped multi-label tasks.

For each size (rows x dims), writes a synthetic task to disk in chunks, never whole in memory:
embeddings `x.npy` (float32; each example the sum of its labels' random directions plus unit noise) and
the canonical manifest (527 labels, 1-3 per example drawn from a Zipf-like prior as AudioSet's are
skewed; 90 % train, 5 % validation, 5 % test). Then scores it in a fresh process exactly as
score-submission's canonical protocol does with `--probe linear` (protocols.Task + grid.Variants +
protocols.canonical), the embeddings memory-mapped, and records wall and CPU seconds, epochs, test mAP,
the peak RSS (wait4; it counts the memory-mapped file pages the process touched, which the kernel can
drop) and the peak anonymous RSS (sampled every 0.5 s from /proc: the memory the process itself holds).

    .venv/bin/python benchmarks/hares_scale.py --work /tmp/hares_scale --size 125000x512 --size 250000x512 \
        --size 500000x512 --size 125000x2048 [--max-epochs N]

--max-epochs caps every fit (no early stopping then): it measures the cost per epoch, and the memory, of
a size too slow to train to the end in the time at hand.
"""

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

LABELS = 527
CHUNK = 50_000


def write_task(folder: Path, rows: int, dims: int, seed: int = 0) -> None:
  """x.npy [rows, dims] float32 and labels.npy/split.npy, written CHUNK rows at a time."""
  folder.mkdir(parents=True, exist_ok=True)
  if (folder / "done").exists():
    return
  rng = np.random.default_rng(seed)
  directions = rng.standard_normal((LABELS, dims)).astype(np.float32) * (2.0 / np.sqrt(dims)) * 4
  prior = 1 / np.arange(1, LABELS + 1) ** 0.8
  prior /= prior.sum()
  x = np.lib.format.open_memmap(folder / "x.npy", mode="w+", dtype=np.float32, shape=(rows, dims))
  labels = np.lib.format.open_memmap(folder / "labels.npy", mode="w+", dtype=np.int16, shape=(rows, 3))
  for start in range(0, rows, CHUNK):
    n = min(CHUNK, rows - start)
    drawn = rng.choice(LABELS, size=(n, 3), p=prior).astype(np.int16)
    drawn[rng.random((n, 3)) < np.array([0, 0.5, 0.75])] = -1  # 1-3 labels per example
    y = np.zeros((n, LABELS), np.float32)
    for column in range(3):
      keep = drawn[:, column] >= 0
      y[np.flatnonzero(keep), drawn[keep, column]] = 1
    x[start:start + n] = y @ directions + rng.standard_normal((n, dims), dtype=np.float32)
    labels[start:start + n] = drawn
  x.flush()
  labels.flush()
  del x, labels
  (folder / "done").write_text("")


SCORE = """
import json, resource, sys, threading, time
import functools
import numpy as np, pandas as pd
from nossbench.scoring import grid, linear_probe, protocols

folder = sys.argv[1]
if int(sys.argv[2]):  # cap the epochs: measures the cost per epoch of a size too slow to train to the end
  linear_probe.fit = functools.partial(linear_probe.fit, settings=linear_probe.Settings(max_epochs=int(sys.argv[2])))
peak_anon = [0]
def sample():
  while True:
    for line in open("/proc/self/status"):
      if line.startswith("RssAnon:"):
        peak_anon[0] = max(peak_anon[0], int(line.split()[1]))
    time.sleep(0.5)
threading.Thread(target=sample, daemon=True).start()

start = time.time()
x = np.load(f"{folder}/x.npy", mmap_mode="r")
drawn = np.load(f"{folder}/labels.npy")
n = len(x)
labels = [";".join(f"/m/{v:03d}" for v in sorted(set(row[row >= 0]))) for row in drawn]
split = np.array(["train"] * 18 + ["validation", "test"])[np.arange(n) % 20]
table = pd.DataFrame({"example_id": [f"clip{i:07d}" for i in range(n)], "labels": labels, "speaker_id": "",
                      "split": split})
del drawn, labels
task = protocols.Task("hares/audioset", table, x, probe="linear")
prepared = time.time() - start
with grid.Variants(x, task.speakers, task.normalizations) as variants:
  result = protocols.canonical(task, variants)
print("RESULT", json.dumps({"prepare_s": round(prepared, 1), "score_s": round(time.time() - start - prepared, 1),
                            "map": round(result["map"], 4), "validation_map": round(result["validation"]["map"], 4),
                            "classes_scored": result["classes_scored"], "epochs": result["probe"]["epochs"],
                            "best_epoch": result["probe"]["best_epoch"], "device": result["probe"]["device"],
                            "peak_anon_mb": round(peak_anon[0] / 1024)}))
"""


def score(folder: Path, rows: int, dims: int, max_epochs: int) -> dict:
  start = time.time()
  process = subprocess.Popen([sys.executable, "-c", SCORE, str(folder), str(max_epochs)], stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL, text=True)
  out = process.stdout.read()
  _, status, usage = os.wait4(process.pid, 0)
  if os.waitstatus_to_exitcode(status):
    raise SystemExit(f"scoring {folder} failed:\n{out}")
  found = json.loads(out.split("RESULT", 1)[1])
  result = {"rows": rows, "dims": dims, "labels": LABELS, "max_epochs": max_epochs or "default (50)", "wall_s": round(time.time() - start, 1),
            "cpu_s": round(usage.ru_utime + usage.ru_stime, 1), **found,
            "peak_rss_mb": round(usage.ru_maxrss / 1024), "x_mb": round(rows * dims * 4 / 2**20),
            "load_1min": round(os.getloadavg()[0], 1), "finished": time.strftime("%H:%M:%S")}
  result["epoch_s"] = round(result["score_s"] / result["epochs"], 1)
  return result


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--work", required=True, help="folder for the synthetic tasks (rows x dims x 4 bytes each)")
  parser.add_argument("--size", action="append", help="ROWSxDIMS (repeatable; default 125000x512, 250000x512, "
                                                      "500000x512, 125000x2048)")
  parser.add_argument("--max-epochs", type=int, default=0,
                      help="stop every fit after this many epochs (0: the probe's own early stopping)")
  parser.add_argument("--log", default=None, help="JSON lines file (default WORK/hares_scale.jsonl)")
  args = parser.parse_args()
  work = Path(args.work)
  work.mkdir(parents=True, exist_ok=True)
  log = Path(args.log or work / "hares_scale.jsonl")
  machine = {"machine": platform.processor() or platform.machine(), "cpus": len(os.sched_getaffinity(0)),
             "load_1min": os.getloadavg()[0], "started": time.strftime("%Y-%m-%d %H:%M:%S")}
  print(json.dumps(machine), flush=True)
  for size in args.size or ["125000x512", "250000x512", "500000x512", "125000x2048"]:
    rows, dims = map(int, size.split("x"))
    folder = work / size
    start = time.time()
    write_task(folder, rows, dims)
    written = time.time() - start
    result = {**score(folder, rows, dims, args.max_epochs), "generate_s": round(written, 1),
              "generate_peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)}
    print(json.dumps(result), flush=True)
    with open(log, "a") as f:
      f.write(json.dumps(result) + "\n")


if __name__ == "__main__":
  main()
