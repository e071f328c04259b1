"""Cost of the leakage audit (`prepare-splits --audit`) on a CREMA-D-sized task, by stage.

  .venv/bin/python benchmarks/audit_cost.py [--clips 7442] [--seconds 2.5] [--work /tmp/bench/audit]

Input: `--clips` clips of `--seconds` s at 16 kHz, 91 speakers, made from a pool of espeak-ng utterances
(12 sentences x 10 voices): each clip is one pool utterance played at a random speed (0.8-1.25, which
moves its pitch and tempo) mixed with another, quieter, at another speed and offset, with a random gain
and quiet noise, padded or cut to length. So fingerprints look like speech's and share many sub-hashes
(the matching stage's candidates), while true near-copies stay rare. Manifests: canonical (speakers cut
at 0.7 / 0.8 as TFDS does) and intra_speaker (5 repeats). The baseline is the floor of any audit of the audio: reading it once and
hashing its int16 bytes (sha256), what finding identical audio alone costs.
Stages timed: hashing + Chromaprint fingerprints (`audit.Audio`, without matching), near-duplicate
matching, the per-manifest audit (`audit.audit_task`). Reading audio out of TFDS is not included (it
depends on the build's storage; the embedding pipeline's benchmark measures that read).
"""

import argparse
import hashlib
import platform
import resource
import time

import numpy as np
import pandas as pd
import soxr

from nossbench.builders import demo_corpus
from nossbench.splits import audit, intra_speaker, manifest

RATE = 16000


def pool() -> list[np.ndarray]:
  return [demo_corpus.synthesize(text, demo_corpus.actor_voice(v)[0], 50, 170, 100)
          for text in demo_corpus.SENTENCE_TEXT.values() for v in range(10)]


def clips(count: int, seconds: float, seed: int = 0) -> tuple[pd.DataFrame, list[tuple[str, np.ndarray]]]:
  rng = np.random.RandomState(seed)
  utterances, length = pool(), int(seconds * RATE)
  rows, audio = [], []
  for i in range(count):
    speaker = 1001 + i % 91
    mixed = np.zeros(length, np.float32)
    for share, start in ((1.0, 0), (0.4, rng.randint(length // 2))):
      source = utterances[rng.randint(len(utterances))].astype(np.float32)
      played = soxr.resample(source, RATE, RATE * rng.uniform(0.8, 1.25))[:length - start]
      mixed[start:start + len(played)] += share * played
    samples = np.clip(mixed * rng.uniform(0.3, 1.0) + rng.randn(length) * 30, -32768, 32767).astype(np.int16)
    example_id = f"{speaker}_{i:05d}_NEU_XX"
    rows.append((example_id, "NEU", str(speaker)))
    audio.append((example_id, samples))
  return pd.DataFrame(rows, columns=["example_id", "label", "speaker_id"]), audio


def canonical(table: pd.DataFrame) -> pd.DataFrame:
  speakers = np.random.RandomState(0).permutation(sorted(table["speaker_id"].unique()))
  cut = {s: "train" if i < int(0.7 * len(speakers)) else "validation" if i < int(0.8 * len(speakers)) else "test"
         for i, s in enumerate(speakers)}
  return table.assign(split=table["speaker_id"].map(cut))


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--clips", type=int, default=7442)
  parser.add_argument("--seconds", type=float, default=2.5)
  parser.add_argument("--work", default="/tmp/bench/audit")
  args = parser.parse_args()

  table, audio = clips(args.clips, args.seconds)
  rows = canonical(table)
  manifest.write_manifest(args.work, "noss/crema_d", "canonical", rows, {"seed": None})
  cuts, _ = intra_speaker.intra_speaker_splits(rows, 5, 0.2, 0)
  manifest.write_manifest(args.work, "noss/crema_d", "intra_speaker", cuts, {"seed": 0})

  def timed(work):
    """(result, wall seconds, CPU seconds of this process): the box is shared, CPU time is the steadier."""
    wall, cpu = time.perf_counter(), time.process_time()
    result = work()
    return result, time.perf_counter() - wall, time.process_time() - cpu

  _, *hashing = timed(lambda: [hashlib.sha256(s.astype("<i2").tobytes()).hexdigest() for _, s in audio])
  result, *fingerprinting = timed(lambda: audit.Audio(audio, RATE))
  _, *matching = timed(lambda: result.near)
  findings, *auditing = timed(lambda: audit.audit_task(args.work, "noss/crema_d", result))
  total = [a + b + c for a, b, c in zip(fingerprinting, matching, auditing)]
  hours = args.clips * args.seconds / 3600
  print(f"{args.clips} clips x {args.seconds} s ({hours:.2f} h of audio); "
        f"{platform.processor() or platform.machine()}, peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")
  print(f"near-duplicate pairs {len(result.near)}, identical {len(result.identical)}, unprinted "
        f"{len(result.unprinted)}; findings {len(findings)}")
  print("| stage | wall s | CPU s | clips per CPU-s |\n|---|---|---|---|")
  for name, (wall, cpu) in (("baseline: sha256 of the int16 bytes", hashing), ("hash + Chromaprint fingerprints",
                             fingerprinting), ("near-duplicate matching", matching),
                            ("audit of canonical + intra_speaker manifests", auditing), ("whole audit", total)):
    print(f"| {name} | {wall:.1f} | {cpu:.1f} | {args.clips / max(cpu, 1e-9):,.0f} |")
  print(f"whole audit / baseline, CPU: {total[1] / hashing[1]:.0f}x; audio hours per CPU-minute: "
        f"{hours / (total[1] / 60):.1f}")


if __name__ == "__main__":
  main()
