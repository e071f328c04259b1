"""The leakage audit finds planted leaks of every kind (same session, same sentence, identical audio,
re-encoded / trimmed / gain-changed copies) across split boundaries, and nothing on a clean corpus."""

import subprocess

import numpy as np
import pandas as pd
import pytest

from nossbench.builders import demo_corpus
from nossbench.splits import audit, manifest

RATE = 16000


def speak(actor: int, sentence: str, emotion: str = "NEU") -> np.ndarray:
  voice, pitch, tempo = demo_corpus.actor_voice(actor)
  base_pitch, speed, amplitude = demo_corpus.EMOTION_PROSODY[emotion]
  return demo_corpus.synthesize(demo_corpus.SENTENCE_TEXT[sentence], voice, int(np.clip(base_pitch + pitch, 0, 99)),
                                int(speed * tempo), amplitude)


def mp3_round_trip(samples: np.ndarray) -> np.ndarray:
  """Encoded to 48 kbit/s MP3 and decoded again by ffmpeg: the same sound, other samples."""
  pcm = ["-f", "s16le", "-ar", str(RATE), "-ac", "1"]
  encoded = subprocess.run(["ffmpeg", "-v", "error", *pcm, "-i", "-", "-f", "mp3", "-b:a", "48k", "-"],
                           input=samples.tobytes(), capture_output=True, check=True).stdout
  decoded = subprocess.run(["ffmpeg", "-v", "error", "-i", "-", *pcm, "-"], input=encoded, capture_output=True,
                           check=True).stdout
  return np.frombuffer(decoded, np.int16)


@pytest.fixture(scope="module", name="clips")
def fixture_clips():
  """Six actors, each with their own sentence in three emotions, plus planted copies of 1001_IEO_ANG_XX."""
  sentences = ["IEO", "TIE", "IOM", "IWW", "TAI", "MTI"]
  clips = {f"{1001 + a}_{s}_{e}_XX": speak(a, s, e) for a, s in enumerate(sentences) for e in ("ANG", "NEU", "SAD")}
  source = clips["1001_IEO_ANG_XX"]
  planted = {
      "1007_IEO_ANG_XX": source.copy(),  # identical samples
      "1007_IEO_NEU_XX": (source * 0.5).astype(np.int16),  # gain -6 dB
      "1007_IEO_SAD_XX": source[int(0.2 * RATE):],  # first 0.2 s trimmed
      "1007_IEO_HAP_XX": mp3_round_trip(source),  # re-encoded
      "1008_IEO_FEA_XX": speak(7, "IEO", "FEA"),  # another actor, same sentence: content only
  }
  return clips, planted


def table(ids, test_ids, task_split: dict | None = None) -> pd.DataFrame:
  return pd.DataFrame({"example_id": ids, "label": "NEU", "speaker_id": [i[:4] for i in ids],
                       "split": ["test" if i in test_ids else (task_split or {}).get(i, "train") for i in ids]})


def test_every_planted_kind_is_found_across_the_boundary(clips, tmp_path):
  clean, planted = clips
  audio = audit.Audio(list(clean.items()) + list(planted.items()), RATE)
  ids = sorted(clean) + sorted(planted)
  manifest.write_manifest(tmp_path, "noss/crema_d", "canonical", table(ids, set(planted)), {"seed": None})
  found = audit.audit_task(tmp_path, "noss/crema_d", audio)
  pairs = {kind: set(zip(rows["item_a"], rows["item_b"])) for kind, rows in found.groupby("kind")}
  assert pairs["identical_audio"] == {("1001_IEO_ANG_XX", "1007_IEO_ANG_XX")}
  near = {b for a, b in pairs["near_duplicate"] if a == "1001_IEO_ANG_XX"}
  assert near == {"1007_IEO_NEU_XX", "1007_IEO_SAD_XX", "1007_IEO_HAP_XX"}
  # the copies are also near-duplicates of each other, but those sit on one side; nothing else matches
  assert all(a[:4] == "1001" for a, _ in pairs["near_duplicate"])
  assert pairs["content"] == {("IEO", "IEO")}
  assert set(found["split_a"] + "/" + found["split_b"]) == {"train/test"}
  counts = audit.counts(found)
  assert counts.loc[("canonical", "train/test"), "near_duplicate"] == 3
  assert counts.loc[("canonical", "train/test"), "identical_audio"] == 1

  path = audit.write(tmp_path, "noss/crema_d", found)
  assert pd.read_csv(path).shape == (len(found), len(audit.COLUMNS))


def test_a_clean_corpus_reports_nothing(clips, tmp_path):
  clean, _ = clips
  audio = audit.Audio(list(clean.items()), RATE)
  ids = sorted(clean)
  manifest.write_manifest(tmp_path, "noss/crema_d", "canonical",
                          table(ids, {i for i in ids if i[:4] in ("1005", "1006")},
                                {i: "validation" for i in ids if i.startswith("1004")}), {"seed": None})
  assert audio.identical == [] and audio.near == [] and audio.unprinted == []
  assert audit.audit_task(tmp_path, "noss/crema_d", audio).empty


def test_sessions_cross_in_every_repeat_they_do(clips, tmp_path):
  """VoxCeleb-style ids: the middle part names the video; one video on both sides of repeat 1 only."""
  clean, _ = clips
  samples = list(clean.values())
  ids = ["id1/videoA/00001", "id1/videoA/00002", "id1/videoB/00001", "id2/videoC/00001"]
  audio = audit.Audio(zip(ids, samples), RATE)
  rows = pd.concat([
      table(ids, {"id1/videoB/00001", "id2/videoC/00001"}).assign(repeat=0),
      table(ids, {"id1/videoA/00002"}).assign(repeat=1)], ignore_index=True)
  manifest.write_manifest(tmp_path, "noss/voxceleb", "speaker_disjoint", rows, {"seed": 0})
  found = audit.audit_task(tmp_path, "noss/voxceleb", audio)
  assert found[["unit", "kind", "item_a", "detail"]].values.tolist() == [
      ["repeat 1", "session", "videoA", "1 train and 1 test examples"]]


def test_clips_too_short_for_a_fingerprint_are_counted():
  audio = audit.Audio([("short", np.zeros(int(0.5 * RATE), np.int16)),
                       ("short_copy", np.zeros(int(0.5 * RATE), np.int16))], RATE)
  assert audio.unprinted == ["short", "short_copy"] and len(audio.identical) == 1
