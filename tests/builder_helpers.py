"""Tiny corpora in the NOSS datasets' real raw layouts (archives, lists, folders), made at test time.

Every clip is a short tone whose pitch encodes its index, so a test can tell clips apart after decoding.
Each writer returns {our example_id: (label, speaker_id)} for what it wrote.
"""

import io
import tarfile
import zipfile

import soundfile
import tensorflow_datasets as tfds

from conftest import tone


def wav_bytes(samples, rate, subtype="PCM_16", format="WAV"):  # pylint: disable=redefined-builtin
  buffer = io.BytesIO()
  soundfile.write(buffer, samples, rate, subtype=subtype, format=format)
  return buffer.getvalue()


def clip(index: int, seconds=0.1, rate=16000):
  return tone(200 + 10 * index, seconds, rate)


def add_to_tar(archive: tarfile.TarFile, name: str, data: bytes):
  info = tarfile.TarInfo(name)
  info.size = len(data)
  archive.addfile(info, io.BytesIO(data))


def examples(builder, split=None):
  """{example_id: example} of one split, or {split: {example_id: example}} of all."""
  if split is None:
    return {s: examples(builder, s) for s in builder.info.splits}
  return {e["example_id"].decode(): e for e in tfds.as_numpy(builder.as_dataset(split=split, shuffle_files=False))}


def split_of_ids(builder) -> dict[str, str]:
  return {example_id: split for split, by_id in examples(builder).items() for example_id in by_id}


def write_savee(root, speakers=("DC", "JE", "JK", "KL"), codes=("a", "d", "f", "h", "n", "sa", "su"), per_code=1):
  root.mkdir(parents=True, exist_ok=True)
  written = {}
  with zipfile.ZipFile(root / "AudioData.zip", "w") as archive:
    archive.writestr("AudioData/Info.txt", "not audio")
    for s, speaker in enumerate(speakers):
      for c, code in enumerate(codes):
        for n in range(1, per_code + 1):
          name = f"{code}{n:02d}"
          archive.writestr(f"AudioData/{speaker}/{name}.wav", wav_bytes(clip(7 * s + c, 0.05, 44100), 44100))
          written[f"{speaker}/{name}"] = (code, speaker)
  return written


def write_dementiabank(root, control=range(1, 7), dementia=range(7, 13), visits=(0, 1)):
  written = {}
  for folder, participants in (("Control", control), ("Dementia", dementia)):
    cookie = root / "dementia/English/Pitt" / folder / "cookie"
    cookie.mkdir(parents=True, exist_ok=True)
    for p in participants:
      for visit in visits:
        name = f"{p:03d}-{visit}"
        soundfile.write(str(cookie / f"{name}.mp3"), clip(p + visit, 0.1, 44100), 44100, format="MP3")
        written[f"{folder}/{name}"] = (folder.lower(), f"{p:03d}")
  return written


VOXFORGE_HOST = "www.repository.voxforge1.org/downloads"


def voxforge_archive_name(language, user, date, tag="abc"):
  return f"{VOXFORGE_HOST}/{language}/Trunk/Audio/Main/16kHz_16bit/{user}-{date}-{tag}.tgz"


def write_voxforge(root, sessions, wavs=2, url_list=True):
  """sessions: (language, user, date) triples; returns ({example_id: (label, speaker)}, archive names)."""
  written, names = {}, []
  for i, (language, user, date) in enumerate(sessions):
    name = voxforge_archive_name(language, user, date, f"s{i}")
    names.append(name)
    session = name.rsplit("/", 1)[1].removesuffix(".tgz")
    (root / name).parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(root / name, "w:gz") as archive:
      add_to_tar(archive, f"{session}/etc/README", b"session notes")
      for w in range(wavs):
        add_to_tar(archive, f"{session}/wav/{language}-{w:04d}.wav", wav_bytes(clip(i + w), 16000))
        written[f"{language}/{session}/{language}-{w:04d}"] = (language, user)
  if url_list:
    (root / "voxforge_urls.txt").write_text("".join(f"{name}\n" for name in names))
  return written, names


def write_voxceleb(root, dev_speakers, test_speakers, videos=2, clips=3, dev_name="vox1_dev_wav.zip", bad=()):
  """Each speaker has videos x clips files; iden_split cycles 1/2/3 over a speaker's clips. Files in `bad`
  hold bytes that are not audio. Returns ({example_id: (split number, speaker)}, trials)."""
  root.mkdir(parents=True, exist_ok=True)
  written, lines = {}, []
  for archive_name, speakers in ((dev_name, dev_speakers), ("vox1_test_wav.zip", test_speakers)):
    with zipfile.ZipFile(root / archive_name, "w") as archive:
      for s, speaker in enumerate(speakers):
        for v in range(videos):
          for c in range(1, clips + 1):
            wav = f"{speaker}/video{v}_{s}/{c:05d}.wav"
            archive.writestr(f"wav/{wav}", b"not audio" if wav in bad else wav_bytes(clip(s + c, 0.05), 16000))
            split = "123"[(v * clips + c) % 3]
            lines.append(f"{split} {wav}")
            written[wav.removesuffix(".wav")] = (int(split), speaker)
  (root / "iden_split.txt").write_text("\n".join(lines) + "\n")
  test_wavs = sorted(w for w in written if w.split("/")[0] in test_speakers)
  trials = [(int(a.split("/")[0] == b.split("/")[0]), a, b) for a in test_wavs[:2] for b in test_wavs[2:3] + test_wavs[-2:]]
  (root / "veri_test.txt").write_text("".join(f"{t} {a}.wav {b}.wav\n" for t, a, b in trials))
  return written, trials


SC_MAIN, SC_TEST = "speech_commands_v0.02.tar.gz", "speech_commands_test_set_v0.02.tar.gz"


def write_speech_commands(root, noise_seconds=(2.0, 2.25), running_tap_seconds=2.0):
  """Main archive: 4 speakers x (yes, no, bed, up); lists; 3 noise files. Test archive: 6 clips."""
  root.mkdir(parents=True, exist_ok=True)
  speakers = ("0a7c2a8d", "1b2c3d4e", "2c3d4e5f", "3d4e5f60")
  words = ("yes", "no", "bed", "up")
  wavs = [f"{w}/{s}_nohash_0.wav" for w in words for s in speakers]
  validation = [f"{w}/{speakers[1]}_nohash_0.wav" for w in words]
  testing = [f"{w}/{speakers[2]}_nohash_0.wav" for w in words]
  with tarfile.open(root / SC_MAIN, "w:gz") as archive:
    for name in ("validation_list.txt", "testing_list.txt"):
      add_to_tar(archive, f"./{name}", "".join(f"{p}\n" for p in (validation if "valid" in name else testing)).encode())
    add_to_tar(archive, "./LICENSE", b"CC-BY-4.0")
    add_to_tar(archive, "./_background_noise_/README.md", b"noise")
    for i, wav in enumerate(wavs):
      add_to_tar(archive, f"./{wav}", wav_bytes(clip(i, 1.0), 16000))
    for i, seconds in enumerate(noise_seconds):
      add_to_tar(archive, f"./_background_noise_/noise{i}.wav", wav_bytes(clip(30 + i, seconds), 16000))
    add_to_tar(archive, "./_background_noise_/running_tap.wav", wav_bytes(clip(40, running_tap_seconds), 16000))
  test_wavs = testing[:2] + ["_silence_/silence_0.wav", "_unknown_/bed_2c3d4e5f_nohash_1.wav"]
  with tarfile.open(root / SC_TEST, "w:gz") as archive:
    for i, wav in enumerate(test_wavs):
      add_to_tar(archive, f"./{wav}", wav_bytes(clip(50 + i, 1.0), 16000))
  return {"wavs": wavs, "validation": validation, "testing": testing, "test_wavs": test_wavs}


def audit_built(builder, root):
  """prepare-splits --audit's findings on a built fixture's canonical splits, and what it knows of the audio."""
  from nossbench.splits import audit, manifest, tfds_reader  # pylint: disable=import-outside-toplevel

  task = f"{builder.name}/{builder.builder_config.name}"
  manifest.write_manifest(root, task, "canonical", tfds_reader.read_examples(builder), {"seed": None})
  audio = audit.Audio(tfds_reader.iter_audio(builder), builder.info.features["audio"].sample_rate)
  return audit.audit_task(root, task, audio), audio
