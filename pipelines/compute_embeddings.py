"""`compute-embeddings`: embeds every example of a built task with a registered model, through Apache Beam.

    compute-embeddings --task noss/crema_d --data_dir D --model logmel --cache C [--export FILE.npz]
                       [any Beam pipeline option, e.g. --runner DataflowRunner --project ...]

Each (layer, split) result is one cache entry (see pipelines/cache.py). A complete entry with the same
key is reused, never computed again; only missing entries are computed.
"""

import argparse
import os
import time
import uuid

import apache_beam as beam
import numpy as np
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.options.pipeline_options import PipelineOptions

import nossbench
from nossbench import UserError, command_line
from nossbench.embeddings import pooling as pooling_lib
from nossbench.embeddings import registry
from nossbench.pipelines import cache, export

COUNTER_NAMESPACE = "nossbench"


class EmbedBatch(beam.DoFn):
  """Runs the model on a batch of examples; emits one serialized record per example for each layer."""

  def __init__(self, model_name: str, layers: tuple[str, ...], pooling: str, split: str):
    self.model_name, self.layers, self.pooling, self.split = model_name, layers, pooling, split
    self.model = None

  def setup(self):
    self.model = registry.get_model(self.model_name)

  def process(self, batch):
    waveforms = [example["audio"].astype(np.float32) / 32768.0 for example in batch]
    outputs = self.model.embed(waveforms, self.layers)
    for layer in self.layers:
      for example, frames in zip(batch, outputs[layer]):
        example_id = example["example_id"].decode("utf-8")
        embedding = pooling_lib.pool(frames, self.pooling)
        if not np.all(np.isfinite(embedding)):
          raise ValueError(f"{self.model_name} layer {layer} gave NaN or Inf for example {example_id}")
        yield beam.pvalue.TaggedOutput(layer, cache.serialize(
            example_id, embedding, int(example["label"]), example["speaker_id"].decode("utf-8")))
      beam.metrics.Metrics.counter(COUNTER_NAMESPACE, f"embedded/{self.split}/{layer}").inc(len(batch))
    seconds = sum(len(w) for w in waveforms) / self.model.sample_rate
    beam.metrics.Metrics.counter(COUNTER_NAMESPACE, "audio_milliseconds").inc(int(seconds * 1000))


def build_pipeline(pipeline, builder, model_name, todo, pooling, run_id, cache_root, batch_size):
  """Adds, for each split with missing entries: read -> batch -> embed -> one TFRecord write per layer."""
  import tensorflow_datasets as tfds  # pylint: disable=import-outside-toplevel

  for split, keys in sorted(todo.items()):
    layers = tuple(key.layer for key in keys)
    outputs = (pipeline
               | f"Read {split}" >> tfds.beam.ReadFromTFDS(builder, split=split)
               | f"ToNumpy {split}" >> beam.Map(tfds.as_numpy)
               | f"Batch {split}" >> beam.BatchElements(min_batch_size=1, max_batch_size=batch_size)
               | f"Embed {split}" >> beam.ParDo(EmbedBatch(model_name, layers, pooling, split))
               .with_outputs(*layers))
    for key in keys:
      _ = outputs[key.layer] | f"Write {split} {key.layer}" >> beam.io.WriteToTFRecord(
          str(key.path(cache_root) / f"part-{run_id}"), file_name_suffix=".tfrecord")


def counter_value(result, name: str) -> int:
  found = result.metrics().query(MetricsFilter().with_namespace(COUNTER_NAMESPACE).with_name(name))
  return int(sum(c.committed or 0 for c in found["counters"]))


@command_line
def main(argv):
  parser = argparse.ArgumentParser(prog="compute-embeddings", description=__doc__.split("\n\n")[0])
  parser.add_argument("--task", required=True, help="<benchmark>/<task>, e.g. noss/crema_d")
  parser.add_argument("--data_dir", help="TFDS data_dir the task was built into")
  parser.add_argument("--model", required=True, help=f"one of: {', '.join(sorted(registry.MODELS))}")
  parser.add_argument("--layers", help="comma-separated layer names (default: all of the model's layers)")
  parser.add_argument("--pooling", default="mean", choices=pooling_lib.POOLINGS)
  parser.add_argument("--splits", help="comma-separated splits (default: all)")
  parser.add_argument("--cache", required=True, help="cache root (local path or gs://)")
  parser.add_argument("--batch_size", type=int, default=32)
  parser.add_argument("--export", help="also write a submission file (.npz) from the cache")
  args, beam_args = parser.parse_known_args(argv)

  from nossbench.splits import tfds_reader  # pylint: disable=import-outside-toplevel

  model = registry.get_model(args.model)
  layers = tuple(args.layers.split(",")) if args.layers else model.layers
  unknown = sorted(set(layers) - set(model.layers))
  if unknown:
    raise UserError(f"{args.model} has no layer {', '.join(unknown)}; its layers: {', '.join(model.layers)}")
  builder = tfds_reader.load_builder(args.task, args.data_dir)
  splits = args.splits.split(",") if args.splits else sorted(builder.info.splits)
  missing = sorted(set(splits) - set(builder.info.splits))
  if missing:
    raise UserError(f"{args.task} has no split {', '.join(missing)}; it has {', '.join(builder.info.splits)}")

  keys = [cache.EntryKey(args.model, model.fingerprint, layer, args.pooling, model.sample_rate, args.task, s)
          for s in splits for layer in layers]
  todo = {}
  for key in keys:
    record = cache.read_completion(key.path(args.cache))
    if record is not None:
      print(f"reused cache entry {key.path(args.cache)} ({record['examples']} examples)")
    else:
      todo.setdefault(key.split, []).append(key)

  if todo:
    run_id = uuid.uuid4().hex[:12]
    start = time.time()
    for split_keys in todo.values():
      for key in split_keys:  # shards of an interrupted run are never listed as complete: clear them
        for stale in key.path(args.cache).glob("part-*"):
          stale.unlink()
    options = PipelineOptions(beam_args or ["--runner=DirectRunner"])
    pipeline = beam.Pipeline(options=options)
    build_pipeline(pipeline, builder, args.model, todo, args.pooling, run_id, args.cache, args.batch_size)
    result = pipeline.run()
    result.wait_until_finish()
    elapsed = time.time() - start
    for split, split_keys in sorted(todo.items()):
      expected = builder.info.splits[split].num_examples
      for key in split_keys:
        entry_dir = key.path(args.cache)
        written = counter_value(result, f"embedded/{split}/{key.layer}")
        if written != expected:
          raise RuntimeError(f"{entry_dir}: embedded {written} of {expected} examples; not marking complete")
        shards = sorted(p.name for p in entry_dir.glob(f"part-{run_id}*"))
        cache.write_completion(entry_dir, {
            "key": key.__dict__, "examples": written, "shards": shards, "model_config": model.config(),
            "nossbench_version": nossbench.__version__, "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        })
        print(f"computed cache entry {entry_dir} ({written} examples)")
    audio_s = counter_value(result, "audio_milliseconds") / 1000
    print(f"embedded {audio_s:.0f} s of audio in {elapsed:.1f} s ({audio_s / max(elapsed, 1e-9):.0f} audio-s/s)")

  if args.export:
    if len(layers) != 1:
      raise UserError("--export writes one layer: choose it with --layers")
    count = export.write_npz([k for k in keys], args.cache, args.export)
    print(f"wrote {count} embeddings to {args.export}")


if __name__ == "__main__":
  raise SystemExit(main())
