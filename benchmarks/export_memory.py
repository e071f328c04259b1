"""Peak memory of `compute-embeddings --export` against the number of examples (issue 17: it gathered
every vector before writing, ~1.7 KB per example in the full-size run).

Writes one cache entry of N random D-dim vectors in 8 shards with the pipeline's own record code, then
exports it to .npz and to .parquet in a fresh process each, reading that process's own peak (VmHWM).
Usage: python benchmarks/export_memory.py --work /tmp/export_memory --sizes 50000 200000 --dims 64
(run it with PYTHONPATH pointing at another checkout to measure that checkout's exporter).
"""

import argparse
import dataclasses
import json
import pathlib
import subprocess
import sys
import time

import numpy as np

from nossbench.pipelines import cache, cache_format

MEASURE = ("import json, re, sys, time\nfrom nossbench.pipelines import cache, export\n"
           "key = cache.EntryKey(**json.loads(sys.argv[1]))\nstart = time.process_time()\n"
           "export.write([key], sys.argv[2], sys.argv[3])\n"
           "print(json.dumps({'cpu_s': time.process_time() - start, 'peak_mb': int(re.search("
           "r'VmHWM:\\s*(\\d+)', open('/proc/self/status').read())[1]) / 1024}))")


def make_entry(root: pathlib.Path, n: int, dims: int) -> cache.EntryKey:
  key = cache.EntryKey("bench", "0" * 16, "layer", "mean", 16000, "noss/bench", f"n{n}")
  entry, shards = key.path(root), 8
  rng = np.random.default_rng(0)
  ids = sorted(f"clip{i:08d}" for i in range(n))
  for shard in range(shards):
    part = [i for i in ids if cache.shard_index(i, shards) == shard]
    cache.write_records(entry / cache.shard_name(shard, shards),
                        (cache_format.serialize(i, rng.normal(size=dims).astype(np.float32)) for i in part))
  cache.write_completion(entry, {"key": key.as_dict(), "shards": [{"name": cache.shard_name(s, shards)}
                                                                  for s in range(shards)], "failed": []})
  return key


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--work", required=True)
  parser.add_argument("--sizes", type=int, nargs="+", default=[50_000, 200_000])
  parser.add_argument("--dims", type=int, default=64)
  args = parser.parse_args()
  root = pathlib.Path(args.work)
  for n in args.sizes:
    started = time.time()
    key = make_entry(root / "cache", n, args.dims)
    made = time.time() - started
    for suffix in (".npz", ".parquet"):
      out = root / f"n{n}{suffix}"
      result = subprocess.run([sys.executable, "-c", MEASURE, json.dumps(dataclasses.asdict(key)), str(root / "cache"),
                               str(out)], capture_output=True, text=True, check=True)
      found = json.loads(result.stdout.strip().splitlines()[-1])
      print(json.dumps({"examples": n, "dims": args.dims, "format": suffix, "entry_written_s": round(made, 1),
                        "export_cpu_s": round(found["cpu_s"], 1), "peak_mb": round(found["peak_mb"]),
                        "file_mb": round(out.stat().st_size / 2**20, 1)}))


if __name__ == "__main__":
  main()
