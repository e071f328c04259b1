"""The four commands, run as a user runs them, on a synthesized corpus in CREMA-D's raw layout."""

import json

import pytest

from conftest import run_command
from nossbench.builders import demo_corpus


@pytest.fixture(scope="module")
def spoken_corpus(tmp_path_factory):
  root = tmp_path_factory.mktemp("spoken")
  demo_corpus.make_corpus(root / "raw", actors=12, sentences=4)
  return root


def test_raw_folder_to_scored_report(spoken_corpus):
  root, task = spoken_corpus, "noss/crema_d"
  run_command("tfds", "build", task, "--imports", "nossbench.builders", "--manual_dir", root / "raw",
              "--data_dir", root / "tfds")
  run_command("prepare-splits", task, "--data_dir", root / "tfds", "--out", root / "splits", "--intra-speaker")
  embed = ("compute-embeddings", "--task", task, "--data_dir", root / "tfds", "--model", "logmel",
           "--cache", root / "cache", "--export", root / "logmel.npz")
  first = run_command(*embed)
  assert first.stdout.count("computed cache entry") == 3
  second = run_command(*embed)
  assert second.stdout.count("reused cache entry") == 3 and "computed" not in second.stdout
  run_command("score-submission", root / "logmel.npz", "--task", task, "--splits", root / "splits",
              "--out", root / "report")

  report = json.loads((root / "report/report.json").read_text())
  assert report["n_examples"] == 12 * 4 * 6 and report["dims"] == 64
  by_protocol = {result["protocol"]: result for result in report["results"]}
  canonical, intra = by_protocol["canonical"], by_protocol["intra_speaker"]
  chance = 1 / 6
  assert canonical["n_test"] == 3 * 24  # 12 speakers cut at int(0.7 * 12) = 8 and int(0.8 * 12) = 9
  assert canonical["accuracy"] > 2 * chance
  assert intra["protocol"] == "intra_speaker" and intra["speakers"] == 12 and intra["repeats"] == 5
  assert intra["accuracy"] > 2 * chance


def test_unknown_model_lists_the_available_ones(spoken_corpus):
  result = run_command("compute-embeddings", "--task", "noss/crema_d", "--model", "nope",
                       "--cache", spoken_corpus / "c", check=False)
  assert result.returncode == 2 and "available models: logmel" in result.stderr
