"""The Beam transforms of `compute-embeddings`: one DoFn per step, and `embed_entries`, which chains them.

All splits with entries to complete flow as one stream, so that batches fill across splits; from the
model on, each entry (split, layer) has its own branch:

    ReadSplits -> SkipCached -> BatchBySimilarLength -> EmbedBatch -> (per entry) WriteChunk
    chunks of earlier runs -> ReadChunk ─┐                                          │
                                         └──────────── Flatten ◀────────────────────┘
                                     -> shard by sha256(example_id) -> GroupByKey -> WriteShard -> Finalize

See pipelines/cache.py for why batches go to chunks first and how the final shards are laid out.
"""

import os
import signal
import socket
import sys
import threading
import time
from pathlib import Path

import apache_beam as beam
import numpy as np
from apache_beam.utils import shared as beam_shared

from nossbench.pipelines import batching, cache, cache_format

COUNTERS = "nossbench"
PROGRESS_EVERY_S = 30.0


NON_FINITE = "NaN or Inf in a model output"
FLOAT16_OVERFLOW = " once stored as float16 (values beyond 65504); use --store_dtype float32 for this model"
NON_FINITE_ADVICE = ("Rerun with --record_failures to record such examples as failed and leave them out of "
                     "the cache entry; the examples embedded so far are kept.")


class NonFiniteEmbedding(ValueError):
  """A model output NaN or Inf for an example (the message names it)."""


def load_model(name: str, device: str, shared: beam_shared.Shared, built=None):
  """The registry's model on `device` (auto|cpu|gpu, resolved for the model's framework on this machine),
  built once per process: the DoFns of every split, and the launcher when it runs the pipeline in its own
  process, share it through Beam's `Shared` (`built`: the launcher's model, already made on `device`)."""
  from nossbench.embeddings import registry  # pylint: disable=import-outside-toplevel

  return shared.acquire(lambda: built if built is not None else registry.get_model(name, device=device),
                        tag=(name, device))


def to_float(audio: np.ndarray) -> np.ndarray:
  """TFDS audio (int16 in this package's builders) as float32 in [-1, 1]."""
  if np.issubdtype(audio.dtype, np.integer):
    return audio.astype(np.float32) / float(np.iinfo(audio.dtype).max + 1)
  return audio.astype(np.float32)


_watching_launcher = False


def process_identity(pid: int) -> tuple | None:
  """(host, pid, start time) of a live process on this machine (Linux /proc), None if it is gone: a pid
  alone may be reused, and the same pid on another machine is another process."""
  try:
    stat = Path(f"/proc/{pid}/stat").read_text()
  except OSError:
    return None
  return socket.gethostname(), pid, stat.rsplit(")", 1)[1].split()[19]


def die_with_launcher(launcher: tuple | None) -> None:
  """In a worker process on the launcher's machine (DirectRunner's multi_processing mode: Beam starts
  workers that start workers), stops the worker once the launching command is gone. Beam leaves them
  running when the launcher is killed, and an orphan that went on writing chunks and finalizing entries
  is what made the next run fail (it deleted chunks the next run had planned to read). In-process and on
  other machines (Dataflow) nothing is armed."""
  global _watching_launcher  # pylint: disable=global-statement
  if _watching_launcher or launcher is None or launcher[1] == os.getpid() or process_identity(launcher[1]) != launcher:
    return
  _watching_launcher = True

  def watch():
    while process_identity(launcher[1]) == launcher:
      time.sleep(0.2)
    os.kill(os.getpid(), signal.SIGKILL)

  threading.Thread(target=watch, name="die-with-launcher", daemon=True).start()


class CacheWriter(beam.DoFn):
  """A step that writes to the cache: its worker process never outlives the command that started it."""

  def __init__(self):
    self.launcher = process_identity(os.getpid())

  def setup(self):
    die_with_launcher(self.launcher)


class SkipCached(beam.DoFn):
  """Drops examples already embedded for every requested layer of their split (found in the chunks of
  an interrupted run); an example missing from one layer's chunks is embedded again for all.

  entries: {split: number of entries (layers) to complete}. Side inputs: one {example_id: None} per
  entry that has chunks, in the order of `chunked`, those entries' splits.
  """

  def __init__(self, entries: dict[str, int], chunked: list[str]):
    self.entries, self.chunked = entries, chunked
    self.cached = {split: beam.metrics.Metrics.counter(COUNTERS, f"{split}/cached") for split in entries}

  def process(self, element, *done_per_entry):
    split, example = element
    done = [ids for s, ids in zip(self.chunked, done_per_entry) if s == split]
    if len(done) == self.entries[split] and all(example["example_id"].decode("utf-8") in ids for ids in done):
      self.cached[split].inc()
      return
    yield element


class EmbedBatch(CacheWriter):
  """Runs the model once per batch for all layers, pools, checks the output is finite, serializes.

  A batch holds (split, example) pairs, possibly of several splits. `entries` lists the (split, layer)
  pairs to emit: per batch, tag `records<i>` gets entry i's [(example_id, record)] and tag `failed<i>`
  (example_id, reason) for each example whose output held NaN or Inf, when `record_failures`.
  """

  def __init__(self, model_name: str, device: str, shared: beam_shared.Shared, entries: list[tuple[str, str]],
               pooling: str, input_rate: int, record_failures: bool, store_dtype: str = "float32"):
    super().__init__()
    self.model_name, self.device, self.shared, self.entries = model_name, device, shared, entries
    self.store_dtype = store_dtype
    self.pooling, self.input_rate, self.record_failures = pooling, input_rate, record_failures
    self.layers = tuple(dict.fromkeys(layer for _, layer in entries))
    self.model = None
    splits = sorted({split for split, _ in entries})
    self.embedded = {s: beam.metrics.Metrics.counter(COUNTERS, f"{s}/embedded") for s in splits}
    self.failed = {s: beam.metrics.Metrics.counter(COUNTERS, f"{s}/failed") for s in splits}
    self.audio_ms = beam.metrics.Metrics.counter(COUNTERS, "audio_milliseconds")

  def setup(self):
    super().setup()
    from nossbench.embeddings import pooling  # pylint: disable=import-outside-toplevel

    self.model = load_model(self.model_name, self.device, self.shared)
    self.pool = pooling.pool
    self.started, self.last_report, self.done, self.failures, self.audio_s = time.time(), time.time(), 0, 0, 0.0

  def process(self, batch):
    ids = [example["example_id"].decode("utf-8") for _, example in batch]
    waveforms = [self._resample(to_float(example["audio"])) for _, example in batch]
    try:
      outputs = self.model.embed(waveforms, self.layers)
    except Exception as error:
      raise RuntimeError(f"{self.model_name} failed on a batch of {len(ids)} examples "
                         f"({', '.join(ids[:8])}{' ...' if len(ids) > 8 else ''}): {error}") from error
    failed = set()
    for i, (entry_split, layer) in enumerate(self.entries):
      records = []
      for (split, example), example_id, frames in zip(batch, ids, outputs[layer]):
        if split != entry_split:
          continue
        embedding = self.pool(frames, self.pooling)
        overflow = self.store_dtype == "float16" and np.all(np.isfinite(embedding)) and \
            not np.all(np.isfinite(embedding.astype(np.float16)))
        if overflow or not np.all(np.isfinite(embedding)):
          if not self.record_failures:
            raise NonFiniteEmbedding(
                f"{NON_FINITE}: model {self.model_name}, layer {layer}, example {example_id} ({split} "
                f"split){FLOAT16_OVERFLOW if overflow else ''}. {NON_FINITE_ADVICE}")
          failed.add((split, example_id))
          reason = f"{self.model_name} layer {layer} gave NaN or Inf"
          yield beam.pvalue.TaggedOutput(f"failed{i}", (example_id, reason))
          continue
        records.append((example_id, cache_format.serialize(example_id, embedding, **labels_of(example),
                                                    store_dtype=self.store_dtype)))
      if records:
        yield beam.pvalue.TaggedOutput(f"records{i}", records)
    for split, example in batch:
      if (split, example["example_id"].decode("utf-8")) not in failed:
        self.embedded[split].inc()
    for split, _ in failed:
      self.failed[split].inc()
    seconds = sum(len(w) for w in waveforms) / self.model.sample_rate
    self.audio_ms.inc(int(round(seconds * 1000)))
    self._progress(len(batch) - len(failed), len(failed), seconds)

  def _resample(self, waveform):
    if self.input_rate == self.model.sample_rate:
      return waveform
    import soxr  # pylint: disable=import-outside-toplevel

    return soxr.resample(waveform, self.input_rate, self.model.sample_rate, quality="VHQ").astype(np.float32)

  def _progress(self, done, failed, seconds):
    """Live progress of this worker on stderr (Beam's counters hold the totals)."""
    self.done, self.failures, self.audio_s = self.done + done, self.failures + failed, self.audio_s + seconds
    now = time.time()
    if now - self.last_report >= PROGRESS_EVERY_S:
      self.last_report = now
      print(f"progress: {self.done} examples embedded, {self.failures} failed, "
            f"{self.audio_s / (now - self.started):.3g} audio-s/s", file=sys.stderr, flush=True)


def labels_of(example) -> dict:
  """speaker_id and label (single-label tasks) or labels (multi-label tasks), as the dataset has them."""
  speaker = example.get("speaker_id", b"")
  found = {"speaker_id": speaker.decode("utf-8") if isinstance(speaker, bytes) else str(speaker)}
  if "label" in example:
    found["label"] = int(example["label"])
  if "labels" in example:
    found["labels"] = np.asarray(example["labels"]).ravel().tolist()
  return found


class WriteChunk(CacheWriter):
  """Makes a batch's records durable at once (see cache.py), then passes them on one by one."""

  def __init__(self, entry_dir: str, source: dict):
    super().__init__()
    self.entry_dir, self.source = entry_dir, source

  def process(self, records):
    if records:
      path = cache.chunk_path(self.entry_dir, self.source, [i for i, _ in records])
      cache.write_records(path, [r for _, r in records])
      cache.step("chunk-written")
    yield from records


def read_chunk(path: str):
  """A chunk's (example_id, record) pairs, all or none: a chunk that vanished since the run was planned
  (another run finished the entry) or cannot be read is skipped whole, so its examples are embedded again
  (SkipCached's side input is this same read)."""
  try:
    pairs = [(cache_format.example_id_of(record), record) for record in cache.read_records(path)]
  except Exception as error:  # pylint: disable=broad-except  # a work file: whatever is wrong, it is redone
    print(f"chunk {path} not used ({error}); its examples are embedded again", file=sys.stderr, flush=True)
    return
  yield from pairs


class WriteShard(CacheWriter):
  """Writes one final shard: its records sorted by example id, one per id."""

  def __init__(self, entry_dir: str, shards: int, frame_level: bool):
    super().__init__()
    self.entry_dir, self.shards, self.frame_level = entry_dir, shards, frame_level

  def process(self, indexed):
    index, records = indexed
    unique = {}
    for example_id, record in sorted(records):
      unique.setdefault(example_id, record)
    shapes = [cache_format.parse(record)["embedding"].shape for record in unique.values()]
    dims = {shape[1:] if self.frame_level else shape for shape in shapes}
    if len(dims) > 1:
      raise ValueError(f"{self.entry_dir}: embeddings of different dimensions {sorted(dims)} in one entry")
    name = cache.shard_name(index, self.shards)
    cache.write_records(cache.epath.Path(self.entry_dir) / name, unique.values())
    cache.step("shard-written")
    yield "shard", {"name": name, "examples": len(unique), "dims": list(dims.pop()),
                    "frames": sum(shape[0] for shape in shapes) if self.frame_level else None}


class Finalize(CacheWriter):
  """Checks that every example is either in a shard or listed as failed, then writes COMPLETE.json."""

  def __init__(self, key: cache.EntryKey, entry_dir: str, source: dict, details: dict):
    super().__init__()
    self.key, self.entry_dir, self.source, self.details = key, entry_dir, source, details
    self.expected = source["examples"]

  def process(self, items):
    shards = sorted((value for tag, value in items if tag == "shard"), key=lambda s: s["name"])
    failed = dict(sorted(value for tag, value in items if tag == "failed"))
    examples = sum(shard["examples"] for shard in shards)
    if examples + len(failed) != self.expected:
      raise RuntimeError(f"{self.entry_dir}: {examples} examples embedded and {len(failed)} failed, but the "
                         f"split has {self.expected}; not marking the entry complete")
    dims = {tuple(shard["dims"]) for shard in shards}
    if len(dims) > 1:
      raise ValueError(f"{self.entry_dir}: embeddings of different dimensions {sorted(dims)} in one entry")
    cache.write_completion(self.entry_dir, {
        "key": self.key.as_dict(), "source": self.source, "examples": examples, "expected": self.expected,
        "failed": [{"example_id": i, "reason": r} for i, r in failed.items()],
        "dims": list(dims.pop()) if dims else [],
        "frames": sum(s["frames"] for s in shards) if self.key.pooling == "none" else None,
        "shards": [{"name": s["name"], "examples": s["examples"]} for s in shards],
        **self.details,
    })
    cache.remove_work_files(self.entry_dir, [s["name"] for s in shards])
    yield self.entry_dir


def embed_entries(pipeline, builder, todo: dict, cache_root: str, sources: dict, chunks: dict,
                  settings: dict, details: dict):
  """Adds the transforms that complete the entries of `todo` ({split: [EntryKey, one per layer]}).

  sources: {split: the dataset build (see cache.py), with the split's example count}. chunks:
  {EntryKey: [chunk paths]} left by earlier runs. settings: model, device, shared (the model's Beam
  `Shared` handle), pooling, batch_size, max_padding, max_batch_seconds, examples_per_shard,
  record_failures, read_parallelism, input_rate (the dataset's sample rate), store_dtype.
  """
  keys = [key for split in sorted(todo) for key in todo[split]]
  earlier = {}
  for key in keys:
    if chunks.get(key):
      name = f"{key.split} {key.layer}"
      earlier[key] = (pipeline
                      | f"Chunks {name}" >> beam.Create(sorted(map(str, chunks[key])))
                      | f"ReadChunk {name}" >> beam.FlatMap(read_chunk))
  with_chunks = [key for key in keys if key in earlier]
  done = [beam.pvalue.AsDict(earlier[key] | f"Ids {key.split} {key.layer}" >> beam.Map(lambda kv: (kv[0], None)))
          for key in with_chunks]
  max_batch_samples = int(settings["max_batch_seconds"] * settings["input_rate"])
  embedded = (pipeline
              | "Read" >> read_splits(builder, sorted(todo), settings["read_parallelism"])
              | "SkipCached" >> beam.ParDo(SkipCached({split: len(todo[split]) for split in todo},
                                                     [key.split for key in with_chunks]), *done)
              | "Batch" >> beam.ParDo(batching.BatchBySimilarLength(
                  audio_length, settings["batch_size"], settings["max_padding"], max_batch_samples))
              | "Embed" >> beam.ParDo(EmbedBatch(
                  settings["model"], settings["device"], settings["shared"], [(k.split, k.layer) for k in keys],
                  settings["pooling"], settings["input_rate"], settings["record_failures"],
                  settings["store_dtype"])).with_outputs(
                      *[f"{tag}{i}" for i in range(len(keys)) for tag in ("records", "failed")]))
  for i, key in enumerate(keys):
    entry_dir, name, source = str(key.path(cache_root)), f"{key.split} {key.layer}", sources[key.split]
    shards = cache.num_shards(source["examples"], settings["examples_per_shard"])
    new = embedded[f"records{i}"] | f"WriteChunk {name}" >> beam.ParDo(WriteChunk(entry_dir, source))
    records = [new, earlier[key]] if key in earlier else [new]
    written = (records
               | f"AllRecords {name}" >> beam.Flatten()
               | f"AssignShard {name}" >> beam.Map(lambda kv, n=shards: (cache.shard_index(kv[0], n), kv))
               | f"GroupShard {name}" >> beam.GroupByKey()
               | f"WriteShard {name}" >> beam.ParDo(WriteShard(entry_dir, shards, settings["pooling"] == "none")))
    failed = embedded[f"failed{i}"] | f"Failed {name}" >> beam.Map(lambda failure: ("failed", failure))
    _ = ((written, failed)
         | f"Outcome {name}" >> beam.Flatten()
         | f"Collect {name}" >> beam.combiners.ToList()
         | f"Finalize {name}" >> beam.ParDo(Finalize(key, entry_dir, source, details)))


def audio_length(element) -> int:
  return len(element[1]["audio"])


def read_splits(builder, splits: list[str], parallelism: int):
  """Every example of `splits` as (split, numpy dict). One element of work per TFDS shard (or, with
  `parallelism` > 1, per 1/parallelism of a shard), as tfds.beam.ReadFromTFDS does, but all splits in
  one stream."""
  work = [(split, shard, part) for split in splits for shard in range(builder.info.splits[split].num_shards)
          for part in range(parallelism)]
  return beam.Create(work) | beam.FlatMap(read_shard, builder, parallelism)


# The features the pipeline uses; `read_shard` decodes only these.
USED_FEATURES = ("example_id", "audio", "speaker_id", "label", "labels")


def read_shard(work, builder, parallelism: int):
  """The examples of one shard (part `part` of `parallelism`). TFRecord shards are read record by record
  and decoded here (`decode_record`): TFDS's as_dataset gives the same examples, but its tf.data
  iterator costs ~1 ms per example, as much as a fast model on a 2.5 s clip (benchmarks/RESULTS.md)."""
  import tensorflow_datasets as tfds  # pylint: disable=import-outside-toplevel

  split, shard, part = work
  if builder.info.file_format == tfds.core.file_adapters.FileFormat.TFRECORD:
    path = builder.info.splits[split].filepaths[shard]
    specs = record_specs(builder.info.features)
    with path.open("rb") as stream:
      for index, payload in enumerate(cache_format.records(path, stream)):
        if index % parallelism == part:
          yield split, decode_record(payload, specs)
    return
  dataset = builder.as_dataset(split=f"{split}[{shard}shard]", shuffle_files=False)
  if parallelism > 1:
    dataset = dataset.shard(parallelism, part)
  for example in tfds.as_numpy(dataset):
    yield split, example


def record_specs(features) -> dict:
  """name -> (serialized dtype: bytes|int64|float, scalar?, numpy dtype of the decoded value) for each used
  feature. Audio stored as raw bytes (generation.Int16Audio) is a scalar of bytes decoded to its dtype."""
  specs = {}
  for name in USED_FEATURES:
    if name in features:
      info = features[name].get_serialized_info()
      dtype = getattr(info.dtype, "name", str(info.dtype))  # a TensorFlow or a numpy dtype
      kind = "bytes" if dtype in ("string", "object", "bytes") else "int64" if "int" in dtype else "float"
      specs[name] = (kind, info.shape == (), getattr(features[name], "np_dtype", None))
  return specs


def decode_record(payload: bytes, specs: dict) -> dict:
  """One tf.train.Example record as as_dataset would give its used features: bytes for text, class
  indices, the audio array in its own dtype."""
  from tensorflow_datasets.proto import tf_example_generated_pb2  # pylint: disable=import-outside-toplevel

  feature = tf_example_generated_pb2.Example.FromString(payload).features.feature
  example = {}
  for name, (kind, scalar, np_dtype) in specs.items():
    values = getattr(feature[name], f"{kind}_list").value
    if name == "audio":
      example[name] = np.frombuffer(values[0], np_dtype) if kind == "bytes" else np.asarray(values, np_dtype)
    elif scalar:
      example[name] = values[0]
    else:
      example[name] = np.asarray(values, np.int64 if kind == "int64" else np.float32)
  return example
