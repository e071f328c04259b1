"""All four commands on a Speech Commands-sized corpus, and on a fraction of it: does time grow linearly
and memory stay flat?

Generates, at run time, the two archives of Speech Commands v0.02 in their real layout
(`speech_commands_v0.02.tar.gz`: 105,829 one-second 16 kHz wavs `<word>/<speaker>_nohash_<n>.wav` over
35 words and 2,618 speakers, `validation_list.txt`, `testing_list.txt`, six `_background_noise_/*.wav`
of 60 s; `speech_commands_test_set_v0.02.tar.gz`: 4,890 wavs under the 12 labels), scaled by --scale.
Each word is a harmonic tone of its own pitch with noise, so the embeddings carry the label. The
archives are written clip by clip (tar streams), so nothing holds the corpus in memory.

Then, each in a fresh process as a user runs them, measured per stage:
  build            tfds build noss/speech_commands --manual_dir RAW --data_dir TFDS
  prepare-splits   prepare-splits noss/speech_commands (canonical manifest)
  compute-embeddings  --model logmel, DirectRunner, empty cache, --export submission.npz
  score-submission    the canonical protocol (--models, default logreg,lda: see RESULTS.md)
Wall seconds; CPU seconds (user+sys of the command and every process it waited for); peak RSS of the
command's own process (exact, from wait4) and the peak of the summed RSS of its process tree (sampled
every 0.25 s; it counts pages shared between a parent and its forked workers twice, so it is an upper
bound). One JSON line per stage is printed and appended to --log.

    .venv/bin/python benchmarks/full_size.py --work /tmp/full_size --scale 0.25 --scale 1.0
"""

import argparse
import io
import json
import os
import platform
import resource
import shutil
import subprocess
import tarfile
import time
from pathlib import Path

import numpy as np
import psutil
import soundfile

RATE = 16000
TASK = "noss/speech_commands"
# Speech Commands v0.02 as published.
MAIN_CLIPS, TEST_CLIPS, SPEAKERS = 105_829, 4_890, 2_618
VALIDATION_SHARE, TEST_SHARE = 9_981 / MAIN_CLIPS, 11_005 / MAIN_CLIPS
NOISE_FILES = ("doing_the_dishes", "dude_miaowing", "exercise_bike", "pink_noise", "running_tap", "white_noise")
BIN = Path(os.environ.get("NOSSBENCH_BIN", "/work/main/.venv/bin"))


class Voices:
  """One 3 s harmonic tone per label (pitch by label) plus noise; a clip is a random 1 s slice, scaled."""

  def __init__(self, labels, seed):
    self.rng = np.random.default_rng(seed)
    t = np.arange(3 * RATE) / RATE
    self.sources = {}
    for i, label in enumerate(labels):
      pitch = 90 + 23 * i
      voiced = sum(np.sin(2 * np.pi * k * pitch * t) / k for k in range(1, 8))
      self.sources[label] = 0.12 * voiced * (0.6 + 0.4 * np.sin(2 * np.pi * 3 * t)) + 0.03 * self.rng.standard_normal(len(t))

  def wav(self, label) -> bytes:
    start = self.rng.integers(0, 2 * RATE)
    samples = self.sources[label][start:start + RATE] * self.rng.uniform(0.5, 1.5)
    buffer = io.BytesIO()
    soundfile.write(buffer, np.clip(samples, -1, 1), RATE, subtype="PCM_16", format="WAV")
    return buffer.getvalue()


def _add(archive: tarfile.TarFile, name: str, data: bytes):
  info = tarfile.TarInfo(name)
  info.size = len(data)
  archive.addfile(info, io.BytesIO(data))


def make_corpus(raw: Path, scale: float, seed: int = 0) -> dict:
  """Both archives at `scale` of the real sizes; speakers go to validation/test lists as wholes."""
  from nossbench.builders.sources import speech_commands  # pylint: disable=import-outside-toplevel

  rng = np.random.default_rng(seed)
  raw.mkdir(parents=True, exist_ok=True)
  clips, speakers = round(MAIN_CLIPS * scale), max(3, round(SPEAKERS * scale))
  speaker_ids = [f"{v:08x}" for v in rng.choice(2**32, speakers, replace=False)]
  draw = rng.random(speakers)
  speaker_split = np.where(draw < VALIDATION_SHARE, "validation", np.where(draw < VALIDATION_SHARE + TEST_SHARE,
                                                                          "test", "train"))
  voices = Voices(speech_commands.ALL_WORDS + ("_silence_", "_unknown_", "noise"), seed + 1)
  names, lists = set(), {"validation": [], "test": []}
  main = raw / speech_commands.ARCHIVES["train"]
  with tarfile.open(main, "w:gz", compresslevel=1) as archive:
    for i in range(clips):
      word = speech_commands.ALL_WORDS[rng.integers(len(speech_commands.ALL_WORDS))]
      speaker = int(rng.integers(speakers))
      n = 0
      while f"{word}/{speaker_ids[speaker]}_nohash_{n}.wav" in names:
        n += 1
      name = f"{word}/{speaker_ids[speaker]}_nohash_{n}.wav"
      names.add(name)
      if speaker_split[speaker] != "train":
        lists[speaker_split[speaker]].append(name)
      _add(archive, f"./{name}", voices.wav(word))
    for noise in NOISE_FILES:
      samples = np.concatenate([voices.sources["noise"][:RATE] * rng.uniform(0.5, 1.5) for _ in range(60)])
      buffer = io.BytesIO()
      soundfile.write(buffer, np.clip(samples, -1, 1), RATE, subtype="PCM_16", format="WAV")
      _add(archive, f"./_background_noise_/{noise}.wav", buffer.getvalue())
    _add(archive, "./validation_list.txt", "".join(f"{n}\n" for n in sorted(lists["validation"])).encode())
    _add(archive, "./testing_list.txt", "".join(f"{n}\n" for n in sorted(lists["test"])).encode())
  test_clips = round(TEST_CLIPS * scale)
  with tarfile.open(raw / speech_commands.ARCHIVES["test"], "w:gz", compresslevel=1) as archive:
    for i in range(test_clips):
      label = speech_commands.LABELS[i % len(speech_commands.LABELS)]
      _add(archive, f"./{label}/{speaker_ids[i % speakers]}_nohash_{1000 + i}.wav", voices.wav(label))  # not in the main archive
  return {"main_clips": clips, "test_clips": test_clips, "speakers": speakers,
          "validation_list": len(lists["validation"]), "testing_list": len(lists["test"]),
          "raw_bytes": sum(p.stat().st_size for p in raw.iterdir())}


def _tree_rss(process: psutil.Process) -> int:
  total = 0
  for p in [process] + process.children(recursive=True):
    try:
      total += p.memory_info().rss
    except psutil.Error:
      pass
  return total


def measure(stage: str, argv: list, log: Path, **extra) -> dict:
  """Runs one command; its wall and CPU seconds, its own peak RSS (wait4) and its tree's sampled peak."""
  start = time.time()
  with open(log.with_suffix(f".{stage}.out"), "w") as out:
    process = psutil.Popen([str(a) for a in argv], stdout=out, stderr=subprocess.STDOUT)
    peak_tree, rusage, status = 0, None, 0
    while rusage is None:
      try:
        peak_tree = max(peak_tree, _tree_rss(process))
      except psutil.Error:
        pass
      pid, status, usage = os.wait4(process.pid, os.WNOHANG)
      if pid:
        rusage = usage
      else:
        time.sleep(0.25)
  wall = time.time() - start
  code = os.waitstatus_to_exitcode(status)
  result = {"stage": stage, **extra, "wall_s": round(wall, 1),
            "cpu_s": round(rusage.ru_utime + rusage.ru_stime, 1), "peak_rss_mb": round(rusage.ru_maxrss / 1024),
            "peak_tree_rss_mb": round(max(peak_tree, rusage.ru_maxrss * 1024) / 2**20),
            "exit": code, "load_1min": round(os.getloadavg()[0], 1), "finished": time.strftime("%H:%M:%S")}
  print(json.dumps(result), flush=True)
  with open(log, "a") as f:
    f.write(json.dumps(result) + "\n")
  if code:
    raise SystemExit(f"{stage} failed (exit {code}); see {log.with_suffix(f'.{stage}.out')}")
  return result


def run(work: Path, scale: float, log: Path, models: str, keep: bool) -> None:
  folder = work / f"scale_{scale:g}"
  shutil.rmtree(folder, ignore_errors=True)
  start, cpu = time.time(), resource.getrusage(resource.RUSAGE_SELF)
  corpus = make_corpus(folder / "raw", scale)
  generated = {"stage": "generate corpus", "scale": scale, **corpus, "wall_s": round(time.time() - start, 1),
               "cpu_s": round(resource.getrusage(resource.RUSAGE_SELF).ru_utime - cpu.ru_utime, 1),
               "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)}
  print(json.dumps(generated), flush=True)
  with open(log, "a") as f:
    f.write(json.dumps(generated) + "\n")
  clips = corpus["main_clips"] + corpus["test_clips"]
  tag = {"scale": scale, "clips": clips}
  measure("build", [BIN / "tfds", "build", TASK, "--imports", "nossbench.builders", "--manual_dir", folder / "raw",
                    "--data_dir", folder / "tfds"], log, **tag)
  if not keep:
    shutil.rmtree(folder / "raw")
  measure("prepare-splits", [BIN / "prepare-splits", TASK, "--data_dir", folder / "tfds", "--out", folder / "splits"],
          log, **tag)
  measure("compute-embeddings", [BIN / "compute-embeddings", "--task", TASK, "--data_dir", folder / "tfds",
                                 "--model", "logmel", "--cache", folder / "cache", "--export",
                                 folder / "logmel.npz"], log, **tag)
  measure("score-submission", [BIN / "score-submission", folder / "logmel.npz", "--task", TASK, "--splits",
                               folder / "splits", "--models", models, "--out", folder / "report"], log,
          **tag, models=models)
  report = json.loads((folder / "report" / "report.json").read_text())
  canonical = report["results"][0]
  summary = {"stage": "report", **tag, "n_examples": report["n_examples"], "dims": report["dims"],
             "accuracy": canonical.get("accuracy"), "chance_accuracy": canonical.get("chance_accuracy"),
             "model": canonical.get("model"), "normalization": canonical.get("normalization")}
  print(json.dumps(summary), flush=True)
  with open(log, "a") as f:
    f.write(json.dumps(summary) + "\n")
  if not keep:
    shutil.rmtree(folder / "tfds")


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--work", required=True, help="working folder (several GB at scale 1)")
  parser.add_argument("--scale", type=float, action="append", help="fraction of the real size (repeatable)")
  parser.add_argument("--models", default="logreg,lda", help="score-submission --models")
  parser.add_argument("--log", default=None, help="JSON lines file (default WORK/full_size.jsonl)")
  parser.add_argument("--keep", action="store_true", help="keep the raw archives and the TFDS build")
  args = parser.parse_args()
  work = Path(args.work)
  work.mkdir(parents=True, exist_ok=True)
  log = Path(args.log or work / "full_size.jsonl")
  machine = {"stage": "machine", "machine": platform.processor() or platform.machine(),
             "cpus": len(os.sched_getaffinity(0)), "memory_gb": round(psutil.virtual_memory().total / 2**30),
             "load_1min": os.getloadavg()[0], "started": time.strftime("%Y-%m-%d %H:%M:%S")}
  print(json.dumps(machine), flush=True)
  with open(log, "a") as f:
    f.write(json.dumps(machine) + "\n")
  for scale in args.scale or [0.25, 1.0]:
    run(work, scale, log, args.models, args.keep)


if __name__ == "__main__":
  main()
