"""prepare-splits: canonical and intra-speaker manifests, determinism and the sha256 check."""


import pandas as pd
import pytest

from conftest import run_command
from nossbench import UserError
from nossbench.splits import intra_speaker, manifest


def speaker_table(sizes: dict[str, int]) -> pd.DataFrame:
  rows = [(f"{s}_{i:03d}", ("a", "b")[i % 2], s) for s, n in sizes.items() for i in range(n)]
  return pd.DataFrame(rows, columns=["example_id", "label", "speaker_id"])


def test_intra_speaker_cuts_each_speaker_once_per_repeat():
  table = speaker_table({"s1": 10, "s2": 7, "s3": 1})
  cuts, skipped = intra_speaker.intra_speaker_splits(table, repeats=3, test_fraction=0.2, seed=0)
  assert skipped == {"s3": 1}
  assert set(cuts["repeat"]) == {0, 1, 2}
  for (repeat, speaker), rows in cuts.groupby(["repeat", "speaker_id"]):
    assert sorted(rows["example_id"]) == sorted(table[table.speaker_id == speaker]["example_id"])
    assert set(rows["split"]) == {"train", "test"}
    assert (rows["split"] == "test").sum() == {"s1": 2, "s2": 1}[speaker]
  # repeats differ, and labels travel with their examples
  by_repeat = [frozenset(cuts[(cuts.repeat == r) & (cuts.split == "test")]["example_id"]) for r in range(3)]
  assert len(set(by_repeat)) > 1
  assert (cuts.merge(table, on="example_id")["label_x"] == cuts.merge(table, on="example_id")["label_y"]).all()


def test_adding_a_speaker_does_not_move_the_others():
  before, _ = intra_speaker.intra_speaker_splits(speaker_table({"s1": 10, "s2": 9}), repeats=2)
  after, _ = intra_speaker.intra_speaker_splits(speaker_table({"s0": 4, "s1": 10, "s2": 9}), repeats=2)
  after = after[after.speaker_id != "s0"]
  key = ["repeat", "example_id"]
  pd.testing.assert_frame_equal(before.sort_values(key, ignore_index=True), after.sort_values(key, ignore_index=True))


def test_prepare_splits_writes_canonical_and_intra_speaker_manifests(tone_dataset, tmp_path):
  builder, written, _, data_dir = tone_dataset
  out = tmp_path / "m"
  result = run_command("prepare-splits", "noss/crema_d", "--data_dir", data_dir, "--out", out, "--intra-speaker")
  assert "canonical: 144 examples" in result.stdout
  canonical, sidecar = manifest.read_manifest(out, "noss/crema_d", "canonical")
  assert sorted(canonical["example_id"]) == sorted(written)
  assert sidecar["rows"] == 144 and sidecar["scheme"] == "canonical"
  for split in ("train", "validation", "test"):
    assert (canonical["split"] == split).sum() == builder.info.splits[split].num_examples
  speakers = canonical.groupby("speaker_id")["split"].nunique()
  assert (speakers == 1).all()  # speaker-disjoint
  cuts, cuts_sidecar = manifest.read_manifest(out, "noss/crema_d", "intra_speaker")
  assert len(cuts) == 5 * 144 and cuts_sidecar["params"]["repeats"] == 5

  again = tmp_path / "m2"
  run_command("prepare-splits", "noss/crema_d", "--data_dir", data_dir, "--out", again, "--intra-speaker")
  for name in ("canonical.csv", "intra_speaker.csv", "canonical.json", "intra_speaker.json"):
    assert (out / "noss/crema_d" / name).read_bytes() == (again / "noss/crema_d" / name).read_bytes()


def test_an_edited_manifest_is_refused(tmp_path):
  table = speaker_table({"s1": 4}).assign(split="train")
  manifest.write_manifest(tmp_path, "noss/crema_d", "canonical", table, {"seed": None})
  path = tmp_path / "noss/crema_d/canonical.csv"
  path.write_text(path.read_text().replace("s1_000", "s1_999"))
  with pytest.raises(UserError, match="does not match the sha256"):
    manifest.read_manifest(tmp_path, "noss/crema_d", "canonical")


def test_unbuilt_task_names_the_build_command(tmp_path):
  result = run_command("prepare-splits", "noss/crema_d", "--data_dir", tmp_path, "--out", tmp_path / "m",
                       check=False)
  assert result.returncode == 2
  assert "tfds build noss/crema_d --imports nossbench.builders" in result.stderr
  assert "Traceback" not in result.stderr


@pytest.mark.parametrize("flags, message", [(["--test-fraction", "1.5"], "--test-fraction"),
                                            (["--repeats", "0"], "--repeats")])
def test_bad_flags_are_one_line_errors(tmp_path, flags, message):
  result = run_command("prepare-splits", "noss/crema_d", "--out", tmp_path, *flags, check=False)
  assert result.returncode == 2 and message in result.stderr and "Traceback" not in result.stderr
