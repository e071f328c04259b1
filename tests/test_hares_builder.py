"""`hares/*` built through TFDS from tiny copies of each dataset's raw layout: ids, labels, splits, audio,
extras and the metadata that says where the split came from and what was left out."""

import collections
import json

import numpy as np
import pandas as pd
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds

import builder_helpers
import hares_helpers
from conftest import build, run_command
from nossbench import UserError
from nossbench.builders import audio, generation
from nossbench.builders.hares import hares_dataset_builder, supplied_lists
from nossbench.builders.sources import birdsong, esc50, magnatagatune, nsynth, speech_commands, tut18, voxceleb
from nossbench.pipelines import transforms
from nossbench.splits import cli as splits_cli
from nossbench import speaker_shuffle

SPLITS = ("train", "validation", "test")


def build_with(task, manual_dir, data_dir, **options):
  """As conftest.build, with builder options (e.g. skip_bad_audio) as `tfds build task/key=value` passes them."""
  import nossbench.builders  # noqa: F401  pylint: disable=import-outside-toplevel,unused-import

  builder = tfds.builder(task, data_dir=str(data_dir), **options)
  builder.download_and_prepare(download_config=tfds.download.DownloadConfig(manual_dir=str(manual_dir)))
  return builder


def examples(builder):
  """{example_id: (split, example)} over every split."""
  return {e["example_id"].decode(): (split, e) for split in builder.info.splits
          for e in tfds.as_numpy(builder.as_dataset(split=split, shuffle_files=False))}


def assert_common(builder, built, labels, counted=True):
  """Features every task shares; split sizes and (`counted`) per-label counts that agree with the metadata."""
  assert set(builder.info.splits) == set(SPLITS)
  metadata = builder.info.metadata
  assert metadata["labels"] == list(labels)
  assert metadata["split_kind"] in hares_dataset_builder.SPLIT_KINDS and metadata["split_source"]
  target = "labels" if "labels" in builder.info.features else "label"
  for split in SPLITS:
    in_split = [e for s, e in built.values() if s == split]
    assert builder.info.splits[split].num_examples == len(in_split) > 0
    counts = collections.Counter(labels[k] for e in in_split for k in np.atleast_1d(e[target]))
    if counted and not metadata[f"build_report_{split}"]["skipped"]:  # counts: the clips handed to decoding
      assert metadata["label_counts"][split] == dict(counts)
  for _, example in built.values():
    assert example["audio"].dtype == np.int16 and example["audio"].ndim == 1


@pytest.fixture(scope="module")
def esc50_built(tmp_path_factory):
  root = tmp_path_factory.mktemp("esc50")
  expected = hares_helpers.write_esc50(root / "raw")
  (root / "raw/ESC-50-master/audio/2-1001-A-27.wav").write_bytes(b"RIFF....WAVEfmt broken")
  builder = build_with("hares/esc50", root / "raw", root / "tfds", skip_bad_audio=True)
  return builder, examples(builder), expected, root


def test_esc50_folds_labels_and_44k_audio(esc50_built):
  builder, built, expected, _ = esc50_built
  assert_common(builder, built, esc50.LABELS)
  names = builder.info.features["label"].names
  assert sorted(built) == sorted(set(expected) - {"2-1001-A-27"})
  for example_id, (split, example) in built.items():
    assert names[example["label"]] == expected[example_id]["label"]
    assert example["fold"] == expected[example_id]["fold"] and split == esc50.FOLD_SPLITS[example["fold"]]
    assert len(example["audio"]) == 1600  # 0.1 s at 44.1 kHz, resampled to 16 kHz
  assert builder.info.metadata["split_source"].startswith("official folds")
  assert builder.info.metadata["split_kind"] == "official"


def test_esc50_undecodable_file_is_skipped_and_listed_on_request(esc50_built):
  builder, _, _, root = esc50_built
  report = builder.info.metadata["build_report_train"]
  assert [name.rsplit("/", 1)[-1] for name, _ in report["skipped"]] == ["2-1001-A-27.wav"]
  assert builder.info.splits["train"].num_examples == 5  # 6 listed, 1 undecodable
  with pytest.raises(UserError, match="cannot decode .*2-1001-A-27.wav in the train split"):
    build("hares/esc50", root / "raw", root / "tfds-strict")


def test_fluent_speech_commands_intents_and_speakers(tmp_path):
  expected = hares_helpers.write_fluent_speech_commands(tmp_path / "raw")
  builder = build("hares/fluent_speech_commands", tmp_path / "raw", tmp_path / "tfds")
  built = examples(builder)
  assert_common(builder, built, builder.info.features["label"].names)
  names = builder.info.features["label"].names
  assert {i: (s, names[e["label"]], e["speaker_id"].decode()) for i, (s, e) in built.items()} == {
      i: (e["split"], e["label"], e["speaker_id"]) for i, e in expected.items()}


def test_tut18_48k_stereo_24bit_scenes_in_location_disjoint_splits(tmp_path):
  expected = hares_helpers.write_tut18(tmp_path / "raw")
  builder = build("hares/tut18", tmp_path / "raw", tmp_path / "tfds")
  built = examples(builder)
  assert_common(builder, built, tut18.LABELS)
  names = builder.info.features["label"].names
  assert {i: (s, names[e["label"]], e["location"].decode()) for i, (s, e) in built.items()} == {
      i: (e["split"], e["label"], e["location"]) for i, e in expected.items()}
  assert all(len(e["audio"]) == 1600 for _, e in built.values())  # 0.1 s, 48 kHz stereo -> 16 kHz mono
  assert builder.info.metadata["split_source"].startswith("fallback: official fold1")
  assert builder.info.metadata["split_kind"] == "fallback"


def test_tut18_supplied_lists_in_the_dcase_fold_layout_replace_the_fallback(tmp_path):
  """Lists in TUT18's own evaluation_setup layout (`audio/<file>.wav<TAB><scene>`) decide the split."""
  expected = hares_helpers.write_tut18(tmp_path / "raw")
  ids = sorted(expected)
  chosen = {"train": ids[:4], "validation": ids[4:6], "test": ids[6:9]}  # ids[9:] in no list
  folder = tmp_path / "raw" / supplied_lists.FOLDER
  folder.mkdir()
  for split, names in chosen.items():
    (folder / f"{split}.txt").write_text("".join(f"audio/{i}.wav\t{expected[i]['label']}\n" for i in names))
  builder = build("hares/tut18", tmp_path / "raw", tmp_path / "tfds")
  built = examples(builder)
  assert_common(builder, built, tut18.LABELS)
  assert {s: sorted(i for i, (split, _) in built.items() if split == s) for s in SPLITS} == chosen
  metadata = builder.info.metadata
  assert metadata["split_kind"] == "supplied lists" and metadata["split_source"].startswith("supplied lists:")
  assert metadata["unlisted"] == ids[9:]


def write_birdsong_lists(manual_dir, lists):
  folder = manual_dir / supplied_lists.FOLDER
  folder.mkdir()
  for split, entries in lists.items():
    (folder / f"{split}.txt").write_text("".join(f"{e}\n" for e in entries))


def test_birdsong_supplied_lists_replace_the_fallback_and_absent_files_are_reported(tmp_path):
  gone = "BirdVox-DCASE-20k/0002c3d4-vox"
  expected = hares_helpers.write_birdsong(tmp_path / "raw", absent=(gone,))
  lists = {"train": ["64000.wav", "64001.wav", "warblrb10k/0000a1b2-warblr", "0001a1b2-warblr"],
           "validation": ["64002", gone], "test": ["BirdVox-DCASE-20k/0000c3d4-vox", "0001c3d4-vox.wav"]}
  write_birdsong_lists(tmp_path / "raw", lists)
  with pytest.raises(UserError, match=f"1 file.* validation split .* not in the download: {gone}"):
    build("hares/birdsong", tmp_path / "raw", tmp_path / "tfds")
  builder = build_with("hares/birdsong", tmp_path / "raw", tmp_path / "tfds", skip_bad_audio=True)
  built = examples(builder)
  assert_common(builder, built, birdsong.LABELS)
  assert {s: sorted(i.rsplit("/", 1)[-1] for i, (split, _) in built.items() if split == s) for s in SPLITS} == {
      "train": ["0000a1b2-warblr", "0001a1b2-warblr", "64000", "64001"], "validation": ["64002"],
      "test": ["0000c3d4-vox", "0001c3d4-vox"]}
  names = builder.info.features["label"].names
  assert all(names[e["label"]] == expected[i]["label"] and e["source"].decode() == expected[i]["source"]
             for i, (_, e) in built.items())
  metadata = builder.info.metadata
  assert metadata["split_source"].startswith("supplied lists:") and metadata["split_kind"] == "supplied lists"
  assert metadata["build_report_validation"]["absent"] == [gone]
  assert metadata["unlisted"] == sorted(set(expected) - set(built) - {gone})


@pytest.fixture(scope="module")
def magnatagatune_built(tmp_path_factory):
  root = tmp_path_factory.mktemp("magnatagatune")
  expected = hares_helpers.write_magnatagatune(root / "raw", folders="0bcd" * 3)
  builder = build("hares/magnatagatune", root / "raw", root / "tfds")
  return builder, examples(builder), expected, root


def test_magnatagatune_multi_label_from_mp3(magnatagatune_built):
  builder, built, expected, _ = magnatagatune_built
  assert_common(builder, built, magnatagatune.LABELS)
  names = builder.info.features["labels"].feature.names
  assert {i: (s, [names[k] for k in e["labels"]]) for i, (s, e) in built.items()} == {
      i: (e["split"], e["labels"]) for i, e in expected.items()}
  assert all(abs(len(e["audio"]) - 4800) < 1200 for _, e in built.values())  # 0.3 s mp3, padding aside
  assert builder.info.metadata["clips_without_top50_tag"] == 1


def test_birdsong_without_lists_uses_the_documented_fallback(tmp_path):
  expected = hares_helpers.write_birdsong(tmp_path / "raw", per_set=8)
  builder = build("hares/birdsong", tmp_path / "raw", tmp_path / "tfds")
  built = examples(builder)
  assert_common(builder, built, birdsong.LABELS)
  assert {i: s for i, (s, _) in built.items()} == {i: birdsong.fallback_split(i) for i in expected}
  assert builder.info.metadata["split_source"] == f"fallback: {birdsong.FALLBACK}"
  assert builder.info.metadata["split_kind"] == "fallback"


def test_multi_label_task_goes_through_prepare_splits_and_scoring(magnatagatune_built, tmp_path):
  """A submission that carries the answer (each clip's tags) must score a perfect mAP after the join."""
  builder, built, _, root = magnatagatune_built
  ids = sorted(built)
  embedding = [np.isin(np.arange(50), built[i][1]["labels"]) + 0.01 * k for k, i in enumerate(ids)]
  np.savez(tmp_path / "tags.npz", example_id=np.array(ids), embedding=np.array(embedding, np.float32))
  run_command("prepare-splits", "hares/magnatagatune", "--data_dir", root / "tfds", "--out", tmp_path / "splits")
  manifest = (tmp_path / "splits/hares/magnatagatune/canonical.csv").read_text().splitlines()
  assert manifest[0].startswith("example_id,labels,") and len(manifest) == 1 + len(ids)
  run_command("score-submission", tmp_path / "tags.npz", "--task", "hares/magnatagatune", "--splits",
              tmp_path / "splits", "--out", tmp_path / "report", "--models", "logreg", "--jobs", "1")
  result = json.loads((tmp_path / "report/report.json").read_text())["results"][0]
  assert result["protocol"] == "canonical" and result["n_test"] == builder.info.splits["test"].num_examples
  assert result["map"] == pytest.approx(1.0)


@pytest.mark.parametrize("task, key", [("nsynth_instrument", "family"), ("nsynth_pitch", "pitch")])
def test_nsynth_through_beam(tmp_path, task, key):
  expected = hares_helpers.write_nsynth(tmp_path / "raw")
  builder = build(f"hares/{task}", tmp_path / "raw", tmp_path / "tfds")
  built = examples(builder)
  assert_common(builder, built, nsynth.TARGETS["instrument_family" if key == "family" else "pitch"])
  names = builder.info.features["label"].names
  assert {i: (s, names[e["label"]], e["instrument"].decode()) for i, (s, e) in built.items()} == {
      i: (e["split"], e[key], e["instrument"]) for i, e in expected.items()}


def test_audioset_through_beam_counts_missing_clips_and_keeps_its_vocabulary(tmp_path):
  expected, missing, mids = hares_helpers.write_audioset(tmp_path / "raw")
  builder = build("hares/audioset", tmp_path / "raw", tmp_path / "tfds")
  reloaded = tfds.builder("hares/audioset", data_dir=str(tmp_path / "tfds"))
  assert reloaded.info.features["labels"].feature.names == mids  # restored from the built dataset
  built = examples(reloaded)
  assert_common(builder, built, mids)
  assert {i: (s, [mids[k] for k in e["labels"]]) for i, (s, e) in built.items()} == {
      i: (e["split"], e["labels"]) for i, e in expected.items()}
  metadata = reloaded.info.metadata
  assert metadata["missing"] == missing and metadata["unmatched_files"] == ["stray/not-a-segment.wav"]
  assert metadata["label_display_names"][5] == "Sound, number 5"
  assert metadata["split_source"].startswith("official: unbalanced_train -> train")


def test_speech_commands_v1_is_the_12_class_task_of_noss(tmp_path):
  raw = builder_helpers.write_speech_commands(tmp_path / "raw")
  builder = build("hares/speech_commands_v1", tmp_path / "raw", tmp_path / "tfds")
  built = examples(builder)
  assert_common(builder, built, builder.info.features["label"].names)
  names = builder.info.features["label"].names
  label = {i: names[e["label"]] for i, (_, e) in built.items()}
  split = {i: s for i, (s, _) in built.items()}
  train_words = sorted(set(raw["wavs"]) - set(raw["validation"]) - set(raw["testing"]))
  assert sorted(i for i, s in split.items() if s == "train" and "#" not in i) == [w[:-4] for w in train_words]
  assert sorted(i for i, s in split.items() if s == "validation" and "#" not in i) == sorted(
      w[:-4] for w in raw["validation"])
  assert sorted(i for i, s in split.items() if s == "test") == sorted(w[:-4] for w in raw["test_wavs"])
  assert {i.split("#")[0] for i, s in split.items() if s == "validation" and "#" in i} == {
      "_background_noise_/running_tap"}
  assert label["bed/0a7c2a8d_nohash_0"] == "_unknown_" and label["yes/0a7c2a8d_nohash_0"] == "yes"
  assert all(label[i] == "_silence_" and len(built[i][1]["audio"]) == 16000 for i in label if "#" in i)


def test_official_lists_name_the_listed_files_missing_from_the_archive(tmp_path):
  raw = builder_helpers.write_speech_commands(tmp_path)
  gone = [raw["validation"][0], raw["testing"][2]]
  for name in gone:
    hares_helpers.drop_from_tar(tmp_path / builder_helpers.SC_MAIN, name)
  lists = speech_commands.read_official_lists(tmp_path / builder_helpers.SC_MAIN)
  assert lists.absent == {"validation": [gone[0]], "test": [gone[1]]}
  assert {w for w, s in lists.split_of.items() if s == "test"} == set(raw["testing"]) - {gone[1]}
  split_of = speech_commands.twelve_class_split(lists, tmp_path / builder_helpers.SC_MAIN)  # TFDS's 12-class view
  assert "test" not in split_of.values() and gone[1] not in split_of and split_of[raw["validation"][1]] == "validation"


def test_speech_commands_absent_testing_list_files_are_reported(tmp_path, caplog):
  raw = builder_helpers.write_speech_commands(tmp_path / "raw")
  gone = raw["testing"][2]  # bed/2c3d4e5f_nohash_0.wav: in testing_list.txt, now not in the archive
  hares_helpers.drop_from_tar(tmp_path / "raw" / builder_helpers.SC_MAIN, gone)
  with pytest.raises(UserError, match=f"1 file.* test split named by the dataset's official lists are not in "
                                      f"the download: {gone}.*skip_bad_audio=True"):
    build("hares/speech_commands_v2", tmp_path / "raw", tmp_path / "tfds")
  builder = build_with("hares/speech_commands_v2", tmp_path / "raw", tmp_path / "tfds", skip_bad_audio=True)
  built = examples(builder)
  assert builder.info.metadata["build_report_test"]["absent"] == [gone]
  assert sorted(i for i, (s, _) in built.items() if s == "test") == sorted(
      w[:-4] for w in raw["testing"] if w != gone)
  assert builder.info.metadata["split_kind"] == "official"
  # The 12-class task takes its test split from the test archive: the file is not needed, but listed and logged.
  caplog.clear()
  v1 = build("hares/speech_commands_v1", tmp_path / "raw", tmp_path / "tfds")
  assert v1.info.metadata["testing_list_absent"] == [gone]
  assert builder_helpers.examples(v1, "test").keys() == {w[:-4] for w in raw["test_wavs"]}
  assert any("testing_list.txt are not in" in r.getMessage() and gone in r.getMessage() for r in caplog.records)
  noss = build("noss/speech_commands", tmp_path / "raw", tmp_path / "tfds")  # the same plan, the same record
  assert noss.info.metadata["testing_list_absent"] == [gone] and str(noss.version) == "1.2.0"


def test_speech_commands_v2_has_all_35_words_and_the_official_lists(tmp_path):
  raw = builder_helpers.write_speech_commands(tmp_path / "raw")
  builder = build("hares/speech_commands_v2", tmp_path / "raw", tmp_path / "tfds")
  built = examples(builder)
  names = builder.info.features["label"].names
  assert len(names) == 35
  assert_common(builder, built, names)
  expected = {w[:-4]: ("validation" if w in raw["validation"] else "test" if w in raw["testing"] else "train",
                       w.split("/")[0]) for w in raw["wavs"]}
  assert {i: (s, names[e["label"]]) for i, (s, e) in built.items()} == expected  # no noise, bed is bed


def test_voxforge_follows_the_noss_speaker_split_and_cutoff(tmp_path):
  sessions = [(("de", "en", "fr")[k % 3], f"user{k:02d}", "20100101") for k in range(12)]
  sessions.append(("ru", "undated", "00000000"))  # no valid date: kept, as TFDS keeps it
  written, _ = builder_helpers.write_voxforge(tmp_path / "raw", sessions + [("it", "late", "20200101")])
  builder = build("hares/voxforge", tmp_path / "raw", tmp_path / "tfds")
  built = examples(builder)
  assert_common(builder, built, builder.info.features["label"].names, counted=False)
  speaker_split = speaker_shuffle.assign_speakers(user for _, user, _ in sessions)
  names = builder.info.features["label"].names
  assert {i: (s, names[e["label"]], e["speaker_id"].decode()) for i, (s, e) in built.items()} == {
      i: (speaker_split[user], language, user) for i, (language, user) in written.items() if user != "late"}
  metadata = builder.info.metadata
  assert metadata["voxforge_after_cutoff"] == [builder_helpers.voxforge_archive_name("it", "late", "20200101", "s13")]
  assert metadata["voxforge_undated"] == [builder_helpers.voxforge_archive_name("ru", "undated", "00000000", "s12")]
  assert "after_cutoff" not in metadata and str(builder.version) == "1.2.0"
  assert metadata["session_counts"] == {split: dict(collections.Counter(
      language for language, user, _ in sessions if speaker_split[user] == split)) for split in SPLITS}


def test_voxceleb_identification_from_both_archives(tmp_path):
  written, _ = builder_helpers.write_voxceleb(tmp_path / "raw", ("id10001", "id10002"), ("id10270",))
  iden_split = (tmp_path / "raw" / "iden_split.txt").read_text().splitlines()
  unlisted = iden_split.pop(0).split()[1]  # in the dev archive, not in iden_split.txt: not built, recorded
  (tmp_path / "raw" / "iden_split.txt").write_text("\n".join(iden_split) + "\n")
  del written[unlisted.removesuffix(".wav")]
  builder = build("hares/voxceleb", tmp_path / "raw", tmp_path / "tfds")
  assert builder.info.metadata["voxceleb_unlisted"] == [unlisted] and str(builder.version) == "1.2.0"
  built = examples(builder)
  names = builder.info.features["label"].names
  assert_common(builder, built, names)
  assert {i: (s, names[e["label"]], e["speaker_id"].decode(), e["youtube_id"].decode())
          for i, (s, e) in built.items()} == {
      i: (voxceleb.SPLITS[str(group)], speaker, speaker, i.split("/")[1]) for i, (group, speaker) in written.items()}


@pytest.mark.parametrize("fixture, source", [("esc50_built", "ESC-50-master/audio/{}.wav"),
                                             ("magnatagatune_built", "mp3/{}.mp3")])
def test_audio_is_raw_int16_that_splits_and_pipelines_read_back(fixture, source, request, tmp_path):
  """A single-label and a multi-label task: build -> prepare-splits -> the pipeline's reader gives every
  clip back as the int16 samples its source file decodes to."""
  builder, built, _, root = request.getfixturevalue(fixture)
  task = f"hares/{builder.builder_config.name}"
  assert isinstance(builder.info.features["audio"], generation.Int16Audio) and str(builder.version) == "1.1.0"
  shard = sorted(builder.data_path.glob("*.tfrecord*"))[0]
  stored = tf.train.Example.FromString(next(iter(tf.data.TFRecordDataset(str(shard)))).numpy())
  assert stored.features.feature["audio"].WhichOneof("kind") == "bytes_list"  # not TFDS's int64 varints
  assert splits_cli.main([task, "--data_dir", str(root / "tfds"), "--out", str(tmp_path)]) == 0  # prepare-splits
  manifest = pd.read_csv(tmp_path / task / "canonical.csv")
  assert dict(zip(manifest.example_id, manifest.split)) == {i: s for i, (s, _) in built.items()}
  read = {e["example_id"].decode(): (split, e["audio"]) for s in SPLITS
          for shard in range(builder.info.splits[s].num_shards)
          for split, e in transforms.read_shard((s, shard, 0), builder, 1)}
  assert {i: s for i, (s, _) in read.items()} == {i: s for i, (s, _) in built.items()}
  for example_id, (_, samples) in read.items():
    path = root / "raw" / source.format(example_id)
    decoded = audio.to_int16_mono(*audio.read_audio(path.read_bytes(), str(path)))
    assert samples.dtype == np.int16 and len(samples) == len(decoded) > 0 and np.array_equal(samples, decoded)
