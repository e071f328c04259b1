"""The four commands, run as a user runs them, on a synthesized corpus in CREMA-D's raw layout."""

import csv
import json

import numpy as np
import pytest

from conftest import run_command
from nossbench.builders import demo_corpus


@pytest.fixture(scope="module")
def spoken_corpus(tmp_path_factory):
  root = tmp_path_factory.mktemp("spoken")
  demo_corpus.make_corpus(root / "raw", actors=12, sentences=4)
  return root


@pytest.fixture(scope="module")
def built(spoken_corpus):
  """The corpus built with TFDS and split (canonical and intra-speaker manifests)."""
  root, task = spoken_corpus, "noss/crema_d"
  run_command("tfds", "build", task, "--imports", "nossbench.builders", "--manual_dir", root / "raw",
              "--data_dir", root / "tfds")
  run_command("prepare-splits", task, "--data_dir", root / "tfds", "--out", root / "splits", "--intra-speaker")
  return root


def test_raw_folder_to_scored_report(built):
  root, task = built, "noss/crema_d"
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

  # What `make demo` prints: every number with its 95% interval.
  md = (root / "report/report.md").read_text()
  low, high = canonical["accuracy_ci"]
  assert f"| canonical split (test) | {100 * canonical['accuracy']:.1f} [{100 * low:.1f}, {100 * high:.1f}] |" in md
  low, high = intra["accuracy_ci"]
  assert f"{100 * intra['accuracy']:.1f} ± {100 * intra['accuracy_std']:.1f} [{100 * low:.1f}, {100 * high:.1f}]" in md

  # A second submission on the same protocol: the paired difference, and the protocol ids match.
  with np.load(root / "logmel.npz") as loaded:
    ids = loaded["example_id"]
  np.savez(root / "noise.npz", example_id=ids, embedding=np.random.RandomState(0).randn(len(ids), 8))
  run_command("score-submission", "--compare", root / "report", root / "noise.npz", "--task", task,
              "--splits", root / "splits", "--out", root / "compared")
  compared = json.loads((root / "compared/report.json").read_text())["comparisons"]
  assert {(p["protocol"], p["a"], p["b"]) for p in compared["pairs"]} == {
      (p, "logmel.npz", "noise.npz") for p in ("canonical", "intra_speaker")}
  md = (root / "compared/report.md").read_text()
  assert "the same for all 2" in md and "logmel.npz − noise.npz" in md


def test_audit_lists_what_crosses_the_demo_splits(built):
  """The demo corpus's actors all read the same sentences: each sentence crosses every cut; no audio repeats."""
  root = built
  result = run_command("prepare-splits", "--audit", root / "splits", "--data_dir", root / "tfds", "--strict",
                       check=False)
  assert result.returncode == 2 and "findings cross a split boundary" in result.stderr
  assert "0 pairs of identical audio and 0 near-duplicate pairs" in result.stdout
  with open(root / "splits/noss/crema_d/audit.csv", encoding="utf-8") as f:
    rows = list(csv.DictReader(f))
  canonical = {(r["split_a"], r["split_b"]) for r in rows if r["scheme"] == "canonical"}
  assert canonical == {("train", "test"), ("train", "validation"), ("validation", "test")}
  assert {r["kind"] for r in rows} == {"content"} and len({r["item_a"] for r in rows}) == 4
  assert {r["unit"] for r in rows if r["scheme"] == "intra_speaker"} >= {"repeat 0, speaker_id 1001"}


def test_unknown_model_lists_the_available_ones(spoken_corpus):
  result = run_command("compute-embeddings", "--task", "noss/crema_d", "--model", "nope",
                       "--cache", spoken_corpus / "c", check=False)
  assert result.returncode == 2 and "available models: logmel" in result.stderr
