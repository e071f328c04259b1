"""`noss/voxforge` from session archives in the wget layout, through Beam on DirectRunner (multi-processing)."""

import os

import pytest
import tensorflow_datasets as tfds
from apache_beam.options.pipeline_options import PipelineOptions
from tensorflow_datasets.audio import voxforge as tfds_voxforge  # the reference

from builder_helpers import audit_built, examples, split_of_ids, voxforge_archive_name, write_voxforge
from nossbench import UserError

LANGUAGES = ("de", "en", "es", "fr", "it", "ru")
# 12 speakers, one with a second session dated after the cut-off; "anon" has two early sessions.
SESSIONS = [(LANGUAGES[i % 6], f"user{i}", f"2010{i % 12 + 1:02d}15") for i in range(11)] + [
    ("en", "anon", "20080101"), ("fr", "anon", "20090101"), ("de", "user3", "20200102")]
LATE = voxforge_archive_name("de", "user3", "20200102", "s13")


def build(manual_dir, data_dir, *options, **kwargs):
  import nossbench.builders  # noqa: F401  pylint: disable=import-outside-toplevel,unused-import

  builder = tfds.builder("noss/voxforge", data_dir=str(data_dir), **kwargs)
  builder.download_and_prepare(download_config=tfds.download.DownloadConfig(
      manual_dir=str(manual_dir), beam_options=PipelineOptions(list(options))))
  return builder


@pytest.fixture(scope="module")
def voxforge(tmp_path_factory):
  root = tmp_path_factory.mktemp("voxforge")
  written, names = write_voxforge(root / "raw", SESSIONS)
  builder = build(root / "raw", root / "tfds", "--direct_running_mode=multi_processing", "--direct_num_workers=2")
  return builder, written, names, root


def tfds_keys_by_split(root, names):
  """TFDS's own voxforge functions on the same archives: speaker split by archive, keys per wav."""
  manager = tfds.download.DownloadManager(download_dir=str(root / "downloads"))
  archives = [(str(root / "raw" / name), os.path.basename(name).split("-")[0]) for name in names]
  by_split = tfds_voxforge._get_inter_splits_by_group(archives, [("train", 0.7), ("validation", 0.1), ("test", 0.2)], 0)  # pylint: disable=protected-access
  return {split: sorted(key for archive in archive_paths
                        for key, _ in tfds_voxforge._generate_examples(archive, manager))  # pylint: disable=protected-access
          for split, archive_paths in by_split.items()}


def tfds_key(example_id):
  language, session, wav = example_id.split("/")
  return f"{language}_{session}.tgz_{wav}"


def test_splits_are_tfds_splits_without_sessions_after_the_cutoff(voxforge):
  builder, _, names, root = voxforge
  ours = {split: sorted(map(tfds_key, by_id)) for split, by_id in examples(builder).items()}
  late_keys = {f"de_{os.path.basename(LATE)}_de-{w:04d}" for w in range(2)}
  # The late session's speaker has an early session too, so the speaker set -- and the shuffle -- is TFDS's.
  expected = {split: sorted(set(keys) - late_keys) for split, keys in tfds_keys_by_split(root, names).items()}
  assert ours == expected
  assert sum(map(len, ours.values())) == 2 * 13
  assert builder.info.metadata["voxforge_after_cutoff"] == [LATE]
  assert not list((root / "tfds").rglob("beam_units*"))  # the staged work units went with the build


def test_speakers_disjoint_labels_from_the_path(voxforge):
  builder, written, _, _ = voxforge
  names = builder.info.features["label"].names
  assert names == list(LANGUAGES)
  split_of_speaker = {}
  for split, by_id in examples(builder).items():
    for example_id, example in by_id.items():
      language, speaker = written[example_id]
      assert (names[example["label"]], example["speaker_id"].decode()) == (language, speaker)
      assert split_of_speaker.setdefault(speaker, split) == split
      assert len(example["audio"]) == 1600
  assert len(split_of_speaker) == 12


def test_a_listed_archive_that_is_missing_fails_naming_it(tmp_path):
  _, names = write_voxforge(tmp_path / "raw", SESSIONS[:12])
  (tmp_path / "raw" / names[4]).unlink()
  with pytest.raises(UserError, match=f"not in the download: {names[4]}.*skip_bad_audio=True"):
    build(tmp_path / "raw", tmp_path / "tfds")


def test_audit_keeps_sessions_on_one_side_and_finds_repeated_tones(voxforge, tmp_path):
  """A session is one speaker's, so speaker-disjoint splits never cut one; the fixture's tone for session i,
  wav w is i + w, so consecutive sessions share a clip: found exactly where the two sit in different splits."""
  builder, _, names, _ = voxforge
  found, _ = audit_built(builder, tmp_path)
  assert "session" not in set(found["kind"])
  split_of = split_of_ids(builder)
  session_ids = {f"{language}/{name.rsplit('/', 1)[1].removesuffix('.tgz')}": i
                 for i, ((language, _, _), name) in enumerate(zip(SESSIONS, names))}
  by_tone = {}
  for example_id in split_of:
    language, session, wav = example_id.split("/")
    by_tone.setdefault(session_ids[f"{language}/{session}"] + int(wav[-4:]), []).append(example_id)
  expected = {frozenset((a, b)) for ids in by_tone.values() for a in ids for b in ids if split_of[a] != split_of[b]}
  identical = found[found["kind"] == "identical_audio"]
  assert expected and {frozenset(p) for p in zip(identical["item_a"], identical["item_b"])} == expected
