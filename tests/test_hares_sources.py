"""Raw-layout readers of the HARES-only datasets and the supplied split lists: no decoding, no TFDS build."""

import hashlib
import os
import re

import pytest

import hares_helpers
from nossbench import UserError
from nossbench.builders.hares import supplied_lists
from nossbench.builders.sources import audioset, birdsong, esc50, fluent_speech_commands, magnatagatune, nsynth, tut18


def by_id(splits):
  return {c.example_id: (split, c) for split, clips in splits.items() for c in clips}


def test_esc50_follows_the_official_folds(tmp_path):
  expected = hares_helpers.write_esc50(tmp_path)
  splits, notes = esc50.list_splits(tmp_path)
  clips = by_id(splits)
  assert sorted(clips) == sorted(expected)
  for example_id, (split, clip) in clips.items():
    assert (clip.label, clip.fold) == (expected[example_id]["label"], expected[example_id]["fold"])
    assert split == esc50.FOLD_SPLITS[clip.fold] and os.path.exists(clip.path)
  assert "official folds" in notes["split_source"]
  assert esc50.list_splits(tmp_path / "ESC-50-master")[0] == splits  # the unzipped folder itself works too


def test_esc50_names_a_bad_meta_line(tmp_path):
  hares_helpers.write_esc50(tmp_path)
  meta = tmp_path / "ESC-50-master/meta/esc50.csv"
  meta.write_text(meta.read_text() + "5-9-A-0.wav,5,0,cat,False,9,A\n")
  with pytest.raises(UserError, match=r"line 12 \(5-9-A-0.wav\) has fold 5, target 0, category 'cat'"):
    esc50.list_splits(tmp_path)
  with pytest.raises(UserError, match="no meta/esc50.csv.*karolpiczak"):
    esc50.list_splits(tmp_path / "ESC-50-master/audio")


def test_fluent_speech_commands_keeps_the_official_speaker_disjoint_split(tmp_path):
  expected = hares_helpers.write_fluent_speech_commands(tmp_path)
  splits, _ = fluent_speech_commands.list_splits(tmp_path)
  clips = by_id(splits)
  assert {i: (s, c.label, c.speaker_id) for i, (s, c) in clips.items()} == {
      i: (e["split"], e["label"], e["speaker_id"]) for i, e in expected.items()}
  speakers = {split: {c.speaker_id for c in cs} for split, cs in splits.items()}
  assert not speakers["train"] & speakers["test"] and not speakers["train"] & speakers["validation"]


def test_fluent_speech_commands_rejects_an_unknown_intent(tmp_path):
  hares_helpers.write_fluent_speech_commands(tmp_path)
  table = tmp_path / "fluent_speech_commands_dataset/data/valid_data.csv"
  lines = table.read_text().splitlines()
  table.write_text("\n".join(lines[:1] + [lines[1].rsplit(",", 3)[0] + ",dance,music,none"] + lines[2:]) + "\n")
  with pytest.raises(UserError, match="valid_data.csv line 2 .* intent 'dance_music_none'"):
    fluent_speech_commands.list_splits(tmp_path)


@pytest.mark.parametrize("escape", ["../../etc/passwd", "/etc/passwd", "C:\\Windows\\x.wav", "a/../../b.wav"])
def test_a_metadata_path_leaving_the_dataset_folder_is_refused(tmp_path, escape):
  """A hostile or corrupted table must not make a build read files outside manual_dir."""
  hares_helpers.write_fluent_speech_commands(tmp_path)
  table = tmp_path / "fluent_speech_commands_dataset/data/train_data.csv"
  lines = table.read_text().splitlines()
  first = lines[1].split(",")
  first[1] = f'"{escape}"'
  table.write_text("\n".join([lines[0], ",".join(first)] + lines[2:]) + "\n")
  with pytest.raises(UserError, match=r"train_data.csv line 2 names the file .* which is not inside"):
    fluent_speech_commands.list_splits(tmp_path)
  hares_helpers.write_esc50(tmp_path / "esc")
  meta = tmp_path / "esc/ESC-50-master/meta/esc50.csv"
  meta.write_text(meta.read_text() + f"{escape},5,0,dog,False,9,A\n")
  with pytest.raises(UserError, match=r"esc50.csv line 12 names the file .* which is not inside"):
    esc50.list_splits(tmp_path / "esc")


@pytest.mark.parametrize("target", ["instrument_family", "pitch"])
def test_nsynth_labels_notes_by_family_or_pitch(tmp_path, target):
  expected = hares_helpers.write_nsynth(tmp_path)
  splits, _ = nsynth.list_splits(tmp_path, target)
  key = "family" if target == "instrument_family" else "pitch"
  assert {i: (s, c.label, c.instrument) for i, (s, c) in by_id(splits).items()} == {
      i: (e["split"], e[key], e["instrument"]) for i, e in expected.items()}
  assert all(os.path.exists(c.path) for cs in splits.values() for c in cs)


def test_magnatagatune_top50_tags_and_folder_splits(tmp_path):
  expected = hares_helpers.write_magnatagatune(tmp_path)
  splits, notes = magnatagatune.list_splits(tmp_path)
  clips = by_id(splits)
  assert {i: (s, list(c.labels)) for i, (s, c) in clips.items()} == {
      i: (e["split"], e["labels"]) for i, e in expected.items()}
  assert notes["clips_without_top50_tag"] == 1  # the folder-c clip has only a tag outside the top 50
  assert all(os.path.exists(c.path) for _, c in clips.values())


def test_tut18_fallback_is_fold1_with_whole_locations_held_out(tmp_path):
  expected = hares_helpers.write_tut18(tmp_path)
  splits, notes = tut18.list_splits(tmp_path)
  clips = by_id(splits)
  assert {i: (s, c.label, c.location) for i, (s, c) in clips.items()} == {
      i: (e["split"], e["label"], e["location"]) for i, e in expected.items()}
  locations = {split: {c.location for c in cs} for split, cs in splits.items()}
  assert all(locations.values())  # every split holds at least one location ...
  assert not (locations["train"] & locations["validation"] or locations["train"] & locations["test"]
              or locations["validation"] & locations["test"])  # ... and none is shared
  assert notes["split_source"].startswith("fallback: official fold1") and notes["not_in_fold1"] == []


def test_tut18_fold_list_naming_an_unknown_file_is_an_error(tmp_path):
  hares_helpers.write_tut18(tmp_path)
  fold = tmp_path / "TUT-urban-acoustic-scenes-2018-development/evaluation_setup/fold1_evaluate.txt"
  fold.write_text(fold.read_text() + "audio/tram-vienna-9-9-a.wav\ttram\n")
  with pytest.raises(UserError, match="fold1_evaluate.txt names audio/tram-vienna-9-9-a.wav"):
    tut18.list_splits(tmp_path)


def test_birdsong_fallback_split_depends_on_each_id_alone(tmp_path):
  hares_helpers.write_birdsong(tmp_path / "small", per_set=4)
  small = by_id(birdsong.list_splits(tmp_path / "small")[0])
  hares_helpers.write_birdsong(tmp_path / "large", per_set=40)
  splits, notes = birdsong.list_splits(tmp_path / "large")
  large = by_id(splits)
  assert {i: s for i, (s, _) in small.items()} == {i: large[i][0] for i in small}  # nothing moved
  assert len(large) == 120 and all(splits.values())
  assert 0.6 < len(splits["train"]) / 120 < 0.95
  assert notes["absent"] == {"train": [], "validation": [], "test": []}
  for example_id, (split, _) in large.items():  # the documented rule, computed independently
    unit = int.from_bytes(hashlib.sha256(f"birdsong/{example_id}".encode()).digest()[:8], "little") / 2**64
    assert split == ("train" if unit < 0.8 else "validation" if unit < 0.9 else "test")


def test_birdsong_lists_absent_wavs_and_labels(tmp_path):
  gone = "warblrb10k/0001a1b2-warblr"
  expected = hares_helpers.write_birdsong(tmp_path, absent=(gone,))
  splits, notes = birdsong.list_splits(tmp_path)
  clips = by_id(splits)
  assert sorted(clips) == sorted(set(expected) - {gone})
  assert {i: (c.label, c.source) for i, (_, c) in clips.items()} == {
      i: (e["label"], e["source"]) for i, e in expected.items() if i != gone}
  assert [i for ids in notes["absent"].values() for i in ids] == [gone]
  assert gone in notes["absent"][birdsong.fallback_split(gone)]


def test_birdsong_needs_its_three_label_files(tmp_path):
  hares_helpers.write_birdsong(tmp_path)
  (tmp_path / "BirdVoxDCASE20k_csvpublic.csv").unlink()
  with pytest.raises(UserError, match="(?s)BirdVoxDCASE20k_csvpublic.csv not found.*dcase.community"):
    birdsong.list_splits(tmp_path)


def test_audioset_matches_every_naming_style_and_lists_the_missing(tmp_path):
  expected, missing, mids = hares_helpers.write_audioset(tmp_path)
  splits, notes = audioset.list_splits(tmp_path)
  clips = by_id(splits)
  assert {i: (s, list(c.labels)) for i, (s, c) in clips.items()} == {
      i: (e["split"], e["labels"]) for i, e in expected.items()}
  assert notes["missing"] == missing and notes["missing_count"] == {"train": 1, "validation": 1, "test": 1}
  assert notes["listed_segments"] == {"train": 4, "validation": 4, "test": 4}
  assert notes["unmatched_files"] == ["stray/not-a-segment.wav"]
  assert audioset.read_vocabulary(tmp_path)[0] == tuple(mids)


def test_audioset_rejects_labels_outside_the_vocabulary(tmp_path):
  hares_helpers.write_audioset(tmp_path)
  segments = tmp_path / "eval_segments.csv"
  segments.write_text(segments.read_text() + 'zzzzzzzzzzz, 0.000, 10.000, "/m/nope"\n')
  with pytest.raises(UserError, match=r"eval_segments.csv line 8 \(zzzzzzzzzzz\) has label\(s\) /m/nope"):
    audioset.list_splits(tmp_path)


def test_supplied_lists_partition_clips_by_any_form_of_name(tmp_path):
  hares_helpers.write_birdsong(tmp_path, absent=("ff1010bird/64003",))
  clips, _ = birdsong.list_clips(tmp_path)
  folder = tmp_path / supplied_lists.FOLDER
  folder.mkdir()
  (folder / "train.txt").write_text("# HARES lists\nff1010bird/64000\n64001.wav,1\nwav/0000a1b2-warblr.wav\n")
  (folder / "validation.txt").write_text("0001a1b2-warblr\n\n")
  (folder / "test.txt").write_text("BirdVox-DCASE-20k/0000c3d4-vox\t0\n64003\n")
  splits, absent, unlisted = supplied_lists.apply("hares/birdsong", supplied_lists.find(tmp_path), clips,
                                                  {"train": ["ff1010bird/64003"]})
  assert {s: [c.example_id for c in cs] for s, cs in splits.items()} == {
      "train": ["ff1010bird/64000", "ff1010bird/64001", "warblrb10k/0000a1b2-warblr"],
      "validation": ["warblrb10k/0001a1b2-warblr"], "test": ["BirdVox-DCASE-20k/0000c3d4-vox"]}
  assert absent == {"train": [], "validation": [], "test": ["ff1010bird/64003"]}
  assert len(unlisted) == 11 - 5 and "ff1010bird/64002" in unlisted


def test_supplied_lists_name_unknown_and_doubly_listed_clips(tmp_path):
  hares_helpers.write_birdsong(tmp_path)
  clips, _ = birdsong.list_clips(tmp_path)
  folder = tmp_path / supplied_lists.FOLDER
  folder.mkdir()
  (folder / "train.txt").write_text("64000\n99999.wav\n")
  (folder / "validation.txt").write_text("")
  with pytest.raises(UserError, match="not test.txt"):
    supplied_lists.apply("hares/birdsong", folder, clips)
  (folder / "test.txt").write_text("")
  with pytest.raises(UserError, match=r"1 entries .* name no clip of the dataset: train.txt line 2: 99999"):
    supplied_lists.apply("hares/birdsong", folder, clips)
  (folder / "train.txt").write_text("64000\n")
  (folder / "test.txt").write_text("ff1010bird/64000\n")
  with pytest.raises(UserError, match="ff1010bird/64000 is in both train.txt and test.txt"):
    supplied_lists.apply("hares/birdsong", folder, clips)


def test_supplied_lists_read_the_dcase_table_layouts(tmp_path):
  """Tables as DCASE ships them: the bird CSV with its header, quoted fields, TUT18's tab-separated folds."""
  hares_helpers.write_birdsong(tmp_path)
  clips, _ = birdsong.list_clips(tmp_path)
  folder = tmp_path / supplied_lists.FOLDER
  folder.mkdir()
  (folder / "train.txt").write_text("itemid,datasetid,hasbird\n64000,ff1010bird,0\n0000a1b2-warblr,warblrb10k,0\n")
  (folder / "validation.txt").write_text('\ufeff"filename";"label"\n"64001.wav";1\n')  # BOM, quotes, semicolons
  (folder / "test.txt").write_text("wav\\0000c3d4-vox.wav 0\n# ignored\nBirdVox-DCASE-20k/0001c3d4-vox\tbird\n")
  splits, _, _ = supplied_lists.apply("hares/birdsong", folder, clips)
  assert {s: [c.example_id for c in cs] for s, cs in splits.items()} == {
      "train": ["ff1010bird/64000", "warblrb10k/0000a1b2-warblr"], "validation": ["ff1010bird/64001"],
      "test": ["BirdVox-DCASE-20k/0000c3d4-vox", "BirdVox-DCASE-20k/0001c3d4-vox"]}

  tut = tmp_path / "tut"
  hares_helpers.write_tut18(tut)
  scenes = tut18.list_clips(tut)
  (tut / supplied_lists.FOLDER).mkdir()
  for split, part in zip(supplied_lists.SPLITS, ([0, 1], [2], [3, 4])):
    rows = [f"audio/{scenes[k].example_id}.wav\t{scenes[k].label}" for k in part]
    (tut / supplied_lists.FOLDER / f"{split}.txt").write_text("\n".join(rows) + "\n")
  splits, _, unlisted = supplied_lists.apply("hares/tut18", tut / supplied_lists.FOLDER, scenes)
  assert [c.example_id for c in splits["test"]] == [scenes[3].example_id, scenes[4].example_id]
  assert len(unlisted) == len(scenes) - 5


@pytest.mark.parametrize("line, shown", [(",64000", "',64000'"), ('"64000,1', """'"64000,1'"""),
                                         ('64"000', """'64"000'""")])
def test_supplied_lists_name_an_unreadable_line_and_the_accepted_formats(tmp_path, line, shown):
  hares_helpers.write_birdsong(tmp_path)
  clips, _ = birdsong.list_clips(tmp_path)
  folder = tmp_path / supplied_lists.FOLDER
  folder.mkdir()
  (folder / "train.txt").write_text(f"# lists\n64001\n{line}\n")
  (folder / "validation.txt").write_text("")
  (folder / "test.txt").write_text("")
  with pytest.raises(UserError, match=f"train.txt line 3: cannot read a clip name from {re.escape(shown)}. "
                                      "Accepted: one clip per line, or a table"):
    supplied_lists.apply("hares/birdsong", folder, clips)
  (folder / "train.txt").write_bytes(b"64001\n\xff\xfe6\x00")
  with pytest.raises(UserError, match="train.txt is not UTF-8 text"):
    supplied_lists.apply("hares/birdsong", folder, clips)
