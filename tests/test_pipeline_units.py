"""The pipeline's parts on their own: length batching in a real Beam pipeline, the cache's files, export."""

import collections

import apache_beam as beam
import numpy as np
import pyarrow.parquet as pq
import pytest
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from nossbench import UserError
from nossbench.pipelines import batching, cache, cache_format, export, transforms


def test_batches_hold_clips_of_similar_length_and_every_clip_once():
  lengths = [int(x) for x in np.random.default_rng(0).integers(800, 400_000, 300)] + [2_000_000]
  batch_size, max_padding, max_samples = 8, 0.25, 1_000_000

  def check(batches):
    seen = collections.Counter(n for batch in batches for n in batch)
    assert seen == collections.Counter(lengths)
    for batch in batches:
      assert 1 <= len(batch) <= batch_size
      assert max(batch) < (1 + max_padding) * min(batch)
      assert len(batch) == 1 or max(batch) * len(batch) <= max_samples  # the 2M-sample clip goes alone
    padded = sum(max(batch) * len(batch) for batch in batches)
    assert padded < (1 + max_padding) * sum(lengths)

  with TestPipeline() as pipeline:
    batches = (pipeline
               | beam.Create(lengths)
               | beam.ParDo(batching.BatchBySimilarLength(lambda n: n, batch_size, max_padding, max_samples)))
    assert_that(batches, check)


def test_batches_pad_little_and_fill_up():
  """Clips of CREMA-D's spread of lengths in arrival order: batches come out (nearly) as full and as little
  padded as sorting the whole corpus would give, although only a window of clips is held at a time."""
  lengths = [int(x) for x in np.random.default_rng(1).uniform(1.5, 3.5, 3000) * 16000]
  batcher = batching.BatchBySimilarLength(lambda n: n, 32, 0.25, 600 * 16000)
  batcher.start_bundle()
  batches, held = [], 0
  for n in lengths:
    batches += batcher.process(n)
    held = max(held, len(batcher.held))
  batches += [value.value for value in batcher.finish_bundle()]
  assert sorted(n for batch in batches for n in batch) == sorted(lengths)
  assert held < batching.WINDOW_BATCHES * 32  # never more than a window in memory
  assert len(batches) <= -(-len(lengths) // 32) + 2
  padded = sum(max(batch) * len(batch) for batch in batches)
  assert padded < 1.05 * sum(lengths)  # length ranges of 1.25x (bucketing) pad ~10%


def test_records_and_files_are_whole_or_absent(tmp_path):
  entry, source = tmp_path / "entry", {"dataset": "noss/crema_d/1.1.0", "split": "test", "examples": 5}
  records = [cache_format.serialize(f"id{i}", np.full(3, i, np.float32), "spk", label=i) for i in range(5)]
  path = cache.chunk_path(entry, source, [f"id{i}" for i in range(5)])
  assert path == cache.chunk_path(entry, source, [f"id{i}" for i in reversed(range(5))])  # named by its ids
  cache.write_records(path, records)
  (path.parent / f"{cache.TEMPORARY_PREFIX}1234-chunk-x.tfrecord").write_bytes(b"half a write")
  assert cache.list_chunks(entry, source) == [path]
  assert cache.list_chunks(entry, {**source, "examples": 6}) == []  # chunks of another dataset build
  parsed = [cache_format.parse(r) for r in cache.read_records(path)]
  assert [p["example_id"] for p in parsed] == [f"id{i}" for i in range(5)]
  assert parsed[2]["label"] == 2 and parsed[2]["speaker_id"] == "spk" and "labels" not in parsed[2]
  np.testing.assert_array_equal(parsed[2]["embedding"], [2, 2, 2])

  multi = cache_format.parse(cache_format.serialize("clip", np.zeros((4, 2)), labels=[3, 17]))
  assert multi["labels"].tolist() == [3, 17] and "label" not in multi and multi["embedding"].shape == (4, 2)

  with pytest.raises(UserError, match="not a complete cache entry"):
    cache.read_entry_records(entry)
  cache.write_records(entry / cache.shard_name(0, 1), records)
  cache.write_completion(entry, {"shards": [{"name": cache.shard_name(0, 1), "examples": 5}]})
  cache.remove_work_files(entry, [cache.shard_name(0, 1)])
  assert sorted(p.name for p in entry.iterdir()) == [cache.COMPLETE, "part-00000-of-00001.tfrecord"]
  ids, vectors = cache.read_entry(entry)
  assert ids == [f"id{i}" for i in range(5)] and vectors.shape == (5, 3)


def test_shards_depend_only_on_ids():
  ids = [f"{actor}_IEO_ANG_XX" for actor in range(1001, 1092)]
  shards = [cache.shard_index(i, 4) for i in ids]
  assert shards == [cache.shard_index(i, 4) for i in ids] and set(shards) == {0, 1, 2, 3}
  assert cache.num_shards(8192, 4096) == 2 and cache.num_shards(8193, 4096) == 3 and cache.num_shards(0, 10) == 1


def write_frame_entry(root, split, clips):
  key = cache.EntryKey("m", "f" * 16, "layer", "none", 16000, "noss/crema_d", split)
  entry = key.path(root)
  cache.write_records(entry / cache.shard_name(0, 1),
                      [cache_format.serialize(i, frames, label=0) for i, frames in sorted(clips.items())])
  cache.write_completion(entry, {"key": key.as_dict(), "shards": [{"name": cache.shard_name(0, 1)}]})
  return key


def test_frame_level_export_keeps_every_frame(tmp_path):
  rng = np.random.default_rng(1)
  clips = {"b": rng.normal(size=(3, 2)).astype(np.float32), "a": rng.normal(size=(5, 2)).astype(np.float32),
           "c": rng.normal(size=(1, 2)).astype(np.float32)}
  keys = [write_frame_entry(tmp_path, "train", {k: clips[k] for k in "ab"}),
          write_frame_entry(tmp_path, "test", {"c": clips["c"]})]
  assert export.write(keys, tmp_path, tmp_path / "frames.npz") == 3
  with np.load(tmp_path / "frames.npz", allow_pickle=False) as npz:
    assert npz["example_id"].tolist() == ["a", "b", "c"] and npz["num_frames"].tolist() == [5, 3, 1]
    np.testing.assert_array_equal(npz["embedding"], np.concatenate([clips["a"], clips["b"], clips["c"]]))
  export.write(keys, tmp_path, tmp_path / "frames.parquet")
  table = pq.read_table(tmp_path / "frames.parquet").to_pydict()
  assert table["example_id"] == ["a", "b", "c"]
  for name, frames in zip(table["example_id"], table["embedding"]):
    np.testing.assert_array_equal(np.array(frames, np.float32), clips[name])

  with pytest.raises(UserError, match="more than one"):
    export.write(keys + keys[:1], tmp_path, tmp_path / "twice.npz")


def test_multi_label_examples_keep_their_labels():
  example = {"example_id": b"clip", "audio": np.zeros(10, np.int16), "labels": np.array([4, 0, 9]),
             "speaker_id": b""}
  record = cache_format.parse(cache_format.serialize("clip", np.ones(2), **transforms.labels_of(example)))
  assert record["labels"].tolist() == [4, 0, 9] and "label" not in record and record["speaker_id"] == ""


def test_an_example_is_skipped_only_when_every_layer_of_its_split_has_it():
  examples = [(split, {"example_id": name.encode()}) for split in ("train", "test") for name in "abc"]
  # entries 0, 1: train's two layers; 2, 3: test's. Chunk records: train layer 1 has a and b, train layer 2
  # b and c; test layer 1 has a, and test layer 2 has no chunks at all.
  chunk_ids = [(0, "a"), (0, "b"), (1, "b"), (1, "c"), (2, "a")]
  with TestPipeline() as pipeline:
    done = pipeline | "Done" >> beam.Create([(pair, None) for pair in chunk_ids])
    kept = (pipeline
            | beam.Create(examples)
            | beam.ParDo(transforms.SkipCached({"train": [0, 1], "test": [2, 3]}, {0, 1, 2}),
                         beam.pvalue.AsDict(done))
            | beam.Map(lambda e: (e[0], e[1]["example_id"].decode())))
    assert_that(kept, equal_to([("train", "a"), ("train", "c"), ("test", "a"), ("test", "b"), ("test", "c")]))


def test_a_completion_is_found_without_the_model_fingerprint(tmp_path):
  key = cache.EntryKey("onnx:/models/x.onnx", "0123abcd", "layer/1", "mean+std", 16000, "noss/crema_d", "test")
  key.path(tmp_path).mkdir(parents=True)
  assert not cache.any_completion(tmp_path, key.model, key.pooling, key.task, "test")  # no COMPLETE.json yet
  cache.write_completion(key.path(tmp_path), {"key": key.as_dict()})
  assert cache.any_completion(tmp_path, key.model, key.pooling, key.task, "test")
  assert not cache.any_completion(tmp_path, key.model, key.pooling, key.task, "train")
  assert not cache.any_completion(tmp_path, key.model, "mean", key.task, "test")


def test_export_streams_rows_in_id_order_across_shards_and_refuses_mixed_sizes(tmp_path):
  """Rows come out sorted by id however the ids fall into shards, equal to the entry read whole; entries
  of different sizes (two layers, say) are refused, naming the sizes."""
  key = cache.EntryKey("m", "f" * 16, "layer", "mean", 16000, "noss/crema_d", "train")
  ids = [f"clip{i:03d}" for i in range(40)]
  vectors = {i: np.full(3, n, np.float32) for n, i in enumerate(ids)}
  for shard in range(3):
    cache.write_records(key.path(tmp_path) / cache.shard_name(shard, 3),
                        [cache_format.serialize(i, vectors[i]) for i in ids if cache.shard_index(i, 3) == shard])
  cache.write_completion(key.path(tmp_path), {"key": key.as_dict(),
                                              "shards": [{"name": cache.shard_name(s, 3)} for s in range(3)]})
  assert export.write([key], tmp_path, tmp_path / "all.npz") == 40
  with np.load(tmp_path / "all.npz", allow_pickle=False) as npz:
    assert npz["example_id"].tolist() == ids
    np.testing.assert_array_equal(npz["embedding"], np.stack([vectors[i] for i in ids]))
  wide = write_frame_entry(tmp_path, "test", {"zz": np.zeros((2, 5), np.float32)})
  with pytest.raises(UserError, match=r"2 different sizes \(\[3, 5\]\)"):
    export.write([key, wide], tmp_path, tmp_path / "mixed.npz")
  assert not (tmp_path / "mixed.npz").exists()
