"""Throughput of `compute-embeddings --model hf:...` on a wav2vec 2.0 base-sized model, against the floor.

The model: transformers' Wav2Vec2Config defaults (base: 12 layers of 768, 7 conv layers of 512; ~95 M
parameters), random weights (real compute), the layer-norm feature encoder that takes an attention mask
(`feat_extract_norm="layer"`, as the public large/lv60 checkpoints); and the group-norm variant (as
wav2vec2-base), whose clips batch only with clips of identical length. Written with save_pretrained.
The corpus: clips in CREMA-D's raw layout with CREMA-D's lengths (1.3-5 s, mean ~2.5 s), built with TFDS.

Measured, every layer (13 hidden states) unless said, mean pooling, in audio-seconds per wall-second:
  pipeline      `compute-embeddings` (DirectRunner, one process, empty cache): its own printed time
  last layer    the same with `--layers layer12`: what every layer costs over the last alone
  cached        the same command again, every entry complete: the whole command, against the first's
  floor batched the bare transformers model in this process: clips sorted by length, batches of
                --batch_size with the attention mask, each clip's valid frames pooled
  floor single  one clip per call
  group-norm    the group-norm model's pipeline run and its one-clip-per-call floor
The floor is the faster of the two loops. The pipeline takes --batch_size clips of similar length per
call on any device (identical lengths for the group-norm model). CPU seconds are recorded beside wall
seconds: on a machine shared with other work they compare loops more fairly.

    .venv/bin/python benchmarks/hf_throughput.py --work /tmp/bench/hf [--clips 120] [--device cpu]
        [--parts pipeline,cached,floor,single,last,group]
"""

import argparse
import json
import os
import re
import shutil
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from embedding_throughput import build, command, load_clips, make_corpus  # noqa: E402  pylint: disable=wrong-import-position

RATE = 16000
TASK = "noss/crema_d"


def crema_d_seconds(rng) -> float:
  """CREMA-D's clip lengths: 1.3-5 s, mean ~2.5 s (1.3 s plus a gamma tail)."""
  return min(1.3 + rng.gamma(2.0, 0.6), 5.0)


def save_model(folder: Path, norm: str) -> int:
  """A base-sized wav2vec2 with random weights; returns its parameter count."""
  import torch  # pylint: disable=import-outside-toplevel
  import transformers  # pylint: disable=import-outside-toplevel

  torch.manual_seed(0)
  model = transformers.Wav2Vec2Model(transformers.Wav2Vec2Config(feat_extract_norm=norm,
                                                                 do_stable_layer_norm=norm == "layer"))
  if not (folder / "config.json").exists():
    model.save_pretrained(str(folder))
    transformers.Wav2Vec2FeatureExtractor(return_attention_mask=norm == "layer", do_normalize=True).save_pretrained(
        str(folder))
  return sum(p.numel() for p in model.parameters())


def floor(folder: Path, clips: list[np.ndarray], batch_size: int, device: str) -> tuple[float, float]:
  """(wall, CPU) seconds of the bare transformers model over every clip: batches of length-sorted clips with
  the attention mask (batch_size > 1) or one clip per call; every hidden state pooled over the clip's
  frames. CPU seconds (all threads of this process) compare loops fairly on a machine shared with others."""
  import torch  # pylint: disable=import-outside-toplevel
  import transformers  # pylint: disable=import-outside-toplevel

  extractor = transformers.Wav2Vec2FeatureExtractor.from_pretrained(str(folder))
  model = transformers.Wav2Vec2Model.from_pretrained(str(folder)).eval().to(device)
  ordered = sorted(clips, key=len)
  batches = [ordered[i:i + batch_size] for i in range(0, len(ordered), batch_size)]

  def run(batch):
    inputs = extractor(batch, sampling_rate=RATE, padding=True, return_attention_mask=True, return_tensors="pt")
    with torch.inference_mode():
      mask = inputs["attention_mask"].to(device) if len(batch) > 1 else None
      states = model(inputs["input_values"].to(device), attention_mask=mask, output_hidden_states=True).hidden_states
      kept = model._get_feat_extract_output_lengths(torch.tensor([len(c) for c in batch]))  # pylint: disable=protected-access
      return [[s[row, :int(n)].mean(dim=0).cpu().numpy() for s in states] for row, n in enumerate(kept)]

  run(batches[0])  # warm-up
  if device == "cuda":
    torch.cuda.synchronize()
  start, cpu = time.perf_counter(), time.process_time()
  for batch in batches:
    run(batch)
  if device == "cuda":
    torch.cuda.synchronize()
  return time.perf_counter() - start, time.process_time() - cpu


def pipeline(folder: Path, data_dir: Path, cache: Path, log: Path, device: str, batch_size: int, layers=None):
  """(pipeline seconds as printed, whole-command wall seconds, peak RSS MB) of one compute-embeddings run."""
  run = [str(Path(sys.executable).with_name("compute-embeddings")), "--task", TASK, "--data_dir", str(data_dir),
         "--model", f"hf:{folder}", "--cache", str(cache), "--device", device, "--batch_size", str(batch_size)]
  wall, _, rss, out = command(run + (["--layers", layers] if layers else []), log)
  found = re.search(r"of audio in ([\d.]+) s", out)
  return (float(found.group(1)) if found else None), wall, rss, out


PARTS = ("pipeline", "cached", "floor", "single", "last", "group")


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--work", type=Path, required=True)
  parser.add_argument("--clips", type=int, default=120)
  parser.add_argument("--batch_size", type=int, default=16)
  parser.add_argument("--device", default="cpu", choices=("cpu", "gpu"))
  parser.add_argument("--parts", default=",".join(PARTS),
                      help="what to measure: pipeline (every layer), cached (its rerun), floor (batched), single "
                           "(one clip per call), last (--layers layer12), group (the group-norm model)")
  args = parser.parse_args()
  parts = set(args.parts.split(","))
  torch_device = "cuda" if args.device == "gpu" else "cpu"

  raw, data_dir = args.work / "raw", args.work / "tfds"
  if not (raw / "AudioWAV").exists():
    make_corpus(raw, args.clips, crema_d_seconds)
  clips = load_clips(build(raw, data_dir))
  audio_s = sum(len(c) for c in clips) / RATE
  lengths = [len(c) / RATE for c in clips]
  results = {"clips": len(clips), "audio_s": audio_s, "clip_s": [min(lengths), float(np.mean(lengths)), max(lengths)],
             "device": args.device, "batch_size": args.batch_size, "cpus": os.cpu_count(), "parts": sorted(parts)}
  print(f"corpus: {len(clips)} clips, {audio_s:.0f} s of audio", flush=True)
  rates, cpu_rates = {}, {}  # audio-s per wall-s, and per CPU-s of the bare loops
  for norm in ("layer", "group") if "group" in parts else ("layer",):
    folder = args.work / f"wav2vec2-base-{norm}norm"
    results[f"parameters_{norm}"] = save_model(folder, norm)
    cache = args.work / f"cache-{norm}"
    if "pipeline" in parts or norm == "group":
      shutil.rmtree(cache, ignore_errors=True)
      seconds, first_wall, rss, _ = pipeline(folder, data_dir, cache, args.work / f"{norm}-all.log", args.device,
                                             args.batch_size)
      rates[f"{norm}/pipeline"] = audio_s / seconds
      results[f"{norm}/peak_rss_mb"] = rss
      if "cached" in parts:
        _, cached_wall, _, out = pipeline(folder, data_dir, cache, args.work / f"{norm}-cached.log",
                                          args.device, args.batch_size)
        assert "computed" not in out and out.count("reused cache entry") == 39, out
        results[f"{norm}/first_vs_cached_command"] = [first_wall, cached_wall, first_wall / cached_wall]
    if "single" in parts or norm == "group":
      wall, cpu = floor(folder, clips, 1, torch_device)
      rates[f"{norm}/floor single"], cpu_rates[f"{norm}/floor single"] = audio_s / wall, audio_s / cpu
    if norm == "layer" and "floor" in parts:
      wall, cpu = floor(folder, clips, args.batch_size, torch_device)
      rates["layer/floor batched"], cpu_rates["layer/floor batched"] = audio_s / wall, audio_s / cpu
    if norm == "layer" and "last" in parts:
      shutil.rmtree(cache, ignore_errors=True)
      seconds, _, _, _ = pipeline(folder, data_dir, cache, args.work / "layer-last.log", args.device,
                                  args.batch_size, layers="layer12")
      rates["layer/pipeline last layer"] = audio_s / seconds
    print(json.dumps(rates, indent=1), flush=True)
  ratios = {}
  floors = [rates[f] for f in ("layer/floor batched", "layer/floor single") if f in rates]
  if "layer/pipeline" in rates and floors:
    ratios["pipeline/floor"] = rates["layer/pipeline"] / max(floors)
    for name in ("layer/floor batched", "layer/floor single"):
      if name in rates:
        ratios[f"pipeline/{name.split('/')[1]}"] = rates["layer/pipeline"] / rates[name]
  if "layer/pipeline last layer" in rates and "layer/pipeline" in rates:
    ratios["all layers cost / last layer"] = rates["layer/pipeline last layer"] / rates["layer/pipeline"]
  if "group/pipeline" in rates:
    ratios["group-norm pipeline/floor single"] = rates["group/pipeline"] / rates["group/floor single"]
  results.update({"audio_s_per_s": rates, "audio_s_per_cpu_s": cpu_rates, "load_average": os.getloadavg(),
                  "ratios": ratios})
  print(json.dumps(results, indent=1))
  (args.work / "results.json").write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
  main()
