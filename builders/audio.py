"""One audio decoder for every builder: any file in, 16 kHz mono int16 out, or an AudioDecodeError.

soundfile (libsndfile) reads wav/flac/ogg/mp3 and their 8/16/24/32-bit and float variants directly; anything
it cannot open (m4a, aac, wma, ...) goes through ffmpeg. Resampling uses soxr's 'VHQ' setting, a
band-limited polyphase resampler, so 44.1 kHz sources keep their spectrum up to 8 kHz without aliasing.

What counts as undecodable (refused like a file neither library can open, so a build stops naming it or,
with skip_bad_audio, skips and lists it):
- A cut-short file (an interrupted download). Tolerance: nothing decodable may be missing. A PCM file
  (WAV, AIFF) may end inside its last sample frame (fewer bytes than one frame of all channels: no whole
  sample is lost, the partial frame is dropped); one byte-complete frame short of what its header declares
  is refused. Compressed files get no tolerance: a FLAC, or an MP3 with a Xing/Info header, that decodes
  to fewer samples than it declares; an Ogg (Vorbis, Opus) whose last page is incomplete or lacks the
  end-of-stream flag; anything ffmpeg decodes while reporting a corrupt or cut-short stream. Files that
  declare no length cannot be told from a shorter recording when cut between frames: WAVs streamed with a
  0 or 0xFFFFFFFF data size, RF64 WAVs (their size sits in a ds64 chunk) and MP3s without a Xing/Info
  header (most encoders write one).
- Floating-point audio holding NaN or ±Inf (named with the time of the first such sample).
- A well-formed file with no samples: nothing can be embedded from it. (All-zero clips with samples are
  kept; the build report counts them as silent.)
- A file over MAX_FILE_BYTES, or one whose audio lasts longer than MAX_SECONDS: memory stays bounded.
"""

import io
import os
import re
import struct
import subprocess
import tempfile

import numpy as np
import soundfile
import soxr

TARGET_SAMPLE_RATE = 16000
RESAMPLER = "soxr VHQ (libsoxr via python-soxr)"
MAX_FILE_BYTES = 2 << 30  # far above any clip of the supported datasets (the longest are minutes long)
MAX_SECONDS = 3600  # the longest clips of the supported datasets last minutes; at 48 kHz stereo, 1.4 GB decoded


UNKNOWN_LENGTH = 1 << 62  # libsndfile's frame count for a file that declares none (SF_COUNT_MAX)
BLOCK_FRAMES = 1 << 20


class AudioDecodeError(Exception):
  """A file that neither soundfile nor ffmpeg can decode; the message names the file and the reason."""


def _pcm_shortfall(data: bytes) -> int | None:
  """Bytes a RIFF/RF64 WAV or AIFF/AIFC file lacks of the sound data its header declares, None when not one
  (or when the size is the 0 or 0xFFFFFFFF that streaming writers leave)."""
  if data[:4] in (b"RIFF", b"RF64") and data[8:12] == b"WAVE":
    order, chunk_name, start = "<", b"data", 12
  elif data[:4] == b"FORM" and data[8:12] in (b"AIFF", b"AIFC"):
    order, chunk_name, start = ">", b"SSND", 12
  else:
    return None
  position = start
  while position + 8 <= len(data):
    name, size = data[position:position + 4], struct.unpack(order + "I", data[position + 4:position + 8])[0]
    if name == chunk_name:
      if data[:4] == b"RF64" or size in (0, 0xFFFFFFFF):
        return None  # RF64 keeps the size in its ds64 chunk; streamed files declare none
      return max(0, size - (len(data) - position - 8))
    position += 8 + size + (size & 1)
  return None


def _ogg_is_cut(data: bytes) -> bool:
  """True when an Ogg stream's last page is incomplete or is not flagged end-of-stream."""
  last = data.rfind(b"OggS", max(0, len(data) - (1 << 17)))
  if last < 0 or last + 27 > len(data):
    return True
  segments = data[last + 26]
  table = data[last + 27:last + 27 + segments]
  complete = len(table) == segments and last + 27 + segments + sum(table) == len(data)
  return not complete or not data[last + 5] & 0x04


def _has_xing_header(data: bytes) -> bool:
  """Whether an MP3 carries a Xing/Info header: libsndfile then knows its exact length."""
  start = 0
  if data[:3] == b"ID3" and len(data) >= 10:
    start = 10 + (data[6] << 21 | data[7] << 14 | data[8] << 7 | data[9])
  head = data[start:start + 256]
  return b"Xing" in head or b"Info" in head


def _read_with_soundfile(data: bytes, name: str) -> tuple[np.ndarray, int]:
  with soundfile.SoundFile(io.BytesIO(data)) as sound:
    declared, rate, channels, kind = sound.frames, sound.samplerate, sound.channels, sound.format
    if declared < UNKNOWN_LENGTH:
      if declared > MAX_SECONDS * rate:
        raise AudioDecodeError(f"{name}: lasts {declared / rate:.0f} s, over the {MAX_SECONDS} s this decoder "
                               "accepts; cut it into shorter files")
      samples = sound.read(dtype="float32", always_2d=True)
    else:  # a streamed FLAC declares no length: read up to the limit
      blocks = [sound.read(BLOCK_FRAMES, dtype="float32", always_2d=True)]
      while len(blocks[-1]) == BLOCK_FRAMES:
        if len(blocks) * BLOCK_FRAMES > MAX_SECONDS * rate:
          raise AudioDecodeError(f"{name}: lasts over the {MAX_SECONDS} s this decoder accepts; cut it into "
                                 "shorter files")
        blocks.append(sound.read(BLOCK_FRAMES, dtype="float32", always_2d=True))
      samples, declared = np.concatenate(blocks), 0
  if kind in ("WAV", "WAVEX", "AIFF"):
    missing, frame = _pcm_shortfall(data), channels * _bytes_per_sample(sound.subtype)
    if missing is not None and missing >= frame:
      raise AudioDecodeError(f"{name}: cut short: its header declares {missing} more bytes of sound "
                             f"({missing // frame} sample frames) than the file holds; download it again")
  elif kind == "OGG" and _ogg_is_cut(data):
    raise AudioDecodeError(f"{name}: cut short: the Ogg stream ends without its end-of-stream page; "
                           "download it again")
  elif (kind == "FLAC" or (kind in ("MPEG", "MP3") and _has_xing_header(data))) and len(samples) < declared:
    raise AudioDecodeError(f"{name}: cut short: {len(samples)} of the {declared} samples its header declares "
                           "could be decoded; download it again")
  return samples, rate


def _bytes_per_sample(subtype: str) -> int:
  match = re.search(r"(\d+)$", subtype)
  bits = int(match[1]) if match else {"FLOAT": 32, "DOUBLE": 64, "ULAW": 8, "ALAW": 8}.get(subtype, 8)
  return max(1, bits // 8)


def _read_with_ffmpeg(data: bytes, name: str) -> tuple[np.ndarray, int]:
  """Decodes any container ffmpeg knows into float32 wav at the source rate.

  ffmpeg reads from a temporary file, not a pipe: mp4/m4a files whose index (moov atom) sits at the end
  need a seekable input. Its errors (corrupt packets, truncated atoms, decode failures) and a demuxer's
  warning that the file ended prematurely mean a damaged file; output stops after MAX_SECONDS.
  """
  suffix = os.path.splitext(name)[1].lower()
  with tempfile.NamedTemporaryFile(suffix=suffix if suffix.isascii() else "") as source:
    source.write(data)
    source.flush()
    try:
      result = subprocess.run(
          ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "level+warning", "-i", source.name,
           "-t", str(MAX_SECONDS + 1), "-f", "wav", "-acodec", "pcm_f32le", "pipe:1"],
          capture_output=True, check=False)
    except FileNotFoundError as error:
      raise AudioDecodeError(
          f"{name}: soundfile cannot read this format and ffmpeg is not installed "
          "(apt-get install ffmpeg)") from error
  lines = result.stderr.decode(errors="replace").replace(source.name, "input").strip().splitlines()
  damaged = [line for line in lines if re.search(r"\[(error|fatal|panic)\] ", line) or "prematurely" in line]
  if result.returncode != 0 or not result.stdout or damaged:
    reason = (damaged or lines or ["no audio stream"])[-1]
    reason = re.sub(r"^(\[[^]]*\] )+", "", reason)
    raise AudioDecodeError(f"{name}: ffmpeg could not decode it ({reason})")
  samples, rate = soundfile.read(io.BytesIO(result.stdout), dtype="float32", always_2d=True)
  if len(samples) > MAX_SECONDS * rate:
    raise AudioDecodeError(f"{name}: lasts over the {MAX_SECONDS} s this decoder accepts; cut it into "
                           "shorter files")
  return samples, rate


def read_audio(data: bytes, name: str) -> tuple[np.ndarray, int]:
  """Returns float32 samples [frames, channels] and the file's own sample rate; refuses the files the
  module docstring lists."""
  if len(data) > MAX_FILE_BYTES:
    raise AudioDecodeError(f"{name}: {len(data)} bytes, over the {MAX_FILE_BYTES} an audio file may have")
  try:
    samples, rate = _read_with_soundfile(data, name)
  except (soundfile.LibsndfileError, RuntimeError, TypeError):
    samples, rate = _read_with_ffmpeg(data, name)
  if not len(samples):
    raise AudioDecodeError(f"{name}: holds no samples")
  finite = np.isfinite(samples).all(axis=1)
  if not finite.all():
    first = int(np.argmin(finite))
    kind = "NaN" if np.isnan(samples[first]).any() else "infinite"
    raise AudioDecodeError(f"{name}: holds {kind} samples ({int((~finite).sum())} sample frames, the first "
                           f"at {first / rate:.6f} s); fix or re-export the recording")
  return samples, rate


def to_int16_mono(samples: np.ndarray, rate: int, target_rate: int = TARGET_SAMPLE_RATE) -> np.ndarray:
  """Downmixes by averaging channels, resamples to target_rate, converts to int16 with clipping."""
  mono = samples.mean(axis=1) if samples.ndim == 2 else samples
  mono = np.ascontiguousarray(mono, dtype=np.float32)
  if rate != target_rate and mono.size:
    mono = soxr.resample(mono, rate, target_rate, quality="VHQ")
  return np.clip(np.round(mono * 32768.0), -32768, 32767).astype(np.int16)
