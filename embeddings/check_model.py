"""`check-model SPEC`: runs any registered model or adapter on made-up clips and checks, per layer, what the
pipeline and the scorer rely on.

    check-model hf:microsoft/wavlm-base-plus [--device auto|cpu|gpu] [--quick] [--tolerance 1e-4] [--json]

Clips: a few milliseconds of noise, 1 s, 10 s and 60 s of speech-level noise, 1 s of digital silence, 1 s of
full-scale noise (`--quick`: 3 s instead of 10 s and 60 s). Per layer:
- dims: the declared frame shape (`output_dims()`) against every clip's actual one, and at least one frame;
- finite: no NaN or Inf on any clip;
- determinism: every clip run twice alone, largest absolute difference;
- batch invariance: a 1 s clip alone against the same clip in one call with clips of mixed lengths (one of
  them as long as it, so that models batching only equal lengths share the call too), largest absolute
  difference. A model that normalises over its batch (batch norm left in training mode: the NOSS reference
  pipeline's bug) fails here.
A difference fails when it exceeds `tolerance x max(1, largest |value| of the layer)`. Also reported: the
speed (audio-seconds per second over the single clips) and the process's peak memory (and the GPU's, for
torch on a GPU). Every failure is listed; exit code 2 when there is one.
"""

import argparse
import json
import resource
import sys
import time

import numpy as np

from nossbench import UserError, add_verbose_flag, command_line
from nossbench.embeddings import device as device_lib
from nossbench.embeddings import registry

BATCHED = "1 s noise"  # the clip compared alone and in the mixed batch


def clips(rate: int, quick: bool) -> dict[str, np.ndarray]:
  state = np.random.RandomState(0)

  def noise(seconds, scale=0.1):
    return (scale * state.uniform(-1, 1, max(int(seconds * rate), 1))).astype(np.float32)

  made = {"5 ms noise": noise(0.005), BATCHED: noise(1)}
  made.update({"3 s noise": noise(3)} if quick else {"10 s noise": noise(10), "60 s noise": noise(60)})
  made["1 s silence"] = np.zeros(rate, np.float32)
  made["1 s full-scale noise"] = state.uniform(-1, 1, rate).astype(np.float32)
  return made


def mixed_batch(rate: int, made: dict) -> list[np.ndarray]:
  """The BATCHED clip first, then clips of other lengths and one of its own length."""
  t = np.arange(rate) / rate
  tone = (0.5 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
  return [made[BATCHED], tone, made["5 ms noise"], made["3 s noise" if "3 s noise" in made else "10 s noise"]]


def largest_difference(a: list, b: list) -> float:
  worst = 0.0
  for x, y in zip(a, b):
    if x.shape != y.shape:
      return float("inf")
    if x.size:
      worst = max(worst, float(np.nanmax(np.abs(x.astype(np.float64) - y.astype(np.float64)))))
  return worst


def peak_memory_mib(model) -> dict:
  peak = {"peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}
  if model.framework == "torch" and model.device == "gpu":
    import torch  # pylint: disable=import-outside-toplevel
    peak["peak_gpu_mib"] = round(torch.cuda.max_memory_allocated() / 2**20, 1)
  return peak


def check(model, quick: bool = False, tolerance: float = 1e-4) -> dict:
  """The report: {model, layers: {layer: {...}}, speed_audio_s_per_s, memory, failures: [text]}."""
  made = clips(model.sample_rate, quick)
  layers = tuple(model.layers)
  declared = model.output_dims()
  started = time.perf_counter()
  first = {name: model.embed([wave], layers) for name, wave in made.items()}
  seconds = time.perf_counter() - started
  second = {name: model.embed([wave], layers) for name, wave in made.items()}
  batch = model.embed(mixed_batch(model.sample_rate, made), layers)
  failures, report = [], {}
  for layer in layers:
    outputs = {name: first[name][layer][0] for name in made}
    actual = {name: tuple(int(d) for d in frames.shape[1:]) for name, frames in outputs.items()}
    frames = {name: int(out.shape[0]) if out.ndim else 0 for name, out in outputs.items()}
    finite = {name: bool(np.all(np.isfinite(out))) for name, out in outputs.items()}
    scale = max([1.0] + [float(np.abs(out).max()) for name, out in outputs.items() if finite[name] and out.size])
    limit = tolerance * scale
    repeat = largest_difference([outputs[n] for n in made], [second[n][layer][0] for n in made])
    in_batch = largest_difference([outputs[BATCHED]], [batch[layer][0]])
    report[layer] = {"declared_dims": list(declared.get(layer, ())),
                     "actual_dims": [list(a) for a in sorted(set(actual.values()))], "frames": frames,
                     "finite": all(finite.values()), "determinism_max_abs_diff": repeat,
                     "batch_invariance_max_abs_diff": in_batch, "limit": limit}
    wrong_dims = sorted(name for name, dims in actual.items() if dims != tuple(declared.get(layer, ())))
    if wrong_dims:
      failures.append(f"{layer}: declared dims {list(declared.get(layer, ()))}, but "
                      + "; ".join(f"{name} gave {list(actual[name])}" for name in wrong_dims))
    empty = [name for name, n in frames.items() if n < 1]
    if empty:
      failures.append(f"{layer}: no frame for {', '.join(empty)}")
    not_finite = [name for name, ok in finite.items() if not ok]
    if not_finite:
      failures.append(f"{layer}: NaN or Inf for {', '.join(not_finite)}")
    if repeat > limit:
      failures.append(f"{layer}: not deterministic: two calls on the same clip differ by up to {repeat:.3g} "
                      f"(limit {limit:.3g})")
    if in_batch > limit:
      failures.append(f"{layer}: batch-dependent: {BATCHED} alone and in a mixed batch differ by up to "
                      f"{in_batch:.3g} (limit {limit:.3g}); does the model normalise over its batch (batch "
                      "norm in training mode) or let padding reach the clip's frames?")
  audio = sum(len(w) for w in made.values()) / model.sample_rate
  return {"model": model.name, "device": model.device, "fingerprint": model.fingerprint,
          "clips": {name: round(len(w) / model.sample_rate, 4) for name, w in made.items()},
          "layers": report, "speed_audio_s_per_s": round(audio / max(seconds, 1e-9), 2),
          "memory": peak_memory_mib(model), "failures": failures}


def describe(result: dict) -> str:
  lines = [f"{result['model']} on {result['device']} (fingerprint {result['fingerprint']}): "
           f"{result['speed_audio_s_per_s']} audio-s/s, "
           + ", ".join(f"{k.replace('_mib', '')} {v} MiB" for k, v in result["memory"].items()),
           f"{'layer':<16} {'declared':>10} {'actual':>12} {'finite':>6} {'repeat diff':>12} {'batch diff':>12}"]
  for layer, e in result["layers"].items():
    actual = ",".join("x".join(map(str, a)) for a in e["actual_dims"])
    lines.append(f"{layer:<16} {'x'.join(map(str, e['declared_dims'])):>10} {actual:>12} "
                 f"{'yes' if e['finite'] else 'NO':>6} {e['determinism_max_abs_diff']:>12.3g} "
                 f"{e['batch_invariance_max_abs_diff']:>12.3g}")
  if result["failures"]:
    lines.append(f"{len(result['failures'])} failures:")
    lines.extend(f"- {failure}" for failure in result["failures"])
  else:
    lines.append("all checks passed")
  return "\n".join(lines)


def parser() -> argparse.ArgumentParser:
  p = argparse.ArgumentParser(prog="check-model", description=__doc__.split("\n\n")[0])
  p.add_argument("model", help=f"one of: {', '.join(registry.available())}")
  add_verbose_flag(p)
  p.add_argument("--device", default="auto", choices=device_lib.CHOICES)
  p.add_argument("--quick", action="store_true", help="3 s instead of the 10 s and 60 s clips")
  p.add_argument("--tolerance", type=float, default=1e-4,
                 help="largest allowed difference, relative to max(1, largest |value| of the layer)")
  p.add_argument("--json", action="store_true", help="print the report as JSON")
  return p


@command_line
def main(argv):
  args = parser().parse_args(argv)
  if args.tolerance < 0:
    raise UserError(f"--tolerance {args.tolerance}: give a number of at least 0")
  result = check(registry.get_model(args.model, device=args.device), args.quick, args.tolerance)
  print(json.dumps(result, indent=2) if args.json else describe(result))
  return 2 if result["failures"] else 0


if __name__ == "__main__":
  sys.exit(main())
