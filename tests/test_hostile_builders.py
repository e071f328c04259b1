"""Hostile and broken raw inputs (issue 11): each class refused naming the file, line or member and the fix,
or skipped and listed with skip_bad_audio; nothing silently shortened, dropped or altered."""

import io
import os
import subprocess
import tarfile
import zipfile

import numpy as np
import pytest
import soundfile
import tensorflow_datasets as tfds

import hares_helpers
import nossbench.builders  # noqa: F401  (registers noss for tfds.builder)
from builder_helpers import add_to_tar, clip, examples, wav_bytes
from conftest import build, write_tone_corpus
from nossbench import UserError
from nossbench.builders import archives, audio, sources
from nossbench.builders.items import Item, decode_item
from nossbench.builders.hares import hares_dataset_builder, supplied_lists
from nossbench.builders.sources import audioset, esc50, nsynth, speech_commands, voxceleb, voxforge

SECOND = 16000


def encoded(tmp_path, suffix: str, *options: str) -> bytes:
  """Two seconds of a tone encoded by ffmpeg (as real downloads are), e.g. `.mp3` (with its Xing header)."""
  soundfile.write(str(tmp_path / "source.wav"), clip(3, seconds=2.0), SECOND)
  target = tmp_path / f"encoded{suffix}"
  subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-i", str(tmp_path / "source.wav"), *options,
                  str(target)], check=True)
  return target.read_bytes()


def decodes(data: bytes, name: str) -> int:
  samples, _ = audio.read_audio(data, name)
  return len(samples)


@pytest.mark.parametrize("subtype,frame_bytes", [("PCM_16", 2), ("PCM_24", 3), ("FLOAT", 4)])
@pytest.mark.parametrize("container", ["WAV", "AIFF"])
def test_a_pcm_file_may_end_inside_its_last_frame_but_not_a_whole_frame_short(container, subtype, frame_bytes):
  data = wav_bytes(np.stack([clip(1)] * 2, axis=1), SECOND, subtype=subtype, format=container)
  frames = len(clip(1))
  assert decodes(data, "x") == frames
  assert decodes(data[:-(2 * frame_bytes - 1)], "x") == frames - 1  # a partial stereo frame: dropped, tolerated
  with pytest.raises(audio.AudioDecodeError, match=r"cut\.wav: cut short: .* \(1 sample frames\)"):
    decodes(data[:-2 * frame_bytes], "cut.wav")  # one whole frame missing
  with pytest.raises(audio.AudioDecodeError, match="cut short"):
    decodes(data[:len(data) // 2], "cut.wav")


@pytest.mark.parametrize("suffix,options", [(".flac", ()), (".mp3", ()), (".ogg", ("-c:a", "libvorbis")),
                                            (".opus", ("-c:a", "libopus")),
                                            (".m4a", ("-movflags", "+faststart")), (".webm", ("-c:a", "libopus"))])
def test_a_compressed_file_decodes_whole_and_is_refused_when_any_byte_is_cut(tmp_path, suffix, options):
  data = encoded(tmp_path, suffix, *options)
  assert decodes(data, f"whole{suffix}") >= 2 * SECOND * 0.99
  for cut in (1, len(data) // 3):
    with pytest.raises(audio.AudioDecodeError, match=rf"cut{suffix}: .*(cut short|could not decode)"):
      decodes(data[:-cut], f"cut{suffix}")


@pytest.mark.parametrize("value,kind", [(np.nan, "NaN"), (np.inf, "infinite"), (-np.inf, "infinite")])
def test_float_audio_with_nan_or_inf_is_refused_naming_the_time_of_the_first(value, kind):
  samples = clip(2, seconds=1.0).astype(np.float32)
  samples[12000], samples[14000] = value, value
  data = wav_bytes(samples, SECOND, subtype="FLOAT")
  with pytest.raises(audio.AudioDecodeError, match=rf"bad\.wav: holds {kind} samples \(2 sample frames, the first "
                                                    r"at 0\.750000 s\)"):
    decodes(data, "bad.wav")


def test_a_file_with_no_samples_is_undecodable_and_a_silent_one_is_kept():
  with pytest.raises(audio.AudioDecodeError, match="empty.wav: holds no samples"):
    decodes(wav_bytes(np.zeros(0, np.int16), SECOND), "empty.wav")
  assert decodes(wav_bytes(np.zeros(10, np.int16), SECOND), "silent.wav") == 10


def test_build_stops_at_a_cut_short_file_or_skips_and_lists_it(tmp_path):
  write_tone_corpus(tmp_path / "raw", actors=range(1001, 1005), sentences=("DFA",), seconds=0.05)
  cut, nan = tmp_path / "raw/AudioWAV/1002_DFA_SAD_XX.wav", tmp_path / "raw/AudioWAV/1003_DFA_HAP_XX.wav"
  cut.write_bytes(cut.read_bytes()[:-100])
  samples = clip(0, seconds=0.05)
  samples[400] = np.nan
  soundfile.write(str(nan), samples, SECOND, subtype="FLOAT")
  with pytest.raises(UserError, match=f"cannot decode ({cut} .*cut short|{nan} .*NaN).*skip_bad_audio=True"):
    build("noss/crema_d", tmp_path / "raw", tmp_path / "tfds")
  assert not list((tmp_path / "tfds").glob("noss/crema_d/*/dataset_info.json"))
  builder = tfds.builder("noss/crema_d/skip_bad_audio=True", data_dir=str(tmp_path / "skipped"))
  builder.download_and_prepare(download_config=tfds.download.DownloadConfig(manual_dir=str(tmp_path / "raw")))
  skipped = dict(entry for key, report in builder.info.metadata.items() if key.startswith("build_report_")
                 for entry in report["skipped"])
  assert sorted(skipped) == [str(cut), str(nan)]
  assert "cut short" in skipped[str(cut)] and "NaN samples" in skipped[str(nan)] and "0.025000 s" in skipped[str(nan)]
  built = {i for by_id in examples(builder).values() for i in by_id}
  assert len(built) == 4 * 6 - 2 and not {"1002_DFA_SAD_XX", "1003_DFA_HAP_XX"} & built


def zip_with(path, members: dict, symlinks=()):
  with zipfile.ZipFile(path, "w") as archive:
    for name, data in members.items():
      archive.writestr(name, data)
    for name in symlinks:
      info = zipfile.ZipInfo(name)
      info.external_attr = 0o120777 << 16  # a symbolic link, as `zip --symlinks` stores it
      archive.writestr(info, "/etc/passwd")


@pytest.mark.parametrize("make,reason", [
    (lambda p: p.write_bytes(zipfile_bytes()[:-40]), "not a readable archive"),  # truncated: no central directory
    (lambda p: p.write_text("<html>Quota exceeded</html>"), "not a readable archive"),  # not a zip behind .zip
    (lambda p: zip_with(p, {"AudioData/DC/a01.wav": b"x", "../../escape.wav": b"x"}),
     r"member '\.\./\.\./escape\.wav': its name points outside"),
    (lambda p: zip_with(p, {"/abs/a.wav": b"x"}), r"member '/abs/a\.wav': its name points outside"),
    (lambda p: zip_with(p, {"AudioData/DC/a01.wav": b"x"}, symlinks=["AudioData/DC/a02.wav"]),
     r"member 'AudioData/DC/a02\.wav': it is a symbolic link"),
])
def test_a_broken_or_hostile_zip_is_refused_naming_it(tmp_path, make, reason):
  path = tmp_path / "AudioData.zip"
  make(path)
  with pytest.raises(archives.ArchiveError, match=f"{path}: .*{reason}"):
    archives.zip_names(path)


def zipfile_bytes() -> bytes:
  buffer = io.BytesIO()
  with zipfile.ZipFile(buffer, "w") as archive:
    archive.writestr("AudioData/DC/a01.wav", wav_bytes(clip(1), SECOND))
  return buffer.getvalue()


def test_a_zip_member_inflating_past_the_limit_is_refused_before_it_is_inflated(tmp_path):
  with zipfile.ZipFile(tmp_path / "bomb.zip", "w", zipfile.ZIP_DEFLATED) as archive:
    archive.writestr("AudioData/DC/a01.wav", b"\0" * (8 << 20))  # 8 MB of zeros in ~8 kB
  assert (tmp_path / "bomb.zip").stat().st_size < 100_000
  with pytest.raises(archives.ArchiveError, match=r"member 'AudioData/DC/a01\.wav': declares 8388608 bytes, over"):
    archives.read_zip_member(tmp_path / "bomb.zip", "AudioData/DC/a01.wav", limit=1 << 20)


def test_a_truncated_member_of_a_zip_is_undecodable_naming_it(tmp_path):
  data = bytearray(zipfile_bytes())
  start = data.index(b"RIFF")
  data[start + 100:start + 140] = b"\xff" * 40  # the member's bytes no longer match its CRC
  (tmp_path / "a.zip").write_bytes(bytes(data))
  with pytest.raises(archives.ArchiveError, match=r"member 'AudioData/DC/a01\.wav': Bad CRC"):
    archives.read_zip_member(tmp_path / "a.zip", "AudioData/DC/a01.wav", limit=1 << 20)


@pytest.mark.parametrize("kind,reason", [
    ("symlink", "it is a link or device"), ("hardlink", "it is a link or device"),
    ("escape", "its name points outside"), ("twice", "holds two members of this name"),
    ("truncated", "not a readable archive"), ("text", "not a readable archive")])
def test_a_broken_or_hostile_tar_is_refused_naming_it(tmp_path, kind, reason):
  path = tmp_path / "session.tgz"
  with tarfile.open(path, "w:gz") as archive:
    add_to_tar(archive, "session/wav/a.wav", wav_bytes(clip(1), SECOND))
    if kind in ("symlink", "hardlink"):
      info = tarfile.TarInfo("session/wav/b.wav")
      info.type, info.linkname = (tarfile.SYMTYPE, "/etc/passwd") if kind == "symlink" else (tarfile.LNKTYPE,
                                                                                               "session/wav/a.wav")
      archive.addfile(info)
    elif kind in ("escape", "twice"):
      add_to_tar(archive, "../../b.wav" if kind == "escape" else "session/wav/a.wav", b"x")
  if kind == "truncated":
    path.write_bytes(path.read_bytes()[:-30])
  elif kind == "text":
    path.write_text("404 Not Found")
  with pytest.raises(archives.ArchiveError, match=f"{path}: .*{reason}"):
    list(archives.iter_tar(path))


def esc50_meta(tmp_path):
  hares_helpers.write_esc50(tmp_path, per_fold=1)
  return tmp_path / "ESC-50-master" / "meta" / "esc50.csv"


@pytest.mark.parametrize("damage,message", [
    (lambda p: p.write_bytes(p.read_bytes()[:-7]), r"esc50\.csv line 6 has \d fields where the header has 7"),
    (lambda p: p.write_bytes(b""), r"esc50\.csv lacks the column\(s\) .*none, the file is empty"),
    (lambda p: p.write_bytes(zipfile_bytes()), r"esc50\.csv is not UTF-8 text \(line 1"),
    (lambda p: p.write_bytes(p.read_bytes() + "1-1-A-0.wav,1,0,dog,\udcff".encode(errors="surrogateescape")),
     r"esc50\.csv is not UTF-8 text \(line 7"),
    (lambda p: (p.unlink(), p.mkdir()), r"esc50\.csv is a folder where a file is expected"),
    (lambda p: (p.unlink(), os.mkfifo(p)), r"esc50\.csv is not a regular file"),  # reading a pipe would block
    (lambda p: p.write_text(p.read_text() + 'x.wav,1,0,"dog' + "a" * 200_000 + '"\n'),
     r"esc50\.csv line 7 cannot be read as CSV \(field larger than field limit"),
])
def test_a_damaged_metadata_table_is_refused_naming_file_and_line(tmp_path, damage, message):
  # Unreadable permissions cannot be made for root, who runs the tests and reads anything; a dangling link
  # (the same OSError path) stands in for them in test_a_pipe_folder_or_dangling_link_..._is_undecodable.
  damage(esc50_meta(tmp_path))
  with pytest.raises(UserError, match=f"ESC-50: .*{message}"):
    esc50.list_splits(tmp_path)


def test_a_metadata_file_over_the_size_limit_is_refused_before_it_is_read(tmp_path, monkeypatch):
  meta = esc50_meta(tmp_path)
  monkeypatch.setattr(sources, "MAX_TEXT_BYTES", meta.stat().st_size - 1)
  with pytest.raises(UserError, match=rf"{meta} has {meta.stat().st_size} bytes, more than the"):
    esc50.list_splits(tmp_path)


def test_a_duplicated_row_is_an_error_naming_the_file(tmp_path):
  meta = esc50_meta(tmp_path)
  lines = meta.read_text().splitlines()
  meta.write_text("\n".join(lines + [lines[3]]) + "\n")
  splits, _ = esc50.list_splits(tmp_path)
  with pytest.raises(UserError, match=r"hares/esc50: .*audio/3-1000-A-\d+\.wav is listed twice"):
    hares_dataset_builder.check_unique_ids("hares/esc50", splits)


@pytest.mark.parametrize("text,message", [
    ('{"a": {"note_str": "a"}, "a": {"note_str": "a"}}', "holds the key 'a' twice"),
    ("[1, 2]", "holds a JSON list, not the object"),
    ('{"a": ', "is not valid JSON"),
    ("[" * 100_000, "is not valid JSON"),
])
def test_a_broken_examples_json_is_refused(tmp_path, text, message):
  hares_helpers.write_nsynth(tmp_path)
  (tmp_path / "nsynth-valid" / "examples.json").write_text(text)
  with pytest.raises(UserError, match=f"NSynth: .*nsynth-valid/examples.json {message}"):
    nsynth.list_splits(tmp_path, "pitch")


def test_voxceleb_lists_naming_a_file_twice_are_refused(tmp_path):
  (tmp_path / "iden_split.txt").write_text("1 id10001/v/00001.wav\n1 id10001/v/00002.wav\n3 id10001/v/00001.wav\n")
  (tmp_path / "veri_test.txt").write_text("")
  for name in ("vox1_dev_wav.zip", "vox1_test_wav.zip"):
    zip_with(tmp_path / name, {"wav/id10001/v/00001.wav": b"x", "wav/id10001/v/00002.wav": b"x"})
  with pytest.raises(UserError, match=r"iden_split\.txt line 3 lists id10001/v/00001\.wav a second time"):
    voxceleb.read(tmp_path)


def test_supplied_split_lists_naming_a_clip_twice_or_being_folders_are_refused(tmp_path):
  clips = [sources.Clip(f"c{i}", f"c{i}.wav", "x", "") for i in range(4)]
  folder = tmp_path / supplied_lists.FOLDER
  folder.mkdir()
  for split, names in (("train", "c0\nc1\nc0.wav\n"), ("validation", "c2\n"), ("test", "c3\n")):
    (folder / f"{split}.txt").write_text(names)
  with pytest.raises(UserError, match=r"c0 is twice in train\.txt of .* \(line 3\)"):
    supplied_lists.apply("hares/tut18", folder, clips)
  (folder / "test.txt").unlink()
  (folder / "test.txt").mkdir()
  with pytest.raises(UserError, match=r"test\.txt is a folder where a file is expected"):
    supplied_lists.read_lists(folder)


def test_audio_folders_reached_through_symbolic_links_are_followed(tmp_path):
  expected, _, _ = hares_helpers.write_audioset(tmp_path / "raw")
  store = tmp_path / "elsewhere"
  store.mkdir()
  for split in audioset.SEGMENT_FILES:  # as on a cluster: audio/<split> links to another disk
    os.replace(tmp_path / "raw" / "audio" / split, store / split)
    (tmp_path / "raw" / "audio" / split).symlink_to(store / split, target_is_directory=True)
  (store / "train" / "loop").symlink_to(store, target_is_directory=True)  # a link loop is walked once
  splits, _ = audioset.list_splits(tmp_path / "raw")
  assert sorted(c.example_id for clips in splits.values() for c in clips) == sorted(expected)


def test_a_folder_that_cannot_be_listed_is_named(tmp_path):
  with pytest.raises(UserError, match="CREMA-D: cannot list .*AudioWAV"):
    sources.files_in(tmp_path / "AudioWAV", "CREMA-D")
  with pytest.raises(UserError, match="AudioSet: cannot list .*absent"):
    list(sources.walk(tmp_path / "absent", "AudioSet"))


def test_a_voxforge_url_list_naming_a_path_outside_manual_dir_is_refused(tmp_path):
  (tmp_path / voxforge.URL_LIST).write_text("http://host/downloads/en/Trunk/Audio/Main/16kHz_16bit/a-20100101-x.tgz\n"
                                            "http://host/../../../etc/en/Trunk/x.tgz\n")
  with pytest.raises(UserError, match=r"voxforge_urls\.txt names 'host/\.\./\.\./\.\./etc/en/Trunk/x\.tgz', a path "
                                      "outside"):
    voxforge.list_sessions(tmp_path)


@pytest.mark.parametrize("make,reason", [(os.mkfifo, "is not a regular file"), (os.mkdir, "is a folder"),
                                         (lambda p: os.symlink(p + ".gone", p), "No such file")])
def test_a_pipe_folder_or_dangling_link_in_place_of_an_audio_file_is_undecodable(tmp_path, make, reason):
  make(str(tmp_path / "a.wav"))  # a pipe would block a plain read forever
  with pytest.raises(audio.AudioDecodeError, match=f"{tmp_path / 'a.wav'}: cannot be read .*{reason}"):
    decode_item(Item("a", str(tmp_path / "a.wav"), {}))


def test_speech_commands_lists_that_are_not_text_are_refused_naming_the_member(tmp_path):
  with tarfile.open(tmp_path / "speech_commands_v0.02.tar.gz", "w:gz") as archive:
    add_to_tar(archive, "yes/0a7c2a8d_nohash_0.wav", wav_bytes(clip(1), SECOND))
    add_to_tar(archive, "validation_list.txt", b"yes/0a7c2a8d_nohash_0.wav\n\xff\xd8\xff\xe0JFIF")
    add_to_tar(archive, "testing_list.txt", b"")
  with pytest.raises(UserError, match=r"speech_commands_v0\.02\.tar\.gz:validation_list\.txt is not UTF-8 text"):
    speech_commands.read_official_lists(tmp_path / "speech_commands_v0.02.tar.gz")


def test_an_audioset_segment_list_cut_inside_a_quoted_field_is_refused_naming_the_line(tmp_path):
  path = tmp_path / "eval_segments.csv"
  path.write_text('# YTID, start_seconds, end_seconds, positive_labels\n--4gqARaEJE, 0.000, 10.000, "/m/068hy,/m/0')
  with pytest.raises(UserError, match=r"eval_segments\.csv line 2 cannot be read as CSV \(unexpected end of data"):
    audioset.read_segments(path, {"/m/068hy"})


def test_a_file_name_that_is_not_utf8_is_refused_naming_it(tmp_path):
  name = os.fsdecode(b"caf\xe9.wav")  # Latin-1, as an old archive tool leaves it
  (tmp_path / name).write_bytes(wav_bytes(clip(1), SECOND))
  with pytest.raises(UserError, match=r"caf\\xe9\.wav'?: the file's name is not UTF-8"):
    decode_item(Item(name[:-4], str(tmp_path / name), {}))


def test_a_windowed_file_shorter_than_one_window_is_undecodable_not_dropped(tmp_path):
  (tmp_path / "noise.wav").write_bytes(wav_bytes(clip(1, seconds=0.5), SECOND))
  item = Item("noise", str(tmp_path / "noise.wav"), {}, window=(SECOND, SECOND // 2))
  with pytest.raises(audio.AudioDecodeError, match="noise.wav: 8000 samples, shorter than one 16000-sample window"):
    decode_item(item)


def test_a_streamed_flac_that_declares_no_length_is_read_whole_and_refused_when_cut(tmp_path):
  soundfile.write(str(tmp_path / "source.wav"), clip(3, seconds=2.0), SECOND)
  data = subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-i", str(tmp_path / "source.wav"), "-f", "flac",
                         "-"], check=True, capture_output=True).stdout  # to a pipe: no total in STREAMINFO
  assert soundfile.info(io.BytesIO(data)).frames >= audio.UNKNOWN_LENGTH
  assert decodes(data, "streamed.flac") == 2 * SECOND
  with pytest.raises(audio.AudioDecodeError, match="streamed.flac: ffmpeg could not decode it"):
    decodes(data[:-1], "streamed.flac")
