"""Throughput of `compute-embeddings` against the bare model, in audio-seconds per wall-second.

On a generated corpus in CREMA-D's raw layout and size (default 7,442 clips of 1.5-3.5 s, about 5 hours
of audio), built with TFDS, for each model:
  pipeline  `compute-embeddings`, DirectRunner in one process, empty cache: the pipeline's own time as
            the command prints it, and the whole command (Python, TensorFlow and model start-up included)
  floor     the bare model in this process, a tight loop over batches of 32 clips sorted by length
            (least padding possible), mean pooling included
  batch-1   one clip per call, as the NOSS reference pipeline does
  cached    the same command again, every entry complete: the whole command
and each command's peak RSS. The pipeline and the floor compute the same single layer. Each is measured
--repeats times and the best kept; CPU seconds (all threads) of the commands and the bare-model loops
are recorded beside wall seconds.

    .venv/bin/python benchmarks/embedding_throughput.py --work /tmp/throughput \
        [--models logmel,random_resnetish] [--clips 7442] [--repeats 1]
"""

import argparse
import json
import math
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import soundfile

LAYERS = {"logmel": "logmel", "random_resnetish": "embedding"}
RATE = 16000
TASK = "noss/crema_d"


def make_corpus(raw: Path, clips: int, seconds=lambda rng: rng.uniform(1.5, 3.5)) -> None:
  """CREMA-D names (actor_sentence_emotion_level.wav; up to 26,208), noise plus a tone, `seconds(rng)` long
  (1.5-3.5 s), fixed seed."""
  from nossbench.builders.sources import crema_d  # pylint: disable=import-outside-toplevel

  rng = np.random.default_rng(0)
  audio = raw / "AudioWAV"
  audio.mkdir(parents=True, exist_ok=True)
  names = [f"{actor}_{sentence}_{emotion}_{level}" for actor in range(1001, 1092) for sentence in crema_d.SENTENCES
           for emotion in crema_d.LABELS for level in crema_d.LEVELS]
  for name in sorted(rng.choice(names, clips, replace=False)):
    n = int(seconds(rng) * RATE)
    wave = 0.1 * rng.standard_normal(n) + 0.2 * np.sin(2 * np.pi * rng.uniform(100, 2000) * np.arange(n) / RATE)
    soundfile.write(str(audio / f"{name}.wav"), np.clip(wave, -1, 1), RATE, subtype="PCM_16")


def build(raw: Path, data_dir: Path):
  import tensorflow_datasets as tfds  # pylint: disable=import-outside-toplevel

  import nossbench.builders  # noqa: F401  pylint: disable=import-outside-toplevel,unused-import

  builder = tfds.builder(TASK, data_dir=str(data_dir))
  builder.download_and_prepare(download_config=tfds.download.DownloadConfig(manual_dir=str(raw)))
  return builder


def load_clips(builder) -> list[np.ndarray]:
  import tensorflow_datasets as tfds  # pylint: disable=import-outside-toplevel

  clips = []
  for split in sorted(builder.info.splits):
    for example in tfds.as_numpy(builder.as_dataset(split=split, shuffle_files=False)):
      clips.append(example["audio"].astype(np.float32) / 32768)
  return clips


def bare_model(name: str, clips: list[np.ndarray], batch_size: int) -> tuple[float, float]:
  """(wall, CPU) seconds for the model alone over every clip, `batch_size` clips per call, mean-pooled."""
  from nossbench.embeddings import pooling, registry  # pylint: disable=import-outside-toplevel

  model, layer = registry.get_model(name, device="cpu"), LAYERS[name]
  ordered = sorted(clips, key=len)
  batches = [ordered[i:i + batch_size] for i in range(0, len(ordered), batch_size)]
  model.embed(batches[0], (layer,))  # warm-up: graph tracing, thread pools
  start, cpu = time.perf_counter(), time.process_time()
  for batch in batches:
    for frames in model.embed(batch, (layer,))[layer]:
      pooling.pool(frames, "mean")
  return time.perf_counter() - start, time.process_time() - cpu


# Runs a command and writes its peak RSS (KiB) and CPU seconds to $RUSAGE_OUT. Started from this small
# process, the command's peak RSS is its own: Linux carries the RSS of the process that forked it into
# the peak of a child that exec()s, and this benchmark's process holds the whole corpus.
MEASURE = """import os, subprocess, sys
child = subprocess.Popen(sys.argv[1:])
_, status, usage = os.wait4(child.pid, 0)
with open(os.environ["RUSAGE_OUT"], "w") as f:
  f.write(f"{usage.ru_maxrss} {usage.ru_utime + usage.ru_stime}")
sys.exit(os.waitstatus_to_exitcode(status))"""


def command(args: list[str], log: Path) -> tuple[float, float, int, str]:
  """Runs a command; returns (wall seconds, CPU seconds, its peak RSS in MB, its stdout)."""
  usage_file = log.with_suffix(".rusage")
  start = time.perf_counter()
  with open(log, "w") as err:
    result = subprocess.run([sys.executable, "-c", MEASURE, *args], stdout=subprocess.PIPE, stderr=err, text=True,
                            env={**os.environ, "RUSAGE_OUT": str(usage_file)}, check=False)
  wall = time.perf_counter() - start
  if result.returncode:
    raise RuntimeError(f"{args} failed ({result.returncode}), see {log}")
  max_rss_kib, cpu_s = usage_file.read_text().split()
  return wall, float(cpu_s), int(max_rss_kib) // 1024, result.stdout


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--work", type=Path, required=True)
  parser.add_argument("--models", default="logmel,random_resnetish")
  parser.add_argument("--clips", type=int, default=7442)
  parser.add_argument("--batch_size", type=int, default=32)
  parser.add_argument("--repeats", type=int, default=1, help="measure each this many times, keep the best")
  args = parser.parse_args()

  raw, data_dir = args.work / "raw", args.work / "tfds"
  if not (raw / "AudioWAV").exists():
    make_corpus(raw, args.clips)
  builder = build(raw, data_dir)
  clips = load_clips(builder)
  audio_s = sum(len(c) for c in clips) / RATE
  print(f"corpus: {len(clips)} clips, {audio_s:.0f} s of audio ({audio_s / 60:.1f} min)")
  executable = Path(sys.executable).with_name("compute-embeddings")
  results = {"clips": len(clips), "audio_s": audio_s, "cpus": os.cpu_count(), "models": {}}
  for name in args.models.split(","):
    cache = args.work / f"cache-{name}"
    run = [str(executable), "--task", TASK, "--data_dir", str(data_dir), "--model", name, "--layers", LAYERS[name],
           "--cache", str(cache), "--batch_size", str(args.batch_size)]
    wall, cpu, rss = {}, {}, {}
    for _ in range(args.repeats):  # the best of each: other work on a shared machine only slows a run down
      shutil.rmtree(cache, ignore_errors=True)
      first = command(run, args.work / f"{name}-first.log")
      pipeline_s = float(re.search(r"of audio in ([\d.]+) s", first[3]).group(1))
      cached = command(run, args.work / f"{name}-cached.log")
      assert cached[3].count("reused cache entry") == 3 and "computed" not in cached[3], cached[3]
      measured = {"pipeline": (pipeline_s, None), "command": first[:2], "cached_command": cached[:2],
                  "floor": bare_model(name, clips, args.batch_size), "batch1": bare_model(name, clips, 1)}
      for what, (wall_s, cpu_s) in measured.items():
        wall[what] = min(wall.get(what, math.inf), wall_s)
        if cpu_s is not None:
          cpu[what] = min(cpu.get(what, math.inf), cpu_s)
      rss = {"first": max(rss.get("first", 0), first[2]), "cached": max(rss.get("cached", 0), cached[2])}
    rate = {k: audio_s / v for k, v in wall.items()}
    cpu_rate = {k: audio_s / v for k, v in cpu.items()}
    results["models"][name] = {
        "wall_s": wall, "cpu_s": cpu, "audio_s_per_wall_s": rate, "audio_s_per_cpu_s": cpu_rate,
        "peak_rss_mb": rss, "load_average": os.getloadavg(),
        "ratios_wall": {"pipeline/floor": rate["pipeline"] / rate["floor"],
                        "command/floor": rate["command"] / rate["floor"],
                        "pipeline/batch1": rate["pipeline"] / rate["batch1"],
                        "floor/batch1": rate["floor"] / rate["batch1"],
                        "first/cached command": wall["command"] / wall["cached_command"]},
        "ratios_cpu": {"floor/batch1": cpu_rate["floor"] / cpu_rate["batch1"],
                       "first/cached command": cpu["command"] / cpu["cached_command"]}}
    print(json.dumps({name: results["models"][name]}, indent=1), flush=True)
  (args.work / "results.json").write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
  main()
