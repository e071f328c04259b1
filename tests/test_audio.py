"""One decoder for every builder: formats, rates and channels in, 16 kHz mono int16 out."""

import subprocess

import numpy as np
import pytest
import soundfile

from nossbench.builders import audio
from nossbench.builders.items import Item, decode_item
from tests_helpers import dominant_frequency


def decode_file(path):
  """The audio a builder stores for the file at `path` (every builder decodes its Items this way)."""
  [(_, example)] = decode_item(Item("clip", str(path), {}))
  return example["audio"]


def test_16k_int16_wav_is_read_unchanged(tmp_path):
  samples = (np.random.RandomState(0).randn(8000) * 3000).astype(np.int16)
  soundfile.write(str(tmp_path / "a.wav"), samples, 16000, subtype="PCM_16")
  np.testing.assert_array_equal(decode_file(tmp_path / "a.wav"), samples)


@pytest.mark.parametrize("subtype", ["PCM_24", "FLOAT", "PCM_U8"])
def test_441k_stereo_is_downmixed_and_resampled_keeping_the_pitch(tmp_path, subtype):
  rate, seconds = 44100, 1.0
  t = np.arange(int(rate * seconds)) / rate
  left = 0.5 * np.sin(2 * np.pi * 440 * t)
  soundfile.write(str(tmp_path / "s.wav"), np.stack([left, left], axis=1), rate, subtype=subtype)
  out = decode_file(tmp_path / "s.wav")
  assert out.dtype == np.int16 and out.ndim == 1
  assert len(out) == 16000
  assert dominant_frequency(out, 16000) == pytest.approx(440, abs=2)
  assert np.abs(out).max() == pytest.approx(0.5 * 32768, rel=0.05)


def test_mp3_goes_through_ffmpeg(tmp_path):
  t = np.arange(22050) / 22050
  soundfile.write(str(tmp_path / "t.wav"), 0.4 * np.sin(2 * np.pi * 1000 * t), 22050)
  subprocess.run(["ffmpeg", "-loglevel", "error", "-i", str(tmp_path / "t.wav"), str(tmp_path / "t.mp3")],
                 check=True)
  out = decode_file(tmp_path / "t.mp3")
  assert abs(len(out) - 16000) < 2000  # mp3 encoders add padding
  assert dominant_frequency(out, 16000) == pytest.approx(1000, abs=5)


def test_undecodable_file_names_the_file(tmp_path):
  (tmp_path / "broken.wav").write_bytes(b"RIFF not really a wave file")
  with pytest.raises(audio.AudioDecodeError, match="broken.wav"):
    decode_file(tmp_path / "broken.wav")


def sine(frequency, seconds, rate, channels=1, amplitude=0.5):
  t = np.arange(int(rate * seconds)) / rate
  mono = amplitude * np.sin(2 * np.pi * frequency * t)
  return np.stack([mono] * channels, axis=1) if channels > 1 else mono


@pytest.mark.parametrize("subtype", ["PCM_U8", "PCM_16", "PCM_24", "PCM_32", "FLOAT", "DOUBLE"])
@pytest.mark.parametrize("rate,channels", [(8000, 1), (22050, 2), (48000, 2), (96000, 1)])
def test_pcm_depths_rates_and_channels_keep_length_pitch_and_level(tmp_path, subtype, rate, channels):
  soundfile.write(str(tmp_path / "x.wav"), sine(1000, 0.5, rate, channels), rate, subtype=subtype)
  out = decode_file(tmp_path / "x.wav")
  assert out.dtype == np.int16 and out.ndim == 1 and len(out) == 8000
  assert dominant_frequency(out, 16000) == pytest.approx(1000, abs=3)
  assert np.abs(out[800:-800]).max() == pytest.approx(0.5 * 32768, rel=0.03)


def test_stereo_channels_are_averaged(tmp_path):
  left, right = sine(500, 0.25, 16000), np.zeros(4000)
  soundfile.write(str(tmp_path / "lr.wav"), np.stack([left, right], axis=1), 16000, subtype="FLOAT")
  np.testing.assert_allclose(decode_file(tmp_path / "lr.wav") / 32768, left / 2, atol=2e-4)


def encode_with_ffmpeg(source, target):
  subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-i", str(source), str(target)], check=True)


@pytest.mark.parametrize("name,seconds", [
    ("clip.flac", 1), ("clip.ogg", 1), ("clip.mp3", 1), ("clip.m4a", 1), ("CLIP.WAV", 1), ("CLIP.FLAC", 1),
    ("CLIP.MP3", 1), ("CLIP.M4A", 1), ("Grüße und Töne 声音.m4a", 1), ("Grüße und Töne 声音.wav", 1),
    # ffmpeg's mp4 muxer puts the index (moov atom) after the audio: 10 s is too long to decode from a pipe
    ("moov at the end.m4a", 10),
])
def test_containers_upper_case_and_unicode_names_decode(tmp_path, name, seconds):
  soundfile.write(str(tmp_path / "source.wav"), sine(1000, seconds, 44100), 44100)
  encode_with_ffmpeg(tmp_path / "source.wav", tmp_path / name)
  if seconds == 10:
    data = (tmp_path / name).read_bytes()
    assert data.find(b"moov") > data.find(b"mdat") > 0
  out = decode_file(tmp_path / name)
  assert abs(len(out) - 16000 * seconds) < 1600  # lossy codecs add priming samples
  assert dominant_frequency(out, 16000) == pytest.approx(1000, abs=5)


@pytest.mark.parametrize("frames,rate", [(1, 16000), (1, 44100), (10, 44100), (100, 8000)])
def test_very_short_clips_convert(tmp_path, frames, rate):
  soundfile.write(str(tmp_path / "short.wav"), np.full(frames, 0.25), rate, subtype="PCM_16")
  out = decode_file(tmp_path / "short.wav")
  assert out.dtype == np.int16 and len(out) == round(frames * 16000 / rate)


def test_silent_clip_is_all_zeros(tmp_path):
  soundfile.write(str(tmp_path / "silence.wav"), np.zeros(44100), 44100, subtype="PCM_24")
  out = decode_file(tmp_path / "silence.wav")
  assert len(out) == 16000 and not out.any()


@pytest.mark.parametrize("name,data", [
    ("empty.wav", b""), ("header only.wav", b"RIFF\x24\x00\x00\x00WAVEfmt "), ("text.mp3", b"just some text"),
    ("Ünïcode.m4a", b"\x00\x00\x00\x18ftypM4A "),
])
def test_undecodable_files_name_the_file_and_the_reason(tmp_path, name, data):
  (tmp_path / name).write_bytes(data)
  with pytest.raises(audio.AudioDecodeError, match=f"{name}: ffmpeg could not decode it \\(.+\\)"):
    decode_file(tmp_path / name)
