"""The commands print their own words: TensorFlow's C++ start-up lines (oneDNN, CUDA probing, CPU
features) and absl's deprecation warnings stay off the terminal unless -v; our errors still reach it.
Our builders and readers use TFDS's current API, so even -v and `tfds build` show no dtype deprecation."""

import subprocess
import sys

from conftest import run_command, write_tone_corpus

FRAMEWORK_CHATTER = ("absl::InitializeLog", "oneDNN", "cuda", "TensorInfo.dtype", "cpu_feature_guard")
DTYPE_DEPRECATION = ".dtype` is deprecated"  # TFDS's words for TensorInfo.dtype and FeatureConnector.dtype


def test_prepare_splits_and_compute_embeddings_print_only_their_own_lines(tone_dataset, tmp_path):
  data_dir = tone_dataset[3]
  quiet = run_command("prepare-splits", "noss/crema_d", "--data_dir", data_dir, "--out", tmp_path / "splits")
  assert "canonical:" in quiet.stdout
  assert not [w for w in FRAMEWORK_CHATTER if w in quiet.stderr], quiet.stderr
  embedded = run_command("compute-embeddings", "--task", "noss/crema_d", "--data_dir", data_dir, "--model", "logmel",
                         "--cache", tmp_path / "cache")
  assert "embedded" in embedded.stdout + embedded.stderr
  assert not [w for w in FRAMEWORK_CHATTER if w in embedded.stderr], embedded.stderr
  verbose = run_command("prepare-splits", "noss/crema_d", "--data_dir", data_dir, "--out", tmp_path / "again", "-v")
  assert "canonical:" in verbose.stdout and "oneDNN" in verbose.stderr  # -v shows what TensorFlow says
  assert DTYPE_DEPRECATION not in verbose.stdout + verbose.stderr  # but prepare-splits reads no deprecated field


def test_our_errors_still_reach_the_terminal_when_frameworks_are_quiet(tone_dataset, tmp_path):
  failed = run_command("prepare-splits", "noss/no_such_task", "--data_dir", tone_dataset[3], "--out", tmp_path,
                       check=False)
  assert failed.returncode == 2 and "error: unknown task 'noss/no_such_task'" in failed.stderr
  assert "Traceback" not in failed.stderr and "oneDNN" not in failed.stderr


def test_tfds_build_and_reading_the_build_log_no_dtype_deprecation(tmp_path):
  write_tone_corpus(tmp_path / "raw", actors=range(1001, 1005), sentences=("DFA",), seconds=0.05)
  built = run_command("tfds", "build", "noss/crema_d", "--imports", "nossbench.builders", "--manual_dir",
                      tmp_path / "raw", "--data_dir", tmp_path / "tfds")
  assert "Dataset noss downloaded and prepared" in built.stdout + built.stderr
  assert DTYPE_DEPRECATION not in built.stdout + built.stderr, built.stdout + built.stderr
  read = subprocess.run([sys.executable, "-c", f"""
import tensorflow_datasets as tfds, nossbench.builders
builder = tfds.builder("noss/crema_d", data_dir={str(tmp_path / "tfds")!r})
print(sum(len(e["audio"]) for e in tfds.as_numpy(builder.as_dataset(split="train"))))
"""], capture_output=True, text=True, check=True)
  assert int(read.stdout.split()[-1]) == 12 * 800  # 4 actors x 1 sentence x 6 emotions, half for train
  assert DTYPE_DEPRECATION not in read.stdout + read.stderr, read.stderr
