"""`compute-embeddings --store_dtype float16`: another cache entry (its key and folder say so), half the
bytes, values within float16 rounding of float32, read back by the exporter and the scorer; a value float16
cannot hold fails like a NaN."""

import contextlib
import io
import json
import os
import sys

import numpy as np

from nossbench.embeddings import registry
from nossbench.embeddings.logmel import LogMel
from nossbench.pipelines import cache, compute_embeddings
from nossbench.scoring import submission

TASK = "noss/crema_d"


def embed(*args):
  out, err = io.StringIO(), io.StringIO()
  with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
    code = compute_embeddings.main([str(a) for a in args])
  return code, out.getvalue(), err.getvalue()


def shard_bytes(entry_dir):
  return sum(os.path.getsize(p) for p in entry_dir.glob("part-*.tfrecord"))


def test_float16_entries_are_separate_half_the_size_and_read_as_float32(tone_dataset, tmp_path):
  data_dir = tone_dataset[3]
  base = ("--task", TASK, "--data_dir", data_dir, "--model", "logmel", "--cache", tmp_path, "--splits", "validation")
  assert embed(*base)[0] == 0
  code, out, err = embed(*base, "--store_dtype", "float16", "--export", tmp_path / "half.npz")
  assert code == 0, err
  assert "reused" not in out  # float32 entries are not float16 entries
  model = LogMel()
  full = cache.EntryKey("logmel", model.fingerprint, "logmel", "mean", 16000, TASK, "validation")
  half = cache.EntryKey("logmel", model.fingerprint, "logmel", "mean", 16000, TASK, "validation", "float16")
  assert half.path(tmp_path).parents[2].name == "mean-float16-16000hz"
  assert full.path(tmp_path).parents[2].name == "mean-16000hz"
  record = json.loads((half.path(tmp_path) / cache.COMPLETE).read_text())
  assert record["key"]["store_dtype"] == "float16" and record["parameters"]["store_dtype"] == "float16"
  assert "store_dtype" not in json.loads((full.path(tmp_path) / cache.COMPLETE).read_text())["key"]
  # 64 dims: 256 bytes of float32 or 128 of float16 per example, beside ids, labels and framing
  ratio = shard_bytes(half.path(tmp_path)) / shard_bytes(full.path(tmp_path))
  assert 0.5 < ratio < 0.7, ratio
  ids32, vectors32 = cache.read_entry(full.path(tmp_path))
  ids16, vectors16 = cache.read_entry(half.path(tmp_path))
  assert ids16 == ids32 and vectors16.dtype == np.float32
  np.testing.assert_array_equal(vectors16, vectors32.astype(np.float16).astype(np.float32))
  with np.load(tmp_path / "half.npz", allow_pickle=False) as npz:
    np.testing.assert_array_equal(npz["embedding"], vectors16)
  raw = submission.read([half.path(tmp_path)])
  assert raw.problems == [] and raw.ids.tolist() == ids16
  np.testing.assert_array_equal(raw.embedding, vectors16)
  code, out, _ = embed(*base, "--store_dtype", "float16")  # the rerun finds the float16 entry complete
  assert code == 0 and "reused cache entry" in out and "mean-float16-16000hz" in out


class Loud(LogMel):
  """logmel times 1e6: finite in float32, beyond float16's largest value (65504)."""

  def embed(self, waveforms, layers=("logmel",)):
    return {"logmel": [1e6 * (np.abs(f) + 1) for f in super().embed(waveforms, layers)["logmel"]]}


def test_values_beyond_float16_fail_like_nan(tone_dataset, tmp_path, monkeypatch):
  monkeypatch.setitem(sys.modules, "nossbench.embeddings.test_store_dtype_models", sys.modules[__name__])
  monkeypatch.setitem(registry.MODELS, "loud", ("test_store_dtype_models", "Loud", {}))
  base = ("--task", TASK, "--data_dir", tone_dataset[3], "--model", "loud", "--cache", tmp_path,
          "--splits", "validation")
  code, out, err = embed(*base, "--store_dtype", "float16")
  assert code == 2
  assert "NaN or Inf in a model output: model loud, layer logmel, example" in err
  assert "once stored as float16 (values beyond 65504); use --store_dtype float32" in err
  assert embed(*base)[0] == 0
