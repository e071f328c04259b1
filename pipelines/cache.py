"""The embedding cache: one entry per (model, fingerprint, layer, pooling, sample rate, task, split).

An entry is the folder `<root>/<model>/<fingerprint>/<layer>/<pooling>-<rate>hz/<benchmark>/<task>/<split>/`
(names made path-safe). A complete entry holds
`part-SSSSS-of-NNNNN.tfrecord` shards and `COMPLETE.json`, in the format `cache_format.py` owns (shared
with score-submission). The completion record holds the key, source (the dataset build), counts, dims,
failed examples, shards, parameters and model config; one whose key or source differs from the run's is
refused, not reused.

Resume, per example. Beam's file sinks make their files visible only when the whole pipeline succeeds,
so a killed run would lose all its work. Instead every embedded batch is made durable at once:
1. each batch's records go to `chunks-<source>/chunk-<sha256 of its ids>.tfrecord`, written under a
   hidden temporary name and then renamed, so a chunk is either absent or whole (a retried batch
   rewrites the same name); <source> hashes the dataset build (name, version, split, example and byte
   counts), so chunks of a dataset since rebuilt are never resumed from;
2. a run reads the chunks already there and skips the examples present in every requested layer's
   chunks (reported as `cached`), embedding only the rest;
3. once every example is embedded, old and new chunk records are regrouped into the shards: example
   `e` goes to shard `sha256(e) mod N`, N = ceil(examples / examples_per_shard), sorted by id, one
   record per id; each shard is written under a temporary name, then renamed;
4. COMPLETE.json is written (temporary name, then rename) and only then are the chunks and stray files
   removed.
A run killed at any instant therefore leaves one of: chunks (some possibly as hidden temporary files),
chunks and some final shards, or a COMPLETE.json with leftover work files. The next run resumes from the
first two (a chunk that cannot be read, or has vanished meanwhile, is embedded again, never half-used)
and, for the third, reuses the entry and removes the leftovers. `step` names each boundary of this
protocol; fault-injection tests stop a run at every one of them (see `step`).
So which records sit in which shard, in which order, depends on the example ids and examples_per_shard
only: not on where a run was interrupted, on the batches, or on the number of workers. The values are
what the model gives for each clip: a model whose kernels round differently for different batch shapes
(TensorFlow's, by ~1e-7 for `logmel`) gives float values equal up to that rounding.
"""

import dataclasses
import hashlib
import json
import os
import re
import signal
import uuid
from collections.abc import Iterable, Iterator

import numpy as np
from etils import epath

from nossbench import UserError
from nossbench.pipelines import cache_format

COMPLETE = cache_format.COMPLETE
CHUNKS = "chunks"
TEMPORARY_PREFIX = ".tmp-"
STOP_AT = "NOSSBENCH_STOP_AT"
_steps_reached: dict[str, int] = {}


def step(name: str) -> None:
  """A named boundary of the write protocol (record-written, chunk-written, shard-written,
  completion-temporary, completion-written, work-file-removed). Fault injection: with
  $NOSSBENCH_STOP_AT=<name>[:<n>] the process kills itself with SIGKILL the n-th time (default: first)
  it reaches that boundary, leaving the cache exactly as a crash or a pre-empted machine would."""
  wanted = os.environ.get(STOP_AT)
  if not wanted:
    return
  target, _, count = wanted.partition(":")
  if target == name:
    _steps_reached[name] = _steps_reached.get(name, 0) + 1
    if _steps_reached[name] == int(count or 1):
      os.kill(os.getpid(), signal.SIGKILL)


def path_component(text: str) -> str:
  """A folder name for any model or layer name (e.g. `onnx:/models/x.onnx`); the fingerprint beside it
  tells apart names that map to the same folder."""
  return re.sub(r"[^A-Za-z0-9._=-]", "_", text)


@dataclasses.dataclass(frozen=True)
class EntryKey:
  model: str
  fingerprint: str
  layer: str
  pooling: str
  sample_rate: int
  task: str
  split: str
  store_dtype: str = "float32"  # float16 entries are other entries: `<pooling>-float16-<rate>hz`

  def path(self, root) -> epath.Path:
    dtype = "" if self.store_dtype == "float32" else f"-{self.store_dtype}"
    return epath.Path(root).joinpath(
        path_component(self.model), self.fingerprint, path_component(self.layer),
        f"{path_component(self.pooling.replace('+', '_'))}{dtype}-{self.sample_rate}hz",
        *self.task.split("/"), self.split)

  def as_dict(self) -> dict:
    """As COMPLETE.json records it; float32 entries keep the key they had before store_dtype existed."""
    key = dataclasses.asdict(self)
    if self.store_dtype == "float32":
      del key["store_dtype"]
    return key


def any_completion(root, model: str, pooling: str, task: str, split: str) -> bool:
  """Whether some entry of this model, pooling, task and split (any fingerprint, layer or rate) is
  complete: a check that needs no model."""
  pattern = "/".join([path_component(model), "*", "*", f"{path_component(pooling.replace('+', '_'))}-*hz",
                      task, split, COMPLETE])
  return next(iter(epath.Path(root).glob(pattern)), None) is not None


# --- files: every file appears whole or not at all -------------------------------------------------

def write_records(path: epath.Path, records: Iterable[bytes]) -> None:
  """Writes a TFRecord file under a hidden temporary name in the same folder, then renames it.

  Framed here (cache_format.frame), not by tf.io.TFRecordWriter, so that the file goes through epath
  like every other cache file: TensorFlow's GCS client cannot be pointed at an emulator.
  """
  path = epath.Path(path)
  path.parent.mkdir(parents=True, exist_ok=True)
  temporary = path.parent / f"{TEMPORARY_PREFIX}{uuid.uuid4().hex}-{path.name}"
  with temporary.open("wb") as stream:
    for record in records:
      stream.write(cache_format.frame(record))
      step("record-written")
  temporary.replace(path)


def read_records(path: epath.Path) -> Iterator[bytes]:
  """The records of one TFRecord file, checksums verified, without TensorFlow."""
  path = epath.Path(path)
  with path.open("rb") as stream:
    yield from cache_format.records(path, stream)


def source_digest(source: dict) -> str:
  return hashlib.sha256(json.dumps(source, sort_keys=True).encode("utf-8")).hexdigest()[:16]


def chunks_dir(entry_dir: epath.Path, source: dict) -> epath.Path:
  """Chunks of one dataset build: those of a dataset since rebuilt or changed are never resumed from."""
  return epath.Path(entry_dir) / f"{CHUNKS}-{source_digest(source)}"


def chunk_path(entry_dir: epath.Path, source: dict, example_ids: Iterable[str]) -> epath.Path:
  digest = hashlib.sha256("\n".join(sorted(example_ids)).encode("utf-8")).hexdigest()[:24]
  return chunks_dir(entry_dir, source) / f"chunk-{digest}.tfrecord"


def list_chunks(entry_dir: epath.Path, source: dict) -> list[epath.Path]:
  """Whole chunks of an unfinished entry (temporary files are hidden names and never match)."""
  chunks = chunks_dir(entry_dir, source)
  return sorted(chunks.glob("chunk-*.tfrecord")) if chunks.exists() else []


def num_shards(num_examples: int, examples_per_shard: int) -> int:
  return max(1, -(-num_examples // examples_per_shard))


def shard_index(example_id: str, shards: int) -> int:
  return int.from_bytes(hashlib.sha256(example_id.encode("utf-8")).digest()[:8], "big") % shards


def shard_name(index: int, shards: int) -> str:
  return f"part-{index:05d}-of-{shards:05d}.tfrecord"


# --- completion record ------------------------------------------------------------------------------

def read_completion(entry_dir: epath.Path, key: EntryKey | None = None, source: dict | None = None) -> dict | None:
  """The entry's COMPLETE.json, or None while it is incomplete. A record written for another `key` (say,
  another model fingerprint in a copied folder) or another `source` (the dataset since rebuilt or changed)
  is refused rather than reused."""
  record = cache_format.load_completion(entry_dir)
  if record is None:
    return None
  path = epath.Path(entry_dir) / COMPLETE
  if key is not None and record.get("key") != key.as_dict():
    raise UserError(
        f"{path} was written for {record.get('key')}, not for {key.as_dict()} (a different model "
        "fingerprint or setting): it will not be reused. Delete that folder and run again.")
  if source is not None and record.get("source") != source:
    raise UserError(
        f"{path} was computed from {record.get('source')}, but the dataset is now {source} (rebuilt or "
        "changed since): it will not be reused. Delete that folder, or choose another --cache, and run again.")
  return record


def write_completion(entry_dir: epath.Path, record: dict) -> None:
  entry_dir = epath.Path(entry_dir)
  temporary = entry_dir / f"{TEMPORARY_PREFIX}{uuid.uuid4().hex}-{COMPLETE}"
  temporary.write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")
  step("completion-temporary")
  temporary.replace(entry_dir / COMPLETE)
  step("completion-written")


def remove_work_files(entry_dir: epath.Path, shards: Iterable[str]) -> None:
  """After COMPLETE.json: removes the chunks, temporary files and shards the record does not list."""
  entry_dir = epath.Path(entry_dir)
  keep = set(shards) | {COMPLETE}
  for path in entry_dir.iterdir():
    if path.name.startswith(CHUNKS):
      for chunk in path.iterdir():
        chunk.unlink(missing_ok=True)
        step("work-file-removed")
      if path.exists():  # on an object store (gs://) the folder is gone with its last object
        path.rmtree()
    elif path.name not in keep and (path.name.startswith(TEMPORARY_PREFIX) or path.name.startswith("part-")):
      path.unlink()
      step("work-file-removed")


# --- reading a complete entry -----------------------------------------------------------------------

def read_entry_records(entry_dir: epath.Path) -> list[dict]:
  """Every record of a complete entry (see `parse`), sorted by example id."""
  entry_dir = epath.Path(entry_dir)
  record = read_completion(entry_dir)
  if record is None:
    raise UserError(f"{entry_dir} is not a complete cache entry (no {COMPLETE}): run compute-embeddings "
                    "for it first; an interrupted run resumes where it stopped.")
  parsed = [cache_format.parse(r) for name in cache_format.shard_names(record)
            for r in read_records(entry_dir / name)]
  return sorted(parsed, key=lambda r: r["example_id"])


def read_entry(entry_dir: epath.Path) -> tuple[list[str], np.ndarray]:
  """Returns (example ids, embeddings [N, D]) of a complete pooled entry, sorted by example id."""
  records = read_entry_records(entry_dir)
  if any(r["embedding"].ndim != 1 for r in records):
    raise UserError(f"{entry_dir} holds frame-level embeddings (pooling none): read them with "
                    "read_entry_records, or compute the entry with --pooling mean.")
  dims = records[0]["embedding"].shape[0] if records else 0
  embeddings = np.stack([r["embedding"] for r in records]) if records else np.zeros((0, dims), np.float32)
  return [r["example_id"] for r in records], embeddings
