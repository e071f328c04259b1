"""Submission formats (.npz, .parquet, TFRecord cache entries) and their validation, end to end."""

import json
import subprocess
import sys
import zipfile

import numpy as np
import pandas as pd
import pytest

import scoring_helpers as helpers
from nossbench.pipelines import cache, cache_format
from nossbench.scoring import cli, submission

TASK = "noss/crema_d"


@pytest.fixture
def task(tmp_path):
  return helpers.small_task(tmp_path, TASK)


run = helpers.score


def report(tmp_path):
  return json.loads((tmp_path / "out/report.json").read_text())


def test_frame_level_npz_is_mean_pooled(tmp_path, task):
  splits, rows, x = task
  frames = np.stack([x + 1, x - 1, x], axis=1)  # [N, 3 frames, D], mean = x
  np.savez(tmp_path / "frames.npz", example_id=rows["example_id"].to_numpy().astype(str), embedding=frames)
  raw = submission.read([tmp_path / "frames.npz"])
  assert np.allclose(submission.validate("frames.npz", raw, rows), x, atol=1e-6)
  assert any("mean-pooled" in note for note in raw.notes)


def test_forged_npz_header_is_refused_before_allocating(tmp_path, task):
  splits, rows, x = task
  path = tmp_path / "forged.npz"
  np.savez(path, example_id=rows["example_id"].to_numpy().astype(str), embedding=x)
  with zipfile.ZipFile(path) as archive:
    members = {name: archive.read(name) for name in archive.namelist()}
  # Claim 10^9 rows in the header while keeping the 120 rows of data.
  members["embedding.npy"] = members["embedding.npy"].replace(b"(120, 8)", b"(1000000000, 8)", 1)
  with zipfile.ZipFile(path, "w") as archive:
    for name, data in members.items():
      archive.writestr(name, data)
  with pytest.raises(submission.InvalidSubmission, match=r"declares shape \(1000000000, 8\).*truncated or forged"):
    submission.read([path])


def test_compressed_npz_is_checked_on_its_unpacked_size(tmp_path, task, capsys):
  splits, rows, _ = task
  np.savez_compressed(tmp_path / "noise.npz", example_id=rows["example_id"].to_numpy().astype(str),
                      embedding=np.random.RandomState(0).randn(120, 10000).astype(np.float32))  # 4.8 MB unpacked
  assert run(tmp_path, splits, tmp_path / "noise.npz", extra=["--max-bytes", "1000000"]) == 2
  assert "GiB unpacked, over the" in capsys.readouterr().err


def test_parquet_vectors_and_frames(tmp_path, task):
  splits, rows, x = task
  ids = rows["example_id"].tolist()
  pd.DataFrame({"example_id": ids, "embedding": list(x)}).to_parquet(tmp_path / "v.parquet")
  assert np.array_equal(submission.validate("v", submission.read([tmp_path / "v.parquet"]), rows), x)
  # Frame-level rows of different lengths: example i has i % 3 + 1 frames, each x[i] + offset, offsets
  # summing to zero, so the mean is x[i].
  frames = [[list(v + o) for o in ([0.0], [-1.0, 1.0], [-2.0, 0.5, 1.5])[i % 3]] for i, v in enumerate(x)]
  pd.DataFrame({"example_id": ids, "embedding": frames}).to_parquet(tmp_path / "f.parquet")
  raw = submission.read([tmp_path / "f.parquet"])
  assert raw.frames and np.allclose(submission.validate("f", raw, rows), x, atol=1e-5)


def test_parquet_problems_are_all_listed(tmp_path, task, capsys):
  splits, rows, x = task
  vectors = [list(v) for v in x]
  vectors[3] = vectors[3][:5]  # one row with 5 values instead of 8
  vectors[7] = None
  pd.DataFrame({"example_id": rows["example_id"], "embedding": vectors}).to_parquet(tmp_path / "bad.parquet")
  assert run(tmp_path, splits, tmp_path / "bad.parquet") == 2
  err = capsys.readouterr().err
  assert "1 rows have no embedding (null): 'spk0_07'" in err
  ragged = [v[:5] if i == 3 else v for i, v in enumerate(map(list, x))]
  pd.DataFrame({"example_id": rows["example_id"], "embedding": ragged}).to_parquet(tmp_path / "r.parquet")
  assert run(tmp_path, splits, tmp_path / "r.parquet") == 2
  assert "different dimensions (1 of 5, 119 of 8)" in capsys.readouterr().err
  pd.DataFrame({"example_id": rows["example_id"], "vector": list(x)}).to_parquet(tmp_path / "c.parquet")
  assert run(tmp_path, splits, tmp_path / "c.parquet") == 2
  assert "missing column 'embedding'" in capsys.readouterr().err


def test_json_problem_list(tmp_path, task, capsys):
  splits, rows, x = task
  x = x.copy()
  x[[4, 9]] = np.inf
  ids = rows["example_id"].to_numpy().astype(str)
  np.savez(tmp_path / "s.npz", example_id=np.r_[ids[3:], ["nope"]], embedding=np.r_[x[3:], x[:1]])
  assert run(tmp_path, splits, tmp_path / "s.npz", extra=["--json"]) == 2
  out = json.loads(capsys.readouterr().out)
  assert out["valid"] is False
  by_code = {p["code"]: p for p in out["problems"]}
  assert by_code["missing_ids"]["count"] == 3
  assert by_code["missing_ids"]["examples"] == ["spk0_00", "spk0_01", "spk0_02"]
  assert by_code["unknown_ids"]["examples"] == ["nope"]
  assert by_code["non_finite"]["count"] == 2 and by_code["non_finite"]["examples"] == ["spk0_04", "spk0_09"]


def test_degenerate_embeddings_warn(tmp_path, task):
  splits, rows, x = task
  x = x.copy()
  x[:, 2] = 0.5  # a constant dimension
  x[10] = x[11]  # a repeated vector
  x[[20, 21]] = 0  # two more equal vectors
  x[[20, 21], 2] = 0.5
  warnings = submission.warnings_for(x)
  assert "1 of 8 dimensions are constant (zero variance)" in warnings
  assert "2 embeddings exactly repeat an earlier one (different clips, same vector)" in warnings
  x[30] = 0
  assert "1 embeddings are all zeros" in submission.warnings_for(x)


def write_entry(root, split: str, rows: pd.DataFrame, x: np.ndarray, shards: int = 2, frames: bool = False):
  """A complete compute-embeddings cache entry, written with the pipeline's own record and file code."""
  key = cache.EntryKey("toy", "f1", "layer", "none" if frames else "mean", 16000, TASK, split)
  entry = key.path(root)
  names = []
  for shard in range(shards):
    part = [(i, r) for i, r in enumerate(rows.itertuples()) if i % shards == shard]
    name = cache.shard_name(shard, shards)
    vectors = {i: np.stack([x[i] - 1, x[i] + 1]) if frames else x[i] for i, _ in part}
    cache.write_records(entry / name, [cache_format.serialize(r.example_id, vectors[i], r.speaker_id, label=0)
                                       for i, r in part])
    names.append({"name": name, "examples": len(part)})
  cache.write_completion(entry, {"key": key.as_dict(), "shards": names, "examples": len(rows), "failed": []})
  return entry


def test_cache_entries_are_a_submission_and_name_their_task(tmp_path, task, capsys):
  splits, rows, x = task
  for split, part in rows.groupby("split"):
    write_entry(tmp_path / "cache", split, part, x[part.index], frames=split == "test")
  layer = tmp_path / "cache/toy/f1/layer"
  assert cli.main([str(layer), "--splits", str(splits), "--out", str(tmp_path / "out"), "--models", "logreg"]) == 0
  scored = report(tmp_path)
  assert scored["task"] == TASK and scored["n_examples"] == 120 and scored["results"][0]["accuracy"] > 0.9
  assert any("frame-level records (40 frames) mean-pooled" in n for n in scored["input_notes"])
  # An entry without COMPLETE.json (an interrupted run) is refused, naming the fix.
  entry = tmp_path / "cache/toy/f1/layer/mean-16000hz/noss/crema_d/train"
  (entry / "COMPLETE.json").unlink()
  assert run(tmp_path, splits, entry) == 2
  assert "holds TFRecord files but no COMPLETE.json" in capsys.readouterr().err


def test_damaged_tfrecords_are_reported(tmp_path, task, capsys):
  splits, rows, x = task
  entry = write_entry(tmp_path / "cache", "all", rows, x, shards=1)
  shard = entry / cache.shard_name(0, 1)
  data = bytearray(shard.read_bytes())
  shard.write_bytes(bytes(data[:-10]))
  assert run(tmp_path, splits, entry) == 2
  assert "truncated: record 119" in capsys.readouterr().err
  data[500] ^= 0xFF
  shard.write_bytes(bytes(data))
  assert run(tmp_path, splits, entry) == 2
  assert "fails its checksum" in capsys.readouterr().err


def test_reading_tfrecords_does_not_import_tensorflow(tmp_path, task):
  splits, rows, x = task
  entry = write_entry(tmp_path / "cache", "all", rows, x)
  code = ("import sys; from nossbench.scoring import submission; raw = submission.read([sys.argv[1]]); "
          "print(len(raw.ids), raw.embedding.shape[1], any(m.startswith('tensorflow.') or m == 'tensorflow' "
          "for m in sys.modules))")
  out = subprocess.run([sys.executable, "-c", code, str(entry)], capture_output=True, text=True, check=True).stdout
  assert out.split() == ["120", "8", "False"]
