"""The bad-audio policy on the local (process-pool) path: fail naming the file, or skip and list it."""

import json

import numpy as np
import pytest
import soundfile
import tensorflow_datasets as tfds

import nossbench.builders  # noqa: F401  (registers noss for tfds.builder)
from builder_helpers import examples
from conftest import build, run_command, write_tone_corpus
from nossbench import UserError

BAD, SILENT, EMPTY, SHORT = "1003_DFA_SAD_XX", "1005_DFA_HAP_XX", "1007_DFA_FEA_XX", "1008_DFA_NEU_XX"


def corpus_with_bad_and_silent_clips(raw):
  write_tone_corpus(raw, sentences=("DFA",))
  (raw / f"AudioWAV/{BAD}.wav").write_bytes(b"RIFF....WAVEfmt truncated")
  soundfile.write(str(raw / f"AudioWAV/{SILENT}.wav"), np.zeros(4800, np.int16), 16000)
  soundfile.write(str(raw / f"AudioWAV/{EMPTY}.wav"), np.zeros(0, np.int16), 16000)
  soundfile.write(str(raw / f"AudioWAV/{SHORT}.WAV"), np.full(30, 0.5), 48000, subtype="PCM_24")
  (raw / f"AudioWAV/{SHORT}.wav").unlink()


def test_an_undecodable_file_fails_the_build_naming_file_reason_and_option(tmp_path):
  corpus_with_bad_and_silent_clips(tmp_path / "raw")
  with pytest.raises(UserError, match=f"cannot decode .*AudioWAV/{BAD}.wav in the .* split: ffmpeg could not "
                                      "decode it .*noss/crema_d/skip_bad_audio=True"):
    build("noss/crema_d", tmp_path / "raw", tmp_path / "tfds")
  assert not list((tmp_path / "tfds").glob("noss/crema_d/*/dataset_info.json"))  # nothing half-built left


def test_tfds_build_with_skip_bad_audio_lists_skipped_and_silent_clips(tmp_path):
  raw = tmp_path / "raw with spaces ü"
  corpus_with_bad_and_silent_clips(raw)
  result = run_command("tfds", "build", "noss/crema_d/skip_bad_audio=True", "--imports", "nossbench.builders",
                       "--manual_dir", raw, "--data_dir", tmp_path / "tfds")
  assert f"undecodable, skipped: {raw}/AudioWAV/{BAD}.wav" in result.stdout + result.stderr  # the build log
  [metadata_file] = (tmp_path / "tfds").glob("noss/crema_d/*/metadata.json")
  metadata = json.loads(metadata_file.read_text())
  reports = {key.removeprefix("build_report_"): value for key, value in metadata.items() if key.startswith("build_")}
  assert metadata["skip_bad_audio"] is True and sorted(reports) == ["test", "train", "validation"]
  skipped = [entry for report in reports.values() for entry in report["skipped"]]
  assert sorted(name for name, _ in skipped) == [f"{raw}/AudioWAV/{BAD}.wav", f"{raw}/AudioWAV/{EMPTY}.wav"]
  assert "could not decode" in dict(skipped)[f"{raw}/AudioWAV/{BAD}.wav"]
  assert dict(skipped)[f"{raw}/AudioWAV/{EMPTY}.wav"] == "holds no samples"  # nothing to embed: undecodable
  assert sorted(i for report in reports.values() for i in report["silent"]) == [SILENT]
  assert not any(report["absent"] for report in reports.values())
  built = {i: e for by_id in examples(tfds.builder("noss/crema_d", data_dir=str(tmp_path / "tfds"))).values()
           for i, e in by_id.items()}
  assert len(built) == 12 * 6 - 2 and BAD not in built and EMPTY not in built
  assert len(built[SHORT]["audio"]) == 10 and built[SHORT]["audio"].any()


def test_output_does_not_depend_on_the_number_of_decode_workers(tmp_path):
  write_tone_corpus(tmp_path / "raw", actors=range(1001, 1013), sentences=("DFA",), seconds=0.05)
  built = []
  for workers in (1, 3):
    builder = tfds.builder(f"noss/crema_d/decode_workers={workers}", data_dir=str(tmp_path / f"tfds{workers}"))
    builder.download_and_prepare(download_config=tfds.download.DownloadConfig(manual_dir=str(tmp_path / "raw")))
    built.append(builder)
  for split in ("train", "validation", "test"):
    one, three = (list(examples(b, split)) for b in built)  # in stored order
    assert one == three and len(one) > 0
  for (a, b) in zip(*(sorted(examples(b, "test").items()) for b in built)):
    np.testing.assert_array_equal(a[1]["audio"], b[1]["audio"])
