"""The commands print their own words: TensorFlow's C++ start-up lines (oneDNN, CUDA probing, CPU
features) and absl's deprecation warnings stay off the terminal unless -v; our errors still reach it."""

from conftest import run_command

FRAMEWORK_CHATTER = ("absl::InitializeLog", "oneDNN", "cuda", "TensorInfo.dtype", "cpu_feature_guard")


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


def test_our_errors_still_reach_the_terminal_when_frameworks_are_quiet(tone_dataset, tmp_path):
  failed = run_command("prepare-splits", "noss/no_such_task", "--data_dir", tone_dataset[3], "--out", tmp_path,
                       check=False)
  assert failed.returncode == 2 and "error: unknown task 'noss/no_such_task'" in failed.stderr
  assert "Traceback" not in failed.stderr and "oneDNN" not in failed.stderr
