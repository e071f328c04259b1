"""`noss/voxceleb` from both VoxCeleb1 archives and iden_split.txt, through Beam; verification trials."""

import logging
import zipfile

import pytest
import tensorflow_datasets as tfds
from apache_beam.options.pipeline_options import PipelineOptions
from tensorflow_datasets.audio import voxceleb as tfds_voxceleb  # the reference

from builder_helpers import audit_built, examples, write_voxceleb
from nossbench import UserError
from nossbench.splits import cli, manifest

DEV, TEST = ("id10001", "id10002", "id10003"), ("id10270", "id10271")
BAD = "id10002/video1_1/00002.wav"  # undecodable
BAD_TRIAL = "id10271/video1_1/00003.wav"  # undecodable, and the test file of two verification trials
ABSENT = "id10001/missing/00001.wav"  # listed in iden_split.txt and veri_test.txt, in neither archive


def build(manual_dir, data_dir, **kwargs):
  import nossbench.builders  # noqa: F401  pylint: disable=import-outside-toplevel,unused-import

  builder = tfds.builder("noss/voxceleb", data_dir=str(data_dir), **kwargs)
  builder.download_and_prepare(download_config=tfds.download.DownloadConfig(
      manual_dir=str(manual_dir), beam_options=PipelineOptions(["--direct_running_mode=in_memory"])))
  return builder


@pytest.fixture(scope="module")
def voxceleb(tmp_path_factory):
  root = tmp_path_factory.mktemp("voxceleb")
  written, trials = write_voxceleb(root / "raw", DEV, TEST, dev_name="vox_dev_wav.zip", bad={BAD, BAD_TRIAL})
  with (root / "raw/iden_split.txt").open("a") as lines:
    lines.write(f"1 {ABSENT}\n")
  with (root / "raw/veri_test.txt").open("a") as lines:
    lines.write(f"0 {ABSENT} id10270/video0_0/00001.wav\n")
  log = Warnings()
  logging.getLogger().addHandler(log)
  try:
    builder = build(root / "raw", root / "tfds", skip_bad_audio=True)
  finally:
    logging.getLogger().removeHandler(log)
  return builder, written, trials, root, log.messages


class Warnings(logging.Handler):
  """The build log's warnings (absl logs through Python's logging)."""

  def __init__(self):
    super().__init__(logging.WARNING)
    self.messages = []

  def emit(self, record):
    self.messages.append(record.getMessage())


def test_splits_are_iden_split_with_the_test_archive_tfds_loses(voxceleb):
  builder, written, _, root, _ = voxceleb
  zipfile.ZipFile(root / "raw/vox_dev_wav.zip").extractall(root / "extracted")
  reference = tfds_voxceleb.Voxceleb(data_dir=str(root / "reference"))
  files = reference._calculate_splits(root / "raw/iden_split.txt")  # pylint: disable=protected-access
  tfds_ids = {split: {key.removesuffix(".wav") for key, _ in reference._generate_examples(root / "extracted", names)}  # pylint: disable=protected-access
              for split, names in files.items()}
  test_archive = {"train": {i for i, (n, s) in written.items() if s in TEST and n == 1},
                  "validation": {i for i, (n, s) in written.items() if s in TEST and n == 2},
                  "test": {i for i, (n, s) in written.items() if s in TEST and n == 3}}
  ours = {split: set(by_id) for split, by_id in examples(builder).items()}
  bad = {BAD.removesuffix(".wav"), BAD_TRIAL.removesuffix(".wav")}
  assert ours == {split: (tfds_ids[split] | test_archive[split]) - bad for split in ours}
  assert all(ours[split] for split in ours) and not any(s in TEST for ids in tfds_ids.values() for s in ids)


def test_bad_and_absent_files_are_listed_in_the_metadata(voxceleb):
  builder, written, _, root, _ = voxceleb
  metadata = builder.info.metadata
  assert metadata["skip_bad_audio"] is True
  assert metadata["build_report_train"]["absent"] == [ABSENT]
  for archive, wav in (("vox_dev_wav.zip", BAD), ("vox1_test_wav.zip", BAD_TRIAL)):
    split = ("train", "validation", "test")[written[wav.removesuffix(".wav")][0] - 1]
    skipped = dict(metadata[f"build_report_{split}"]["skipped"])
    reason = skipped[f"{root / 'raw' / archive}:wav/{wav}"]
    assert "could not decode" in reason
  assert sum(len(metadata[f"build_report_{s}"]["skipped"]) for s in ("train", "validation", "test")) == 2


def test_verification_trials_are_pairs_of_built_example_ids(voxceleb):
  builder, _, trials, _, log = voxceleb
  metadata = builder.info.metadata
  bad_trial = BAD_TRIAL.removesuffix(".wav")
  assert metadata["verification_trials"] == [[t, a, b] for t, a, b in trials if bad_trial not in (a, b)]
  dropped = [f"{t} {a}.wav {b}.wav" for t, a, b in trials if bad_trial in (a, b)]
  assert len(dropped) == 2 and [line for line, _ in metadata["verification_trials_dropped"]] == dropped + [
      f"0 {ABSENT} id10270/video0_0/00001.wav"]
  reasons = [reason for _, reason in metadata["verification_trials_dropped"]]
  assert all(r.startswith(f"{BAD_TRIAL} undecodable, skipped (ffmpeg could not decode it") for r in reasons[:2])
  assert reasons[2] == f"{ABSENT} in neither archive"
  assert any(f"3 of {len(trials) + 1} verification trials of veri_test.txt dropped" in m for m in log)  # the build log
  built = {i for by_id in examples(builder).values() for i in by_id}
  assert {i for _, a, b in metadata["verification_trials"] for i in (a, b)} <= built
  assert {t for t, _, _ in metadata["verification_trials"]} == {0, 1}


def test_prepare_splits_writes_the_trials_left_after_skipped_files(voxceleb, tmp_path, capsys):
  builder, _, trials, root, _ = voxceleb
  assert cli.main(["noss/voxceleb", "--data_dir", str(root / "tfds"), "--out", str(tmp_path)]) == 0
  kept = builder.info.metadata["verification_trials"]
  assert f"trials: {len(kept)} verification pairs" in capsys.readouterr().out
  pairs, _ = manifest.read_manifest(tmp_path, "noss/voxceleb", "trials")
  assert pairs.values.tolist() == kept and len(kept) == len(trials) - 2


def test_features_label_speaker_and_youtube_id(voxceleb):
  builder, written, _, _, _ = voxceleb
  names = builder.info.features["label"].names
  assert len(names) == 1251 and names[0] == "id10001" and names[-1] == "id11251"
  for by_id in examples(builder).values():
    for example_id, example in by_id.items():
      speaker, video, _ = example_id.split("/")
      assert names[example["label"]] == example["speaker_id"].decode() == speaker == written[example_id][1]
      assert example["youtube_id"].decode() == video and len(example["audio"]) == 800


def test_absent_listed_file_fails_by_default_naming_it(tmp_path):
  write_voxceleb(tmp_path / "raw", DEV[:1], TEST[:1])
  with (tmp_path / "raw/iden_split.txt").open("a") as lines:
    lines.write(f"2 {ABSENT}\n")
  with pytest.raises(UserError, match=f"1 file\\(s\\) of the validation split .* not in the download: {ABSENT}"):
    build(tmp_path / "raw", tmp_path / "tfds")


def test_a_trial_naming_an_unbuilt_file_fails_by_default_naming_it(tmp_path):
  write_voxceleb(tmp_path / "raw", DEV[:1], TEST[:1])
  with (tmp_path / "raw/veri_test.txt").open("a") as lines:
    lines.write(f"1 id10270/video0_0/00001.wav {ABSENT}\n")
  with pytest.raises(UserError, match=f"1 verification trials .* e.g. '1 id10270/video0_0/00001.wav {ABSENT}' "
                                      f"\\({ABSENT} in neither archive\\).*skip_bad_audio=True"):
    build(tmp_path / "raw", tmp_path / "tfds")


def test_undecodable_member_fails_the_beam_build_naming_it(tmp_path):
  write_voxceleb(tmp_path / "raw", DEV[:1], TEST[:1], videos=1, clips=3, bad={"id10270/video0_0/00002.wav"})
  with pytest.raises(Exception, match="cannot decode .*vox1_test_wav.zip:wav/id10270/video0_0/00002.wav"):
    build(tmp_path / "raw", tmp_path / "tfds")


def test_joined_archive_parts_are_asked_for(tmp_path):
  write_voxceleb(tmp_path / "raw", DEV[:1], TEST[:1])
  (tmp_path / "raw/vox1_dev_wav.zip").rename(tmp_path / "raw/vox1_dev_wav_partaa")
  with pytest.raises(UserError, match="cat vox1_dev_wav_part\\* > vox1_dev_wav.zip"):
    build(tmp_path / "raw", tmp_path / "tfds")


def test_audit_finds_videos_and_repeated_tones_across_splits(voxceleb, tmp_path):
  """The fixture gives every video clips in several splits, and reuses one tone per speaker index + clip."""
  builder, written, _, _, _ = voxceleb
  found, _ = audit_built(builder, tmp_path)
  split_name = {1: "train", 2: "validation", 3: "test"}
  built = {i: split_name[s] for i, (s, _) in written.items() if f"{i}.wav" not in (BAD, BAD_TRIAL)}
  order = list(split_name.values())
  videos = {}
  for example_id, split in built.items():
    videos.setdefault(example_id.split("/")[1], set()).add(split)
  expected_sessions = {(video, a, b) for video, splits in videos.items() for a in splits for b in splits
                       if order.index(a) < order.index(b)}
  sessions = found[found["kind"] == "session"]
  assert set(zip(sessions["item_a"], sessions["split_a"], sessions["split_b"])) == expected_sessions

  speaker_index = {s: k for speakers in (DEV, TEST) for k, s in enumerate(speakers)}  # write_voxceleb's tones
  tone = lambda example_id: speaker_index[example_id.split("/")[0]] + int(example_id[-5:])
  expected_pairs = {tuple(sorted((a, b), key=lambda i: order.index(built[i])))
                    for a in built for b in built if a < b and tone(a) == tone(b) and built[a] != built[b]}
  identical = found[found["kind"] == "identical_audio"]
  assert expected_pairs and set(zip(identical["item_a"], identical["item_b"])) == expected_pairs
