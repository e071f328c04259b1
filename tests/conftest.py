"""Shared fixtures: small corpora in CREMA-D's real raw layout, made at test time."""

import shutil
import subprocess
import sys

import numpy as np
import pytest
import soundfile

from nossbench.builders.sources import crema_d

RATE = 16000


def tone(frequency: float, seconds: float, rate: int = RATE, amplitude: float = 0.3) -> np.ndarray:
  t = np.arange(int(seconds * rate)) / rate
  return (amplitude * np.sin(2 * np.pi * frequency * t)).astype(np.float32)


def write_tone_corpus(root, actors=range(1001, 1013), sentences=("DFA", "IEO"), seconds=0.3):
  """CREMA-D layout, each emotion a tone of its own pitch; returns {example_id: int16 samples written}."""
  audio_dir = root / "AudioWAV"
  audio_dir.mkdir(parents=True, exist_ok=True)
  written = {}
  for actor in actors:
    for s, sentence in enumerate(sentences):
      for e, emotion in enumerate(crema_d.LABELS):
        samples = np.round(tone(200 + 100 * e + 7 * s + (actor % 10), seconds) * 32767).astype(np.int16)
        example_id = f"{actor}_{sentence}_{emotion}_XX"
        soundfile.write(str(audio_dir / f"{example_id}.wav"), samples, RATE, subtype="PCM_16")
        written[example_id] = samples
  return written


def build(task: str, manual_dir, data_dir):
  """Builds a task with TFDS itself, as `tfds build` does."""
  import tensorflow_datasets as tfds

  import nossbench.builders  # noqa: F401

  builder = tfds.builder(task, data_dir=str(data_dir))
  builder.download_and_prepare(download_config=tfds.download.DownloadConfig(manual_dir=str(manual_dir)))
  return builder


@pytest.fixture(scope="session")
def tone_dataset(tmp_path_factory):
  """A built noss/crema_d of tones: (builder, {example_id: samples}, manual_dir, data_dir)."""
  root = tmp_path_factory.mktemp("tones")
  written = write_tone_corpus(root / "raw")
  builder = build("noss/crema_d", root / "raw", root / "tfds")
  return builder, written, root / "raw", root / "tfds"


def run_command(*args, check=True):
  """Runs one of the installed console scripts as a user would; returns the CompletedProcess."""
  executable = shutil.which(args[0], path=str(__import__("pathlib").Path(sys.executable).parent))
  assert executable, f"{args[0]} is not installed beside {sys.executable}"
  result = subprocess.run([executable, *map(str, args[1:])], capture_output=True, text=True)
  if check and result.returncode != 0:
    raise AssertionError(f"{args} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
  return result
