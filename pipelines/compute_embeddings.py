"""`compute-embeddings`: embeds every example of a built task with a registered model, through Apache Beam.

    compute-embeddings --task noss/crema_d --data_dir D --model logmel --cache C [--export FILE.npz]
                       [any Beam pipeline option, e.g. --runner DataflowRunner --project ...]

Each (layer, split) result is one cache entry (see pipelines/cache.py). A complete entry with the same
key is reused, never computed again; an incomplete one resumes from the batches earlier runs made
durable. Running on Dataflow and on GPU workers: pipelines/README.md.
"""

import argparse
import contextlib
import dataclasses
import io
import json
import logging
import os
import re
import time

import tqdm
from etils import epath

import nossbench
from nossbench import UserError, add_verbose_flag, command_line
from nossbench.embeddings import device as device_lib
from nossbench.embeddings import pooling as pooling_lib
from nossbench.embeddings import registry
from nossbench.pipelines import cache, cache_format, export

# Apache Beam, TensorFlow and TFDS are imported only when something is to compute: a fully cached rerun
# (see `complete_entries`) answers without them, in about a second instead of several.


def parser() -> argparse.ArgumentParser:
  p = argparse.ArgumentParser(prog="compute-embeddings", description=__doc__.split("\n\n")[0],
                              epilog="Any other --option is passed to Apache Beam (runner, workers, ...).")
  p.add_argument("--task", required=True, help="<benchmark>/<task>, e.g. noss/crema_d")
  add_verbose_flag(p)
  p.add_argument("--data_dir", help="TFDS data_dir the task was built into (local or gs://)")
  p.add_argument("--model", required=True, help=f"one of: {', '.join(registry.available())}")
  p.add_argument("--layers", help="comma-separated layer names (default: all of the model's layers)")
  p.add_argument("--pooling", default="mean", choices=pooling_lib.POOLINGS,
                 help="over time: mean (the NOSS protocol), mean+std, or none (frame-level)")
  p.add_argument("--splits", help="comma-separated splits (default: all)")
  p.add_argument("--cache", required=True, help="cache root (local path or gs://)")
  p.add_argument("--device", default="auto", choices=device_lib.CHOICES,
                 help="where workers run the model: auto takes a GPU when the worker has one")
  p.add_argument("--batch_size", type=int, default=32, help="clips per model call")
  p.add_argument("--max_padding", type=float, default=0.25,
                 help="clips batched together differ in length by less than this fraction")
  p.add_argument("--max_batch_seconds", type=float, default=600.0,
                 help="audio per model call, padding included (bounds memory on long clips)")
  p.add_argument("--examples_per_shard", type=int, default=4096, help="examples per TFRecord shard")
  p.add_argument("--read_parallelism", type=int, default=1,
                 help="workers reading each TFDS shard (more spreads a small dataset over more workers)")
  p.add_argument("--record_failures", action="store_true",
                 help="record examples whose embedding has NaN/Inf as failed (listed in COMPLETE.json) "
                      "instead of stopping")
  p.add_argument("--store_dtype", default="float32", choices=cache_format.STORE_DTYPES,
                 help="precision of the stored embeddings: float16 halves the cache (another entry; "
                      "the scorer reads either)")
  p.add_argument("--export", help="also write a submission file (.npz or .parquet) from the cache")
  return p


def beam_options(beam_args: list[str]):
  """Beam's options; a misspelled one, a bad value or an unknown runner is an error rather than silently
  dropped (or a page of Beam's usage text, or a traceback)."""
  from apache_beam.options.pipeline_options import PipelineOptions  # pylint: disable=import-outside-toplevel
  from apache_beam.options.pipeline_options import StandardOptions  # pylint: disable=import-outside-toplevel
  from apache_beam.runners import runner  # pylint: disable=import-outside-toplevel

  options = PipelineOptions(beam_args or ["--runner=DirectRunner"])
  usage = io.StringIO()
  try:
    with contextlib.redirect_stderr(usage):  # argparse prints Beam's whole usage before its one-line error
      known = options.get_all_options(retain_unknown_options=True)
      runner.create_runner(options.view_as(StandardOptions).runner or "DirectRunner")
  except SystemExit:
    message = usage.getvalue().strip().splitlines()[-1].split("error: ", 1)[-1]
    raise UserError(f"Apache Beam option: {message}") from None
  except ValueError as error:
    raise UserError(f"--runner: {error}") from None
  unknown = sorted(set(known) - set(options.get_all_options()))
  if unknown:
    raise UserError(f"unknown option {', '.join('--' + u for u in unknown)}: neither "
                    "compute-embeddings (see --help) nor Apache Beam's pipeline options know it.")
  return options


@dataclasses.dataclass
class Plan:
  """What a command line asks for, checked, and which cache entries are still to compute."""
  args: argparse.Namespace
  options: object  # Beam's PipelineOptions
  model: object
  shared: object  # Beam's Shared: holds the model for the pipeline's workers in this process
  builder: object
  keys: list  # every requested entry
  reused: dict  # EntryKey -> its completion record
  todo: dict  # split -> [EntryKey], one per layer still to compute


def parse_arguments(argv) -> tuple[argparse.Namespace, list[str]]:
  """Our arguments, checked, and the rest (Beam's)."""
  args, beam_args = parser().parse_known_args(argv)
  for name in ("batch_size", "max_padding", "max_batch_seconds", "examples_per_shard", "read_parallelism"):
    if getattr(args, name) <= 0:
      raise UserError(f"--{name} {getattr(args, name)}: give a number above 0")
  if args.export and not args.export.endswith(export.FORMATS):
    raise UserError(f"--export {args.export}: name a .npz or .parquet file")
  return args, beam_args


def requested_layers(args, model) -> tuple[str, ...]:
  layers = model.check_layers(args.layers.split(",")) if args.layers else tuple(model.layers)
  if args.export and len(layers) != 1:
    raise UserError(f"--export writes one layer, and {len(layers)} are asked for: choose one with --layers")
  return layers


def complete_entries(args) -> tuple[dict | None, object]:
  """({EntryKey: completion record} when every entry the command asks for is complete, else None; the
  model when it had to be built to decide, else None).

  Decided without Beam, TensorFlow or TFDS: the build is read from the newest version folder's
  dataset_info.json (the file TFDS writes and reads), and the model is built on the CPU only for its
  layers and fingerprint (the device changes neither); `plan` reuses it when it runs on the CPU too. The entries are reused only if they were computed from exactly that
  build; whenever anything is missing or differs, `plan` decides with TFDS as usual.
  """
  root = epath.Path(args.data_dir or os.environ.get("TFDS_DATA_DIR") or "~/tensorflow_datasets").expanduser()
  versions = [folder for folder in (root / args.task).glob("*")
              if re.fullmatch(r"\d+\.\d+\.\d+", folder.name) and (folder / "dataset_info.json").exists()]
  if not versions:
    return None, None
  newest = max(versions, key=lambda folder: tuple(int(n) for n in folder.name.split(".")))
  built = sources_of(args.task, newest)
  splits = args.splits.split(",") if args.splits else sorted(built)
  if not splits or not set(splits) <= set(built):
    return None, None
  if not all(cache.any_completion(args.cache, args.model, args.pooling, args.task, s) for s in splits):
    return None, None  # a first run: decided without building the model (plan builds it once)
  model = registry.get_model(args.model, device="cpu")  # resolving auto/gpu would load TensorFlow
  records = {}
  for key in entry_keys(args, model, splits, requested_layers(args, model)):
    record = cache.read_completion(key.path(args.cache), key, built[key.split])
    if record is None:
      return None, model
    # work files left by a run killed after completing the entry
    cache.remove_work_files(key.path(args.cache), cache_format.shard_names(record))
    records[key] = record
  return records, model


def build_splits(build_dir: epath.Path) -> dict[str, dict]:
  """{split name: its entry in the build's dataset_info.json}, read without TensorFlow."""
  path = epath.Path(build_dir) / "dataset_info.json"
  try:
    info = json.loads(path.read_text())
    return {split["name"]: split for split in info.get("splits", [])}
  except (OSError, ValueError, TypeError, KeyError) as error:
    raise UserError(f"{path}: unreadable ({error}); the build is damaged: build it again with tfds build") from error


def sources_of(task: str, build_dir) -> dict[str, dict]:
  """{split: the dataset build its entries are computed from}, from the build's dataset_info.json (read
  once; the one place both the cached fast path and the planner take it from): a rebuilt or changed
  dataset is another source."""
  build_dir = epath.Path(build_dir)
  return {split: {"dataset": f"{task}/{build_dir.name}", "split": split,
                  "examples": sum(int(n) for n in info.get("shardLengths", [])), "bytes": int(info.get("numBytes", 0))}
          for split, info in build_splits(build_dir).items()}


def launcher_device(args) -> str:
  """Where the launcher builds the model (for its layers, rate and fingerprint, and to run it in-process):
  a --device gpu run builds it on the CPU here and again on the GPU workers."""
  return "cpu" if args.device == "gpu" else args.device


def plan(args, beam_args, model=None) -> Plan:
  """What to compute and what to reuse; `model`, when complete_entries already built it, is not built again."""
  options = beam_options(beam_args)

  from apache_beam.utils import shared as beam_shared  # pylint: disable=import-outside-toplevel

  from nossbench.pipelines import transforms  # pylint: disable=import-outside-toplevel
  from nossbench.builders import loading  # pylint: disable=import-outside-toplevel

  # Here for its layers, rate and fingerprint; an in-process run reuses it unless it must move to the GPU.
  shared = beam_shared.Shared()
  device = launcher_device(args)
  model = transforms.load_model(args.model, device, shared, built=model if device == "cpu" else None)
  if args.device == "cpu" or runner_name(options) in LOCAL_RUNNERS:
    # The workers' device is known here (the CPU, or this machine's for runners that run here): refuse
    # now what they would fail on inside Beam (#dtype=float16 on a CPU, --device gpu without a GPU).
    model.check_device(device_lib.resolve(args.device, model.framework, args.model))
  layers = requested_layers(args, model)
  builder = loading.load_builder(args.task, args.data_dir)
  splits = args.splits.split(",") if args.splits else sorted(builder.info.splits)
  missing = sorted(set(splits) - set(builder.info.splits))
  if missing:
    raise UserError(f"{args.task} has no split {', '.join(missing)}; it has {', '.join(builder.info.splits)}")

  keys = entry_keys(args, model, splits, layers)
  sources = sources_of(args.task, builder.data_dir)
  reused, todo = {}, {}
  for key in keys:
    record = cache.read_completion(key.path(args.cache), key, sources[key.split])
    if record is None:
      todo.setdefault(key.split, []).append(key)
    else:
      cache.remove_work_files(key.path(args.cache), cache_format.shard_names(record))
      reused[key] = record
  return Plan(args, options, model, shared, builder, keys, reused, todo)


def entry_keys(args, model, splits, layers) -> list[cache.EntryKey]:
  return [cache.EntryKey(args.model, model.fingerprint, layer, args.pooling, model.sample_rate, args.task, split,
                         args.store_dtype)
          for split in splits for layer in layers]


def label_details(builder) -> dict:
  """Which label feature the task has (`label` or multi-label `labels`) and its class names."""
  features = builder.info.features
  for name in ("label", "labels"):
    if name in features:
      feature = features[name]
      names = getattr(feature, "names", None) or getattr(getattr(feature, "feature", None), "names", None)
      return {"label_feature": name, "label_names": list(names) if names else None}
  return {"label_feature": None, "label_names": None}


def build_pipeline(pipeline, p: Plan) -> None:
  """Adds one branch per split with entries to complete."""
  args, builder, model = p.args, p.builder, p.model
  input_rate = builder.info.features["audio"].sample_rate
  settings = {"model": args.model, "device": args.device, "shared": p.shared, "pooling": args.pooling,
              # a model that must not see padding gets clips of identical length only
              "batch_size": args.batch_size, "max_padding": args.max_padding if model.pads else 0.0,
              "max_batch_seconds": args.max_batch_seconds, "examples_per_shard": args.examples_per_shard,
              "record_failures": args.record_failures, "read_parallelism": args.read_parallelism,
              "input_rate": input_rate, "store_dtype": args.store_dtype}
  details = {
      "parameters": {k: settings[k] for k in ("batch_size", "max_padding", "max_batch_seconds",
                                              "examples_per_shard", "record_failures", "device",
                                              "store_dtype")},
      "model_config": model.config(), "input_sample_rate": input_rate, "nossbench_version": nossbench.__version__,
      "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), **label_details(builder)}
  sources = sources_of(args.task, builder.data_dir)
  chunks = {key: cache.list_chunks(key.path(args.cache), sources[key.split])
            for keys in p.todo.values() for key in keys}
  from nossbench.pipelines import transforms  # pylint: disable=import-outside-toplevel

  transforms.embed_entries(pipeline, builder, p.todo, args.cache, sources, chunks, settings, details)


def counter(result, name: str) -> int:
  from apache_beam.metrics.metric import MetricsFilter  # pylint: disable=import-outside-toplevel

  from nossbench.pipelines import transforms  # pylint: disable=import-outside-toplevel

  found = result.metrics().query(MetricsFilter().with_namespace(transforms.COUNTERS).with_name(name))
  return int(sum(c.committed or 0 for c in found["counters"]))


class HideNonFiniteTraceback(logging.Filter):
  """Beam logs a worker's exception with its traceback; a NaN/Inf output is reported as a user error."""

  def filter(self, record):
    from nossbench.pipelines import transforms  # pylint: disable=import-outside-toplevel

    return not (record.exc_info and isinstance(record.exc_info[1], transforms.NonFiniteEmbedding))


def run(p: Plan):
  """Runs the pipeline to the end; a NaN/Inf output (without --record_failures) is the user's to fix."""
  import apache_beam as beam  # pylint: disable=import-outside-toplevel

  from nossbench.pipelines import transforms  # pylint: disable=import-outside-toplevel

  pipeline = beam.Pipeline(options=p.options)
  build_pipeline(pipeline, p)
  beam_logger, quiet = logging.getLogger("apache_beam.runners.common"), HideNonFiniteTraceback()
  beam_logger.addFilter(quiet)
  bar = tqdm.tqdm(total=sum(p.builder.info.splits[split].num_examples for split in p.todo), unit="example",
                  desc="embedding", disable=None if in_process(p.options) else True)  # on a terminal only
  transforms.BAR = None if bar.disable else bar
  try:
    result = pipeline.run()
    result.wait_until_finish()
  except Exception as error:  # runners wrap worker errors in their own types
    found = re.search(rf"{transforms.NON_FINITE}.*?{re.escape(transforms.NON_FINITE_ADVICE)}", str(error), re.S)
    if found:
      raise UserError(found.group(0)) from None
    raise
  finally:
    beam_logger.removeFilter(quiet)
    transforms.BAR = None
    bar.close()
  return result


# Runners whose workers run on this machine (Beam's names, lower case, without "Runner").
LOCAL_RUNNERS = ("direct", "switchingdirect", "bundlebaseddirect", "fnapi", "prism")


def runner_name(options) -> str:
  """The runner's name as Beam resolves it (case-insensitive, "Runner" optional): e.g. "direct", "dataflow"."""
  from apache_beam.options.pipeline_options import StandardOptions  # pylint: disable=import-outside-toplevel

  return (options.view_as(StandardOptions).runner or "DirectRunner").lower().removesuffix("runner")


def in_process(options) -> bool:
  """Whether the pipeline's steps run in this process (DirectRunner in memory or in threads), where
  they can draw the command's progress bar; other workers print a progress line every 30 s instead."""
  from apache_beam.options.pipeline_options import DirectOptions  # pylint: disable=import-outside-toplevel

  return runner_name(options) in ("direct", "switchingdirect") and \
      options.view_as(DirectOptions).direct_running_mode != "multi_processing"


@command_line
def main(argv):
  args, beam_args = parse_arguments(argv)
  complete, model = complete_entries(args)
  if complete is not None:
    for key, record in complete.items():
      print(f"reused cache entry {key.path(args.cache)} ({describe(record)})")
    write_export(args, list(complete))
    return
  p = plan(args, beam_args, model)
  for key, record in p.reused.items():
    print(f"reused cache entry {key.path(p.args.cache)} ({describe(record)})")
  if p.todo:
    start = time.time()
    result = run(p)
    elapsed = time.time() - start
    for split, split_keys in sorted(p.todo.items()):
      for key in split_keys:
        record = cache.read_completion(key.path(p.args.cache), key)
        print(f"computed cache entry {key.path(p.args.cache)} ({describe(record)})")
      print(f"{split}: {counter(result, f'{split}/embedded')} embedded, {counter(result, f'{split}/cached')} "
            f"cached, {counter(result, f'{split}/failed')} failed")
    audio_s = counter(result, "audio_milliseconds") / 1000
    print(f"embedded {audio_s:.0f} s of audio in {elapsed:.1f} s ({audio_s / max(elapsed, 1e-9):.0f} audio-s/s)")
  write_export(p.args, p.keys)


def write_export(args, keys) -> None:
  if args.export:
    count = export.write(keys, args.cache, args.export)
    print(f"wrote {count} embeddings to {args.export}")


def describe(record: dict) -> str:
  failed = f", {len(record['failed'])} failed: {', '.join(f['example_id'] for f in record['failed'][:5])}" \
      f"{' ...' if len(record['failed']) > 5 else ''}" if record["failed"] else ""
  return f"{record['examples']} examples{failed}"


if __name__ == "__main__":
  raise SystemExit(main())
