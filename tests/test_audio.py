"""One decoder for every builder: formats, rates and channels in, 16 kHz mono int16 out."""

import subprocess

import numpy as np
import pytest
import soundfile

from nossbench.builders import audio
from tests_helpers import dominant_frequency


def test_16k_int16_wav_is_read_unchanged(tmp_path):
  samples = (np.random.RandomState(0).randn(8000) * 3000).astype(np.int16)
  soundfile.write(str(tmp_path / "a.wav"), samples, 16000, subtype="PCM_16")
  np.testing.assert_array_equal(audio.decode_file(tmp_path / "a.wav"), samples)


@pytest.mark.parametrize("subtype", ["PCM_24", "FLOAT", "PCM_U8"])
def test_441k_stereo_is_downmixed_and_resampled_keeping_the_pitch(tmp_path, subtype):
  rate, seconds = 44100, 1.0
  t = np.arange(int(rate * seconds)) / rate
  left = 0.5 * np.sin(2 * np.pi * 440 * t)
  soundfile.write(str(tmp_path / "s.wav"), np.stack([left, left], axis=1), rate, subtype=subtype)
  out = audio.decode_file(tmp_path / "s.wav")
  assert out.dtype == np.int16 and out.ndim == 1
  assert len(out) == 16000
  assert dominant_frequency(out, 16000) == pytest.approx(440, abs=2)
  assert np.abs(out).max() == pytest.approx(0.5 * 32768, rel=0.05)


def test_mp3_goes_through_ffmpeg(tmp_path):
  t = np.arange(22050) / 22050
  soundfile.write(str(tmp_path / "t.wav"), 0.4 * np.sin(2 * np.pi * 1000 * t), 22050)
  subprocess.run(["ffmpeg", "-loglevel", "error", "-i", str(tmp_path / "t.wav"), str(tmp_path / "t.mp3")],
                 check=True)
  out = audio.decode_file(tmp_path / "t.mp3")
  assert abs(len(out) - 16000) < 2000  # mp3 encoders add padding
  assert dominant_frequency(out, 16000) == pytest.approx(1000, abs=5)


def test_undecodable_file_names_the_file(tmp_path):
  (tmp_path / "broken.wav").write_bytes(b"RIFF not really a wave file")
  with pytest.raises(audio.AudioDecodeError, match="broken.wav"):
    audio.decode_file(tmp_path / "broken.wav")
