"""The Beam transforms of `compute-embeddings`: one DoFn per step, and `embed_entries`, which chains them.

All splits with entries to complete flow as one stream, so that batches fill across splits, and every
entry (split, layer) flows through the same steps, its elements keyed by the entry's index: the graph has
the same steps for one entry or a hundred (a branch per entry made 39 of them for 13 layers x 3 splits,
each adding its own steps to build, translate and start).

    ReadSplits -> [SkipCached] -> BatchBySimilarLength -> EmbedBatch -> WriteChunk ─┐
    chunks of earlier runs -> ReadChunk ───────────────────────────────────────────┴─ Flatten
      -> keyed by (entry, sha256(example_id) mod shards) -> GroupByKey -> WriteShard ─┐
    EmbedBatch's failures, one marker per entry ────────────────────────────────────┴─ Flatten
      -> GroupByKey by entry -> Finalize

([SkipCached] and the chunk reading only when earlier runs left chunks.) See pipelines/cache.py for why
batches go to chunks first and how the final shards are laid out.
"""

import collections
import concurrent.futures
import dataclasses
import os
import signal
import socket
import sys
import threading
import time
from pathlib import Path

import apache_beam as beam
import numpy as np
from apache_beam.transforms import window
from apache_beam.utils import shared as beam_shared

from nossbench.pipelines import batching, cache, cache_format

COUNTERS = "nossbench"
PROGRESS_EVERY_S = 30.0
# The progress bar of a run in the command's own process (DirectRunner in memory, whose DoFns see this
# module): compute-embeddings sets it around the run. Worker processes of other runners leave it None.
BAR = None


def progress(examples: int) -> None:
  if BAR is not None:
    BAR.update(examples)


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
    # one pass; the scale is a power of two, so the values are those of a cast then a division
    return np.multiply(audio, np.float32(1.0 / (np.iinfo(audio.dtype).max + 1)), dtype=np.float32)
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

  entries: {split: [index of each of its entries to complete]}; chunked: the indices of entries that
  have chunks. Side input (only when some have): {(entry index, example_id): None} for every chunk record.
  """

  def __init__(self, entries: dict[str, list[int]], chunked: set[int]):
    self.entries, self.chunked = entries, chunked
    self.cached = {split: beam.metrics.Metrics.counter(COUNTERS, f"{split}/cached") for split in entries}

  def process(self, element, done=None):
    split, example = element
    indices = self.entries[split]
    if done is not None and all(i in self.chunked for i in indices):
      example_id = example["example_id"].decode("utf-8")
      if all((i, example_id) in done for i in indices):
        self.cached[split].inc()
        progress(1)
        return
    yield element


class EmbedBatch(CacheWriter):
  """Runs the model once per batch for all layers, pools, checks the output is finite, serializes.

  A batch holds (split, example) pairs, possibly of several splits. `entries` lists the (split, layer)
  pairs to emit: per batch, the main output gets (i, [(example_id, record)]) for each entry i with
  records, and tag `failed` (i, (example_id, reason)) for each example whose output held NaN or Inf,
  when `record_failures`.

  The model runs in a thread of its own, one batch at a time, while this thread prepares the next batch
  (reading, decoding, batching, resampling upstream) and pools, checks, serializes and writes the previous
  one: a batch's outputs leave when the next batch arrives, or at the end of the bundle. Models whose
  kernels release the GIL (TensorFlow, torch, ONNX Runtime) thus overlap with the pipeline's own work.
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
    self.runner = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="model")
    self.pending = collections.deque()

  def start_bundle(self):
    self.pending = collections.deque()  # [(batch, ids, waveforms, the model call's future)]

  def process(self, batch):
    ids = [example["example_id"].decode("utf-8") for _, example in batch]
    waveforms = [self._resample(to_float(example["audio"])) for _, example in batch]
    self.pending.append((batch, ids, waveforms, self.runner.submit(self.model.embed, waveforms, self.layers)))
    while len(self.pending) > 1:
      yield from self._outputs(*self.pending.popleft())

  def finish_bundle(self):
    while self.pending:
      for output in self._outputs(*self.pending.popleft()):
        if isinstance(output, beam.pvalue.TaggedOutput):
          yield beam.pvalue.TaggedOutput(output.tag, window.GlobalWindows.windowed_value(output.value))
        else:
          yield window.GlobalWindows.windowed_value(output)

  def teardown(self):
    if getattr(self, "runner", None) is not None:
      self.runner.shutdown(wait=True, cancel_futures=True)

  def _outputs(self, batch, ids, waveforms, call):
    """The records (and failures) of a batch whose model call was submitted."""
    try:
      outputs = call.result()
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
          yield beam.pvalue.TaggedOutput("failed", (i, (example_id, reason)))
          continue
        records.append((example_id, cache_format.serialize(example_id, embedding, **labels_of(example),
                                                    store_dtype=self.store_dtype)))
      if records:
        yield i, records
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
    """Live progress: the bar of a run in the command's own process, else a line of this worker's on
    stderr every PROGRESS_EVERY_S (Beam's counters hold the totals)."""
    self.done, self.failures, self.audio_s = self.done + done, self.failures + failed, self.audio_s + seconds
    if BAR is not None:
      progress(done + failed)
      return
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


@dataclasses.dataclass(frozen=True)
class Entry:
  """One cache entry to complete, as the steps after the model address it (by its index in a list)."""
  key: cache.EntryKey
  folder: str
  source: dict  # the dataset build (see cache.py), with the split's example count
  shards: int


class WriteChunk(CacheWriter):
  """Makes a batch's records of one entry durable at once (see cache.py), then passes them on grouped by
  final shard: ((entry index, shard index), [(example_id, record)])."""

  def __init__(self, entries: list[Entry]):
    super().__init__()
    self.entries = entries

  def process(self, indexed):
    i, records = indexed
    entry = self.entries[i]
    path = cache.chunk_path(entry.folder, entry.source, [example_id for example_id, _ in records])
    cache.write_records(path, [record for _, record in records])
    cache.step("chunk-written")
    yield from by_shard(i, entry.shards, records)


def by_shard(i: int, shards: int, records) -> list:
  """((i, shard index), [(example_id, record)]) per final shard the records fall in: the records travel
  to the shard writers a chunk's worth at a time, not one by one."""
  grouped = {}
  for example_id, record in records:
    grouped.setdefault(cache.shard_index(example_id, shards), []).append((example_id, record))
  return [((i, index), pairs) for index, pairs in sorted(grouped.items())]


def read_chunk(indexed: tuple[int, str], entries: list[Entry]):
  """A chunk's records grouped by final shard (as WriteChunk passes them on), all or none: a chunk that
  vanished since the run was planned (another run finished the entry) or cannot be read is skipped whole,
  so its examples are embedded again (SkipCached's side input is this same read)."""
  i, path = indexed
  try:
    pairs = [(cache_format.example_id_of(record), record) for record in cache.read_records(path)]
  except Exception as error:  # pylint: disable=broad-except  # a work file: whatever is wrong, it is redone
    print(f"chunk {path} not used ({error}); its examples are embedded again", file=sys.stderr, flush=True)
    return
  yield from by_shard(i, entries[i].shards, pairs)


class WriteShard(CacheWriter):
  """Writes one final shard of one entry: its records sorted by example id, one per id."""

  def __init__(self, entries: list[Entry], frame_level: bool):
    super().__init__()
    self.entries, self.frame_level = entries, frame_level

  def process(self, grouped):
    (i, index), groups = grouped
    entry = self.entries[i]
    unique = {}
    for example_id, record in sorted(pair for pairs in groups for pair in pairs):
      unique.setdefault(example_id, record)
    shapes = [cache_format.parse(record)["embedding"].shape for record in unique.values()]
    dims = {shape[1:] if self.frame_level else shape for shape in shapes}
    if len(dims) > 1:
      raise ValueError(f"{entry.folder}: embeddings of different dimensions {sorted(dims)} in one entry")
    name = cache.shard_name(index, entry.shards)
    cache.write_records(cache.epath.Path(entry.folder) / name, unique.values())
    cache.step("shard-written")
    yield i, ("shard", {"name": name, "examples": len(unique), "dims": list(dims.pop()),
                        "frames": sum(shape[0] for shape in shapes) if self.frame_level else None})


class Finalize(CacheWriter):
  """Checks that every example of an entry is either in a shard or listed as failed, then writes its
  COMPLETE.json. Gets (entry index, [("entry", None), ("shard", info)..., ("failed", (id, reason))...]):
  the marker makes an entry of an empty split complete too."""

  def __init__(self, entries: list[Entry], details: dict):
    super().__init__()
    self.entries, self.details = entries, details

  def process(self, grouped):
    i, items = grouped
    entry, expected = self.entries[i], self.entries[i].source["examples"]
    shards = sorted((value for tag, value in items if tag == "shard"), key=lambda s: s["name"])
    failed = dict(sorted(value for tag, value in items if tag == "failed"))
    examples = sum(shard["examples"] for shard in shards)
    if examples + len(failed) != expected:
      raise RuntimeError(f"{entry.folder}: {examples} examples embedded and {len(failed)} failed, but the "
                         f"split has {expected}; not marking the entry complete")
    dims = {tuple(shard["dims"]) for shard in shards}
    if len(dims) > 1:
      raise ValueError(f"{entry.folder}: embeddings of different dimensions {sorted(dims)} in one entry")
    cache.write_completion(entry.folder, {
        "key": entry.key.as_dict(), "source": entry.source, "examples": examples, "expected": expected,
        "failed": [{"example_id": example_id, "reason": r} for example_id, r in failed.items()],
        "dims": list(dims.pop()) if dims else [],
        "frames": sum(s["frames"] for s in shards) if entry.key.pooling == "none" else None,
        "shards": [{"name": s["name"], "examples": s["examples"]} for s in shards],
        **self.details,
    })
    cache.remove_work_files(entry.folder, [s["name"] for s in shards])
    yield entry.folder


def embed_entries(pipeline, builder, todo: dict, cache_root: str, sources: dict, chunks: dict,
                  settings: dict, details: dict):
  """Adds the transforms that complete the entries of `todo` ({split: [EntryKey, one per layer]}).

  sources: {split: the dataset build (see cache.py), with the split's example count}. chunks:
  {EntryKey: [chunk paths]} left by earlier runs. settings: model, device, shared (the model's Beam
  `Shared` handle), pooling, batch_size, max_padding, max_batch_seconds, examples_per_shard,
  record_failures, read_parallelism, input_rate (the dataset's sample rate), store_dtype.
  """
  keys = [key for split in sorted(todo) for key in todo[split]]
  entries = [Entry(key, str(key.path(cache_root)), sources[key.split],
                   cache.num_shards(sources[key.split]["examples"], settings["examples_per_shard"])) for key in keys]
  chunk_files = [(i, str(path)) for i, key in enumerate(keys) for path in sorted(map(str, chunks.get(key, [])))]
  earlier, done = [], []  # a first run has no chunks, and no steps for them
  if chunk_files:
    earlier = [pipeline
               | "Chunks" >> beam.Create(chunk_files)
               | "ReadChunk" >> beam.FlatMap(read_chunk, entries)]
    done = [beam.pvalue.AsDict(earlier[0] | "ChunkIds" >> beam.FlatMap(
        lambda item: [((item[0][0], example_id), None) for example_id, _ in item[1]]))]
  per_split = {split: [i for i, key in enumerate(keys) if key.split == split] for split in todo}
  max_batch_samples = int(settings["max_batch_seconds"] * settings["input_rate"])
  examples = pipeline | "Read" >> read_splits(builder, sorted(todo), settings["read_parallelism"])
  if chunk_files:  # a first run has nothing to skip
    examples = examples | "SkipCached" >> beam.ParDo(SkipCached(per_split, {i for i, _ in chunk_files}), *done)
  embedded = (examples
              | "Batch" >> beam.ParDo(batching.BatchBySimilarLength(
                  audio_length, settings["batch_size"], settings["max_padding"], max_batch_samples))
              | "Embed" >> beam.ParDo(EmbedBatch(
                  settings["model"], settings["device"], settings["shared"], [(k.split, k.layer) for k in keys],
                  settings["pooling"], settings["input_rate"], settings["record_failures"],
                  settings["store_dtype"])).with_outputs("failed", main="records"))
  new = embedded.records | "WriteChunk" >> beam.ParDo(WriteChunk(entries))
  shards = ((new, *earlier)
            | "AllRecords" >> beam.Flatten()
            | "GroupShard" >> beam.GroupByKey()
            | "WriteShard" >> beam.ParDo(WriteShard(entries, settings["pooling"] == "none")))
  failed = embedded.failed | "Failed" >> beam.Map(lambda item: (item[0], ("failed", item[1])))
  markers = pipeline | "Entries" >> beam.Create([(i, ("entry", None)) for i in range(len(entries))], reshuffle=False)
  _ = ((markers, shards, failed)
       | "Outcomes" >> beam.Flatten()
       | "GroupEntry" >> beam.GroupByKey()
       | "Finalize" >> beam.ParDo(Finalize(entries, details)))


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
      kind = np.dtype(info.np_dtype).kind  # text is numpy's object dtype
      kind = "bytes" if kind in "OSU" else "int64" if kind in "iub" else "float"
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
