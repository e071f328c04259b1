"""The split algorithms on example tables: disjointness, coverage, stratification, stability, errors."""

import numpy as np
import pandas as pd
import pytest

from nossbench import UserError
from nossbench.splits import from_lists, intra_speaker, kfold, manifest, speaker_disjoint, trials
from splits_helpers import speaker_table


def language_table(speakers_per_label=10, examples=10, labels=("de", "en", "fr", "ru")) -> pd.DataFrame:
  """VoxForge-like: every speaker speaks one language."""
  rows = [(f"{lang}{s:02d}-{i:02d}", lang, f"{lang}{s:02d}") for lang in labels
          for s in range(speakers_per_label) for i in range(examples)]
  return pd.DataFrame(rows, columns=["example_id", "label", "speaker_id"]).assign(split="train")


def written_bytes(tmp_path, scheme, table) -> bytes:
  manifest.write_manifest(tmp_path, "noss/x", scheme, table, {"seed": 0})
  return (tmp_path / "noss/x" / f"{scheme}.csv").read_bytes()


# speaker-disjoint

def test_speaker_disjoint_repeats_hold_every_example_once_and_no_speaker_on_both_sides():
  table = language_table()
  rows = speaker_disjoint.speaker_disjoint_splits(table, repeats=5, test_fraction=0.2, seed=3)
  tests = []
  for _, cut in rows.groupby("repeat"):
    assert sorted(cut["example_id"]) == sorted(table["example_id"])
    assert not set(cut.loc[cut.split == "test", "speaker_id"]) & set(cut.loc[cut.split == "train", "speaker_id"])
    # stratified: each language keeps exactly 0.2 of its speakers in test (2 of 10)
    assert (cut[cut.split == "test"].groupby("label")["speaker_id"].nunique() == 2).all()
    tests.append(frozenset(cut.loc[cut.split == "test", "speaker_id"]))
  assert len(set(tests)) == 5


def test_speaker_disjoint_stratifies_where_labels_span_speakers():
  rng = np.random.RandomState(0)
  rows = [(f"s{s:02d}-{i}", rng.choice(["a", "b", "c"], p=[0.6, 0.3, 0.1]), f"s{s:02d}") for s in range(40)
          for i in range(rng.randint(5, 30))]
  table = pd.DataFrame(rows, columns=["example_id", "label", "speaker_id"]).assign(split="train")
  cuts = speaker_disjoint.speaker_disjoint_splits(table, repeats=3, test_fraction=0.25)
  share = cuts[cuts.split == "test"].groupby(["repeat", "label"]).size() / table.groupby("label").size()
  assert share.between(0.2, 0.3).all(), share


def test_speaker_disjoint_stratifies_multi_label_tasks():
  table = language_table().rename(columns={"label": "labels"})
  table["labels"] = table["labels"] + ";speech"
  cuts = speaker_disjoint.speaker_disjoint_splits(table, repeats=2, test_fraction=0.2)
  test = cuts[(cuts.repeat == 0) & (cuts.split == "test")]
  assert test["labels"].str.split(";").explode().value_counts().to_dict() == {
      "speech": 80, "de": 20, "en": 20, "fr": 20, "ru": 20}


def test_speaker_disjoint_still_cuts_the_size_when_labels_are_speakers():
  table = language_table(1, 12, labels=[f"id{i:03d}" for i in range(50)])  # VoxCeleb: label = speaker
  cuts = speaker_disjoint.speaker_disjoint_splits(table, repeats=2, test_fraction=0.2)
  assert ((cuts[cuts.split == "test"].groupby("repeat").size()) == 120).all()  # 10 of 50 speakers


def test_speaker_disjoint_examples_without_speaker_stand_alone():
  table = pd.concat([language_table(4, 5), speaker_table({"": 30})], ignore_index=True)
  table.loc[table.speaker_id == "", "example_id"] = [f"noise{i:02d}" for i in range(30)]
  cuts = speaker_disjoint.speaker_disjoint_splits(table, repeats=2, test_fraction=0.3)
  for _, cut in cuts.groupby("repeat"):
    assert sorted(cut["example_id"]) == sorted(table["example_id"])
    alone = cut[cut.speaker_id == ""]
    assert 0 < (alone.split == "test").sum() < 30  # cut one by one, not as one block


def test_speaker_disjoint_is_independent_of_row_order(tmp_path):
  table = language_table(5, 7)
  shuffled = table.sample(frac=1, random_state=7)
  for hash_assign in (False, True):
    first = speaker_disjoint.speaker_disjoint_splits(table, 3, 0.2, 1, hash_assign)
    second = speaker_disjoint.speaker_disjoint_splits(shuffled, 3, 0.2, 1, hash_assign)
    assert (written_bytes(tmp_path / "a", "speaker_disjoint", first)
            == written_bytes(tmp_path / "b", "speaker_disjoint", second))


def test_hash_assign_never_moves_existing_speakers():
  before = speaker_disjoint.speaker_disjoint_splits(language_table(10, 3), 3, 0.3, 5, hash_assign=True)
  after = speaker_disjoint.speaker_disjoint_splits(language_table(20, 3), 3, 0.3, 5, hash_assign=True)
  merged = before.merge(after, on=["example_id", "repeat"], suffixes=("_before", "_after"))
  assert len(merged) == len(before) and (merged.split_before == merged.split_after).all()
  # without it, the greedy cut reshuffles
  plain = [speaker_disjoint.speaker_disjoint_splits(language_table(n, 3), 1, 0.3, 5) for n in (10, 20)]
  merged = plain[0].merge(plain[1], on=["example_id", "repeat"])
  assert (merged.split_x != merged.split_y).any()


def test_speaker_disjoint_refuses_what_the_data_cannot_give():
  with pytest.raises(UserError, match="no speaker ids"):
    speaker_disjoint.speaker_disjoint_splits(speaker_table({"": 20}), 2, 0.2)
  with pytest.raises(UserError, match="--repeats 4 asks for more speaker-disjoint splits than 3 speakers allow"):
    speaker_disjoint.speaker_disjoint_splits(speaker_table({"a": 4, "b": 4, "c": 4}), 4, 0.2)
  with pytest.raises(UserError, match="hash-assign put every one of the 2 speakers"):
    speaker_disjoint.speaker_disjoint_splits(speaker_table({"a": 4, "b": 4}), 1, 0.01, hash_assign=True)


# intra-speaker

def test_intra_speaker_skips_examples_without_speaker_and_reports_label_gaps():
  table = pd.concat([speaker_table({"s1": 4}, labels=("a", "a", "a", "b")), speaker_table({"": 3})],
                    ignore_index=True)
  table.loc[table.speaker_id == "", "example_id"] = ["x0", "x1", "x2"]
  cuts, skipped = intra_speaker.intra_speaker_splits(table, repeats=4, test_fraction=0.25, seed=0)
  assert skipped == {"": 3} and set(cuts["speaker_id"]) == {"s1"}
  coverage = intra_speaker.label_coverage(cuts)
  gaps = sorted(r for r, rows in cuts.groupby("repeat") if (rows.loc[rows.split == "test", "label"] == "b").any())
  assert coverage["cuts"] == 4 and coverage["speakers_with_gaps"] == ({"s1": gaps} if gaps else {})
  assert coverage["cuts_missing_a_test_label_in_train"] == len(gaps)


def test_intra_speaker_is_independent_of_row_order(tmp_path):
  table = speaker_table({"s1": 9, "s2": 5, "s3": 7})
  first, _ = intra_speaker.intra_speaker_splits(table, 3, 0.3, seed=2)
  second, _ = intra_speaker.intra_speaker_splits(table.sample(frac=1, random_state=3), 3, 0.3, seed=2)
  assert written_bytes(tmp_path / "a", "intra_speaker", first) == written_bytes(tmp_path / "b", "intra_speaker", second)


def test_intra_speaker_repeat_limit_is_the_largest_speakers_distinct_cuts():
  table = speaker_table({"s1": 3, "s2": 2})
  assert intra_speaker.distinct_cuts(table, 0.2, cap=10) == 3  # C(3, 1)
  assert intra_speaker.distinct_cuts(speaker_table({"s1": 60}), 0.2, cap=10) == 10
  with pytest.raises(UserError, match="no speaker has 2 or more examples"):
    intra_speaker.intra_speaker_splits(speaker_table({"s1": 1, "": 5}))


# k-fold

def test_kfold_grouped_by_speaker_puts_each_example_in_test_once():
  table = language_table(6, 4)
  rows, _ = kfold.kfold_splits(table, 3, seed=2, group_column="speaker_id")
  tests = rows[rows.split == "test"]
  assert sorted(tests["example_id"]) == sorted(table["example_id"])
  assert (tests.groupby("speaker_id")["fold"].nunique() == 1).all()
  assert (rows["group"] == rows["speaker_id"]).all()
  assert (tests.groupby("fold")["label"].nunique() == 4).all()  # stratified: every language in every fold
  assert sorted(rows.groupby("fold")["example_id"].nunique()) == [len(table)] * 3


def test_kfold_keeps_a_datasets_own_folds():
  table = speaker_table({"": 20}).assign(example_id=[f"{f}-{i}" for i in range(4) for f in range(1, 6)],
                                         fold=[f for _ in range(4) for f in range(1, 6)])
  rows, _ = kfold.kfold_splits(table, 5, task="hares/esc50")
  tests = rows[rows.split == "test"]
  assert (tests["example_id"].str[0].astype(int) == tests["fold"]).all()
  assert sorted(set(rows["fold"])) == [1, 2, 3, 4, 5]
  with pytest.raises(UserError, match="ships its own 5 folds .*use --kfold 5"):
    kfold.kfold_splits(table, 3, task="hares/esc50")


def test_kfold_groups_by_any_column_and_ungrouped_multi_label():
  table = language_table(3, 6).assign(location=lambda t: t.example_id.str[-1])
  rows, _ = kfold.kfold_splits(table, 2, group_column="location")
  assert (rows[rows.split == "test"].groupby("group")["fold"].nunique() == 1).all()
  tags = table.rename(columns={"label": "labels"})
  rows, _ = kfold.kfold_splits(tags, 4, seed=1)
  assert sorted(rows.loc[rows.split == "test", "example_id"]) == sorted(table["example_id"])
  assert (rows["group"] == "").all()


def test_kfold_hash_assign_and_limits(tmp_path):
  small, large = language_table(10, 2), language_table(20, 2)
  before, _ = kfold.kfold_splits(small, 3, 4, "speaker_id", hash_assign=True)
  after, _ = kfold.kfold_splits(large, 3, 4, "speaker_id", hash_assign=True)
  merged = before[before.split == "test"].merge(after[after.split == "test"], on="example_id")
  assert len(merged) == len(small) and (merged.fold_x == merged.fold_y).all()
  shuffled, _ = kfold.kfold_splits(small.sample(frac=1, random_state=1), 3, 4, "speaker_id")
  ordered, _ = kfold.kfold_splits(small, 3, 4, "speaker_id")
  assert written_bytes(tmp_path / "a", "kfold", shuffled) == written_bytes(tmp_path / "b", "kfold", ordered)
  with pytest.raises(UserError, match="--kfold 5 needs at least 5 groups of `speaker_id`; this task has 3"):
    kfold.kfold_splits(speaker_table({"a": 3, "b": 3, "c": 3}), 5, group_column="speaker_id")


# lists

def write_lists(folder, lists: dict[str, str], order) -> None:
  folder.mkdir()
  for name in order:
    (folder / name).write_text(lists[name])


def test_from_lists_matches_ids_by_path_and_reports_the_unlisted(tmp_path):
  table = pd.DataFrame({"example_id": ["ff1010bird/64486", "warblr/abc", "airport-barcelona-0-0-a", "left/x_nohash_0",
                                       "spare"], "label": "a", "speaker_id": "", "split": "train"})
  lists = {"train.txt": "# train\n64486.wav\tbird\n\naudio/airport-barcelona-0-0-a.wav,airport\n",
           "test.csv": "left/x_nohash_0.wav\nwarblr/abc\n", "README.md": "not a list"}
  write_lists(tmp_path / "l", lists, ["README.md", "test.csv", "train.txt"])
  rows, report = from_lists.lists_split(table, tmp_path / "l")
  assert dict(zip(rows.example_id, rows.split)) == {"ff1010bird/64486": "train", "airport-barcelona-0-0-a": "train",
                                                   "left/x_nohash_0": "test", "warblr/abc": "test"}
  assert report["unlisted"] == 1 and report["unlisted_examples"] == ["spare"]
  assert report["ignored_files"] == ["README.md"]
  rows, _ = from_lists.lists_split(table, tmp_path / "l", unlisted_split="train")
  assert rows.set_index("example_id").loc["spare", "split"] == "train"

  # file creation order and line order do not matter
  reordered = {"train.txt": "audio/airport-barcelona-0-0-a.wav\n64486\n", "test.csv": "warblr/abc\nleft/x_nohash_0\n",
               "README.md": ""}
  write_lists(tmp_path / "r", reordered, ["train.txt", "test.csv", "README.md"])
  again, _ = from_lists.lists_split(table, tmp_path / "r", unlisted_split="train")
  assert written_bytes(tmp_path / "a", "lists", rows) == written_bytes(tmp_path / "b", "lists", again)


@pytest.mark.parametrize("content, message", [
    ("ff1010bird/64486\nnot/there.wav\n", r"1 entries name no example of the dataset: train.txt:2 'not/there'"),
    ("64486\n", r"match several examples; use full ids: train.txt:1 '64486' \(a/64486, b/64486, ff1010bird/64486\)"),
    ("a/64486\na/64486.wav\n", r"name an example already listed: train.txt:2 'a/64486' = a/64486, already in train"),
])
def test_from_lists_errors_name_the_entries(tmp_path, content, message):
  table = pd.DataFrame({"example_id": ["a/64486", "b/64486", "ff1010bird/64486"], "label": "a", "speaker_id": "",
                        "split": "train"})
  write_lists(tmp_path / "l", {"train.txt": content}, ["train.txt"])
  with pytest.raises(UserError, match=message):
    from_lists.lists_split(table, tmp_path / "l")


def test_from_lists_reads_the_same_grammar_as_the_hares_supplied_lists(tmp_path):
  """One list file works for prepare-splits --from-lists and a HARES builder alike (file_lists.py): a header,
  a quoted path with spaces, a semicolon table row and a Windows path."""
  from nossbench.builders.hares import supplied_lists  # pylint: disable=import-outside-toplevel
  table = pd.DataFrame({"example_id": ["ff1010bird/64486", "my clips/a b", "warblr/abc"], "label": "a",
                        "speaker_id": "", "split": "train"})
  text = 'filename,label\n"my clips/a b.wav",1\nwarblr/abc;0\nC:\\data\\ff1010bird\\64486.WAV,1\n'
  write_lists(tmp_path / "l", {"train.txt": text}, ["train.txt"])
  rows, _ = from_lists.lists_split(table, tmp_path / "l")
  assert sorted(rows.example_id) == sorted(table.example_id) and set(rows.split) == {"train"}
  assert [entry for _, entry in supplied_lists.read_list(tmp_path / "l" / "train.txt")] == [
      "my clips/a b", "warblr/abc", "C:/data/ff1010bird/64486"]
  (tmp_path / "l" / "train.txt").write_text('64486\n"unbalanced\n')
  with pytest.raises(UserError, match=r"train.txt line 2: cannot read a clip name"):
    from_lists.lists_split(table, tmp_path / "l")


# trials

def test_trials_keep_the_official_order_and_name_unknown_ids(tmp_path):
  ids = ["id1/a/00001", "id1/b/00002", "id2/c/00001"]
  table = trials.trials_table([[1, ids[0], ids[1]], [0, ids[0], ids[2]]], ids, "noss/voxceleb")
  manifest.write_manifest(tmp_path, "noss/voxceleb", "trials", table, {"seed": None})
  read, sidecar = manifest.read_manifest(tmp_path, "noss/voxceleb", "trials")
  assert read.values.tolist() == [[1, ids[0], ids[1]], [0, ids[0], ids[2]]] and sidecar["rows"] == 2
  with pytest.raises(UserError, match="1 example ids named by verification_trials are not in the dataset: id9/x/1"):
    trials.trials_table([[1, ids[0], "id9/x/1"]], ids, "noss/voxceleb")
  with pytest.raises(UserError, match=r"rows 1 \(1 in all, e.g. \[2, "):
    trials.trials_table([[1, ids[0], ids[1]], [2, ids[0], ids[1]]], ids, "noss/voxceleb")
