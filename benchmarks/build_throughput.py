"""Build throughput of `noss/savee` and `noss/crema_d` against TFDS's own `savee` builder and the decode floor.

Generates SAVEE-like (44.1 kHz, 2.5-5 s, AudioData.zip) and CREMA-D-like (16 kHz, 1.5-3.5 s, AudioWAV/)
corpora, then builds, each in a fresh process as `tfds build` would:
  - TFDS's own `savee` on the SAVEE-like corpus (one core, no resampling, int64 at 44.1 kHz);
  - `noss/savee` on the same files (resampled to 16 kHz int16, decoded by a process pool), at two corpus
    sizes to show that peak memory does not grow with the corpus (`noss_savee_rss_growth_mb`);
  - `noss/crema_d` on the CREMA-D-like corpus;
and measures the floor: decoding + resampling + int16 conversion of the same SAVEE-like files in one
process, no TFDS. Wall time includes interpreter and TensorFlow start-up; `generation_s` is the build
alone (tfds.builder + download_and_prepare), and clips/s is computed from it. `generation_cpu_s` is the
user+system CPU time of that build, decode workers included, and `cpu_s` that of the whole process tree
(start-up included): on a shared machine CPU time varies less than wall time with other users' load,
which is recorded beside each run. Memory, sampled every 0.1 s: the peak RSS of
the building process and, separately, the peak private memory (USS) of its forked decode workers (their
RSS would count the pages they share with the parent again).

    python benchmarks/build_throughput.py [--clips 2000] [--large 4000] [--out /tmp/build_throughput]
"""

import argparse
import io
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile

import numpy as np
import psutil
import soundfile

SAVEE_CODES = ("a", "d", "f", "h", "n", "sa", "su")
SAVEE_SPEAKERS = ("DC", "JE", "JK", "KL")
CREMA_EMOTIONS = ("NEU", "HAP", "SAD", "ANG", "FEA", "DIS")
CREMA_SENTENCES = ("IEO", "TIE", "IOM", "IWW", "TAI", "MTI", "IWL", "ITH", "DFA", "ITS", "TSI", "WSI")


class SpeechLike:
  """Harmonic tones, syllable-rate modulated, plus noise: as costly to decode and resample as speech.

  A few long signals are made once; each clip is a random slice of one (synthesis would dominate).
  """

  def __init__(self, rate, seed):
    self.rng = np.random.RandomState(seed)
    t = np.arange(6 * rate) / rate
    self.sources = []
    for pitch in (100, 130, 170, 220):
      voiced = sum(np.sin(2 * np.pi * k * pitch * t) / k for k in range(1, 12))
      envelope = 0.5 * (1 + np.sin(2 * np.pi * 4 * t))
      signal = 0.15 * voiced * envelope + 0.01 * self.rng.randn(len(t))
      self.sources.append((np.clip(signal, -1, 1) * 32767).astype(np.int16))
    self.rate = rate

  def clip(self, seconds):
    source = self.sources[self.rng.randint(len(self.sources))]
    n = int(seconds * self.rate)
    start = self.rng.randint(len(source) - n)
    return source[start:start + n]


def write_savee_like(root, clips: int, seed=0) -> int:
  """AudioData.zip with `clips` 44.1 kHz wavs over SAVEE's 4 speakers and 7 emotion codes."""
  speech = SpeechLike(44100, seed)
  root.mkdir(parents=True, exist_ok=True)
  with zipfile.ZipFile(root / "AudioData.zip", "w", zipfile.ZIP_STORED) as archive:
    for i in range(clips):
      speaker, code = SAVEE_SPEAKERS[i % 4], SAVEE_CODES[(i // 4) % 7]
      buffer = io.BytesIO()
      soundfile.write(buffer, speech.clip(speech.rng.uniform(2.5, 5.0)), 44100, subtype="PCM_16", format="WAV")
      archive.writestr(f"AudioData/{speaker}/{code}{i // 28 + 1:03d}.wav", buffer.getvalue())
  return clips


def write_crema_like(root, clips: int, seed=1) -> int:
  """AudioWAV/<actor>_<sentence>_<emotion>_<level>.wav, 16 kHz, 91 actors."""
  speech = SpeechLike(16000, seed)
  (root / "AudioWAV").mkdir(parents=True, exist_ok=True)
  levels = ("XX", "LO", "MD", "HI")
  for i in range(clips):
    actor = 1001 + i % 91
    rest = i // 91
    name = (f"{actor}_{CREMA_SENTENCES[rest % 12]}_{CREMA_EMOTIONS[(rest // 12) % 6]}_"
            f"{levels[(rest // 72) % 4]}")
    soundfile.write(str(root / "AudioWAV" / f"{name}.wav"), speech.clip(speech.rng.uniform(1.5, 3.5)), 16000,
                    subtype="PCM_16")
  return clips


CPU = """
import resource
def cpu():
  return sum(getattr(resource.getrusage(who), field) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)
             for field in ("ru_utime", "ru_stime"))
"""

BUILD = CPU + """
import time
import tensorflow, tensorflow_datasets as tfds
{imports}
start, start_cpu = time.time(), cpu()
builder = tfds.builder({name!r}, data_dir={data_dir!r})
builder.download_and_prepare(download_config=tfds.download.DownloadConfig(manual_dir={manual_dir!r}))
print("GENERATION_SECONDS", time.time() - start, cpu() - start_cpu)
"""

FLOOR = CPU + """
import time, zipfile
from nossbench.builders import audio
start, start_cpu = time.time(), cpu()
archive = zipfile.ZipFile({zip_path!r})
n = 0
for info in archive.infolist():
  if info.filename.endswith(".wav"):
    samples, rate = audio.read_audio(archive.read(info), info.filename)
    audio.to_int16_mono(samples, rate)
    n += 1
print("GENERATION_SECONDS", time.time() - start, cpu() - start_cpu)
"""


def memory(process: psutil.Process) -> tuple[int, int]:
  """RSS of the process itself, and the private memory (USS) of its children (forked decode workers)."""
  children = 0
  for child in process.children(recursive=True):
    try:
      children += child.memory_full_info().uss
    except psutil.Error:
      pass
  return process.memory_info().rss, children


def run(code: str, label: str, clips: int) -> dict:
  """Runs `code` in a fresh interpreter; returns its times and peak memory."""
  before = resource.getrusage(resource.RUSAGE_CHILDREN)
  start = time.time()
  process = psutil.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
  peak_rss = peak_children = 0
  while process.poll() is None:
    try:
      rss, children = memory(process)
    except psutil.Error:  # it just ended
      break
    peak_rss, peak_children = max(peak_rss, rss), max(peak_children, children)
    time.sleep(0.1)
  process.wait()
  wall = time.time() - start
  after = resource.getrusage(resource.RUSAGE_CHILDREN)  # the child and its reaped workers
  cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
  out = process.stdout.read()
  if process.returncode != 0:
    raise SystemExit(f"{label} failed (exit {process.returncode}):\n{out}")
  inner, inner_cpu = map(float, out.split("GENERATION_SECONDS")[1].split()[:2])
  result = {"run": label, "clips": clips, "wall_s": round(wall, 1), "generation_s": round(inner, 1),
            "clips_per_s": round(clips / inner, 1), "generation_cpu_s": round(inner_cpu, 1),
            "clips_per_cpu_s": round(clips / inner_cpu, 1), "cpu_s": round(cpu, 1), "peak_rss_mb": round(peak_rss / 2**20),
            "peak_workers_uss_mb": round(peak_children / 2**20),
            "load_1min": round(os.getloadavg()[0], 1)}
  print(json.dumps(result), flush=True)
  return result


def build_code(name, data_dir, manual_dir, ours=True):
  imports = "import nossbench.builders" if ours else ""
  return BUILD.format(imports=imports, name=name, data_dir=str(data_dir), manual_dir=str(manual_dir))


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--clips", type=int, default=2000, help="clips per corpus (default 2000)")
  parser.add_argument("--large", type=int, default=4000, help="second, larger SAVEE-like size for memory growth")
  parser.add_argument("--out", default=None, help="working folder (default: a temporary one, removed)")
  parser.add_argument("--skip-tfds", action="store_true", help="leave out TFDS's own savee builder")
  args = parser.parse_args()
  work = __import__("pathlib").Path(args.out or tempfile.mkdtemp(prefix="build_throughput_"))
  print(json.dumps({"machine": platform.processor() or platform.machine(), "cpus": len(os.sched_getaffinity(0)),
                    "memory_gb": round(psutil.virtual_memory().total / 2**30), "load_1min": os.getloadavg()[0]}))
  try:
    write_savee_like(work / "savee", args.clips)
    write_savee_like(work / "savee_large", args.large)
    write_crema_like(work / "crema_d", args.clips)
    results = [run(FLOOR.format(zip_path=str(work / "savee/AudioData.zip")), "floor: decode+resample, 1 process",
                   args.clips)]
    if not args.skip_tfds:
      results.append(run(build_code("savee", work / "tfds_reference", work / "savee", ours=False),
                         "TFDS savee builder", args.clips))
    results.append(run(build_code("noss/savee", work / "tfds", work / "savee"), "noss/savee", args.clips))
    results.append(run(build_code("noss/savee", work / "tfds_large", work / "savee_large"), "noss/savee", args.large))
    results.append(run(build_code("noss/crema_d", work / "tfds", work / "crema_d"), "noss/crema_d", args.clips))
  finally:
    if args.out is None:
      shutil.rmtree(work, ignore_errors=True)
  floor = results[0]["clips_per_s"]
  ours = next(r for r in results if r["run"] == "noss/savee" and r["clips"] == args.clips)
  large = next(r for r in results if r["run"] == "noss/savee" and r["clips"] == args.large)
  summary = {"floor_clips_per_s_1_core": round(floor, 1), "noss_savee_vs_two_core_floor": round(
      ours["clips_per_s"] / (2 * floor), 2), "noss_savee_cpu_efficiency_vs_floor": round(
      ours["clips_per_cpu_s"] / results[0]["clips_per_cpu_s"], 2),
      "noss_savee_rss_growth_mb": large["peak_rss_mb"] + large["peak_workers_uss_mb"] - ours["peak_rss_mb"]
                                  - ours["peak_workers_uss_mb"]}
  if not args.skip_tfds:
    reference = results[1]
    summary |= {"speedup_vs_tfds_savee": round(reference["generation_s"] / ours["generation_s"], 2),
                "cpu_speedup_vs_tfds_savee": round(reference["generation_cpu_s"] / ours["generation_cpu_s"], 2),
                "wall_speedup_vs_tfds_savee": round(reference["wall_s"] / ours["wall_s"], 2),
                "rss_vs_tfds_savee": round((ours["peak_rss_mb"] + ours["peak_workers_uss_mb"]) / reference["peak_rss_mb"], 2)}
  print(json.dumps(summary))


if __name__ == "__main__":
  main()
