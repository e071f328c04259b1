"""A small built-in corpus in CREMA-D's raw layout, synthesized with espeak-ng: no download needed.

Voices play the actors (an espeak-ng voice variant plus a personal pitch and tempo offset) and prosody
plays the emotions (pitch, tempo and loudness per emotion), so an embedding that captures prosody scores
well above chance while speaker identity is a nuisance, as in the real task.

    python -m nossbench.builders.demo_corpus OUT_DIR [--actors 20] [--sentences 12]
"""

import argparse
import concurrent.futures
import io
import shutil
import subprocess

import numpy as np
import soundfile
from etils import epath

from nossbench import UserError, add_verbose_flag, command_line
from nossbench.builders import audio
from nossbench.builders.sources import crema_d

SENTENCE_TEXT = {
    "IEO": "It's eleven o'clock.", "TIE": "That is exactly what happened.",
    "IOM": "I'm on my way to the meeting.", "IWW": "I wonder what this is about.",
    "TAI": "The airplane is almost full.", "MTI": "Maybe tomorrow it will be cold.",
    "IWL": "I would like a new alarm clock.", "ITH": "I think I have a doctor's appointment.",
    "DFA": "Don't forget a jacket.", "ITS": "I think I've seen this before.",
    "TSI": "The surface is slick.", "WSI": "We'll stop in a couple of minutes.",
}
# espeak-ng prosody per emotion: pitch (0-99), words per minute, amplitude (0-200).
EMOTION_PROSODY = {
    "NEU": (50, 165, 100), "HAP": (72, 190, 125), "SAD": (30, 125, 70),
    "ANG": (58, 200, 180), "FEA": (85, 215, 90), "DIS": (38, 140, 115),
}
VOICE_VARIANTS = ("m1", "f1", "m2", "f2", "m3", "f3", "m4", "f4", "m5", "f5", "m6", "m7")
LANGUAGE_VOICES = ("en-us", "en-gb", "en-gb-scotland", "en-029")


def actor_voice(index: int) -> tuple[str, int, float]:
  """Voice name, pitch offset and tempo factor of actor number `index` (0-based), fixed for ever."""
  rng = np.random.RandomState(1000 + index)
  voice = f"{LANGUAGE_VOICES[index % len(LANGUAGE_VOICES)]}+{VOICE_VARIANTS[index % len(VOICE_VARIANTS)]}"
  return voice, int(rng.randint(-12, 13)), float(rng.uniform(0.88, 1.12))


def synthesize(text: str, voice: str, pitch: int, speed: int, amplitude: int) -> np.ndarray:
  """Speaks `text` with espeak-ng and returns 16 kHz mono int16 samples."""
  result = subprocess.run(
      ["espeak-ng", "-v", voice, "-p", str(pitch), "-s", str(speed), "-a", str(amplitude), "--stdout", text],
      capture_output=True, check=True)
  samples, rate = soundfile.read(io.BytesIO(result.stdout), dtype="float32", always_2d=True)
  return audio.to_int16_mono(samples, rate)


def write_clip(out_dir: epath.Path, actor_index: int, sentence: str, emotion: str) -> None:
  voice, pitch_offset, tempo = actor_voice(actor_index)
  pitch, speed, amplitude = EMOTION_PROSODY[emotion]
  samples = synthesize(SENTENCE_TEXT[sentence], voice, int(np.clip(pitch + pitch_offset, 0, 99)),
                       int(speed * tempo), amplitude)
  name = f"{1001 + actor_index}_{sentence}_{emotion}_XX.wav"
  soundfile.write(str(out_dir / "AudioWAV" / name), samples, audio.TARGET_SAMPLE_RATE, subtype="PCM_16")


def make_corpus(out_dir, actors: int = 20, sentences: int = 12) -> int:
  """Writes `actors` x `sentences` x 6 emotion clips under out_dir/AudioWAV; returns the clip count."""
  if shutil.which("espeak-ng") is None:
    raise UserError("the demo corpus is spoken by espeak-ng, which is not installed: apt-get install espeak-ng")
  if not 1 <= actors <= 91 or not 1 <= sentences <= len(crema_d.SENTENCES):
    raise UserError(f"--actors must be 1..91 and --sentences 1..{len(crema_d.SENTENCES)}")
  out_dir = epath.Path(out_dir)
  (out_dir / "AudioWAV").mkdir(parents=True, exist_ok=True)
  jobs = [(a, s, e) for a in range(actors) for s in crema_d.SENTENCES[:sentences] for e in crema_d.LABELS]
  with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
    list(pool.map(lambda job: write_clip(out_dir, *job), jobs))
  return len(jobs)


@command_line
def main(argv):
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("out_dir")
  add_verbose_flag(parser)
  parser.add_argument("--actors", type=int, default=20)
  parser.add_argument("--sentences", type=int, default=12)
  args = parser.parse_args(argv)
  count = make_corpus(args.out_dir, args.actors, args.sentences)
  print(f"wrote {count} clips in CREMA-D's layout to {args.out_dir}/AudioWAV")


if __name__ == "__main__":
  raise SystemExit(main())
