"""One audio decoder for every builder: any file in, 16 kHz mono int16 out.

soundfile (libsndfile) reads wav/flac/ogg/mp3 and their 8/16/24/32-bit and float variants directly; anything
it cannot open (m4a, aac, wma, ...) goes through ffmpeg. Resampling uses soxr's 'VHQ' setting, a
band-limited polyphase resampler, so 44.1 kHz sources keep their spectrum up to 8 kHz without aliasing.
"""

import io
import os
import subprocess
import tempfile

import numpy as np
import soundfile
import soxr

TARGET_SAMPLE_RATE = 16000
RESAMPLER = "soxr VHQ (libsoxr via python-soxr)"


class AudioDecodeError(Exception):
  """A file that neither soundfile nor ffmpeg can decode; the message names the file and the reason."""


def _read_with_ffmpeg(data: bytes, name: str) -> tuple[np.ndarray, int]:
  """Decodes any container ffmpeg knows into float32 wav at the source rate.

  ffmpeg reads from a temporary file, not a pipe: mp4/m4a files whose index (moov atom) sits at the end
  need a seekable input.
  """
  suffix = os.path.splitext(name)[1].lower()
  with tempfile.NamedTemporaryFile(suffix=suffix if suffix.isascii() else "") as source:
    source.write(data)
    source.flush()
    try:
      result = subprocess.run(
          ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-i", source.name,
           "-f", "wav", "-acodec", "pcm_f32le", "pipe:1"],
          capture_output=True, check=False)
    except FileNotFoundError as error:
      raise AudioDecodeError(
          f"{name}: soundfile cannot read this format and ffmpeg is not installed "
          "(apt-get install ffmpeg)") from error
  if result.returncode != 0 or not result.stdout:
    reason = result.stderr.decode(errors="replace").replace(source.name, "input").strip().splitlines()
    raise AudioDecodeError(f"{name}: ffmpeg could not decode it ({reason[-1] if reason else 'no audio stream'})")
  samples, rate = soundfile.read(io.BytesIO(result.stdout), dtype="float32", always_2d=True)
  return samples, rate


def read_audio(data: bytes, name: str) -> tuple[np.ndarray, int]:
  """Returns float32 samples [frames, channels] and the file's own sample rate."""
  try:
    samples, rate = soundfile.read(io.BytesIO(data), dtype="float32", always_2d=True)
  except (soundfile.LibsndfileError, RuntimeError, TypeError):
    samples, rate = _read_with_ffmpeg(data, name)
  return samples, rate


def to_int16_mono(samples: np.ndarray, rate: int, target_rate: int = TARGET_SAMPLE_RATE) -> np.ndarray:
  """Downmixes by averaging channels, resamples to target_rate, converts to int16 with clipping."""
  mono = samples.mean(axis=1) if samples.ndim == 2 else samples
  mono = np.ascontiguousarray(mono, dtype=np.float32)
  if rate != target_rate and mono.size:
    mono = soxr.resample(mono, rate, target_rate, quality="VHQ")
  return np.clip(np.round(mono * 32768.0), -32768, 32767).astype(np.int16)


def decode_file(path, target_rate: int = TARGET_SAMPLE_RATE) -> np.ndarray:
  """Reads `path` (local or gs://, anything etils.epath opens) into mono int16 at target_rate."""
  from etils import epath  # pylint: disable=import-outside-toplevel

  path = epath.Path(path)
  samples, rate = read_audio(path.read_bytes(), str(path))
  return to_int16_mono(samples, rate, target_rate)
