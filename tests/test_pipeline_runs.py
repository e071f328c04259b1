"""compute-embeddings on a built noss/crema_d of tones: entries, values, reuse, resume, runners, failures."""

import contextlib
import io
import json
import math
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import apache_beam as beam
import numpy as np
import pytest

import pipeline_helpers
from conftest import run_command
from nossbench.embeddings import registry
from nossbench.embeddings.logmel import LogMel
from nossbench.pipelines import cache, cache_format, compute_embeddings, transforms
from nossbench.splits import tfds_reader

TASK = "noss/crema_d"
SPLITS = ("test", "train", "validation")
README = Path(__file__).parents[1] / "pipelines" / "README.md"


def embed(*args):
  """Runs compute-embeddings in this process (DirectRunner, in memory): (exit code, stdout, stderr)."""
  out, err = io.StringIO(), io.StringIO()
  with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
    code = compute_embeddings.main([str(a) for a in args])
  return code, out.getvalue(), err.getvalue()


def entry(root, split, model=None, layer="logmel", pooling="mean"):
  model = model or LogMel()
  return cache.EntryKey(model.name, model.fingerprint, layer, pooling, 16000, TASK, split).path(root)


def table(builder):
  return tfds_reader.read_examples(builder).set_index("example_id")


@pytest.fixture(scope="module")
def reference(tone_dataset, tmp_path_factory):
  """An uninterrupted run, one clip per model call: (cache root, its stdout)."""
  data_dir = tone_dataset[3]
  root = tmp_path_factory.mktemp("reference") / "cache"
  code, out, err = embed("--task", TASK, "--data_dir", data_dir, "--model", "logmel", "--cache", root,
                         "--batch_size", 1)
  assert code == 0, err
  return root, out


def test_every_example_is_embedded_once_with_its_label_and_speaker(tone_dataset, reference):
  builder, written, _, _ = tone_dataset
  root, out = reference
  assert out.count("computed cache entry") == 3 and "reused" not in out
  assert re.search(r"train: 96 embedded, 0 cached, 0 failed", out)
  examples, model = table(builder), LogMel()
  for split in SPLITS:
    record = cache.read_completion(entry(root, split))
    expected = builder.info.splits[split].num_examples
    assert record["examples"] == record["expected"] == expected and record["failed"] == []
    assert record["dims"] == [64] and record["label_feature"] == "label"
    records = cache.read_entry_records(entry(root, split))
    assert [r["example_id"] for r in records] == sorted(examples.index[examples["split"] == split])
    for r in records:
      row = examples.loc[r["example_id"]]
      assert record["label_names"][r["label"]] == row["label"] and r["speaker_id"] == row["speaker_id"]
      clip = written[r["example_id"]].astype(np.float32) / 32768
      np.testing.assert_allclose(r["embedding"], model.embed([clip])["logmel"][0].mean(axis=0), rtol=1e-6)


def test_identical_rerun_reuses_every_entry_and_exports_them(tone_dataset, reference, tmp_path):
  import pyarrow.parquet as pq

  root, _ = reference
  for name in ("all.npz", "all.parquet"):
    code, out, err = embed("--task", TASK, "--data_dir", tone_dataset[3], "--model", "logmel", "--cache", root,
                           "--export", tmp_path / name)
    assert code == 0, err
    assert out.count("reused cache entry") == 3 and "computed" not in out and "wrote 144 embeddings" in out
  stored = {}
  for split in SPLITS:
    ids, vectors = cache.read_entry(entry(root, split))
    stored.update(zip(ids, vectors))
  with np.load(tmp_path / "all.npz", allow_pickle=False) as npz:
    assert list(npz["example_id"]) == sorted(stored) and npz["embedding"].shape == (144, 64)
    np.testing.assert_array_equal(npz["embedding"], np.stack([stored[i] for i in sorted(stored)]))
  parquet = pq.read_table(tmp_path / "all.parquet").to_pydict()
  assert parquet["example_id"] == sorted(stored)
  np.testing.assert_array_equal(np.array(parquet["embedding"], np.float32),
                                np.stack([stored[i] for i in sorted(stored)]))


def test_fully_cached_rerun_answers_without_beam_or_tensorflow(tone_dataset, reference):
  """The fast path: nothing to compute, so neither Beam, TensorFlow nor TFDS is imported (seconds saved)."""
  script = ("import sys\nfrom nossbench.pipelines import compute_embeddings\n"
            "code = compute_embeddings.main(sys.argv[1:])\n"
            "print('loaded:', [m for m in ('apache_beam', 'tensorflow', 'tensorflow_datasets') if m in sys.modules])\n"
            "sys.exit(code)")
  result = subprocess.run([sys.executable, "-c", script, "--task", TASK, "--data_dir", str(tone_dataset[3]),
                           "--model", "logmel", "--cache", str(reference[0])], capture_output=True, text=True, check=False)
  assert result.returncode == 0, result.stderr
  assert result.stdout.count("reused cache entry") == 3 and "loaded: []" in result.stdout, result.stdout


def test_killed_run_resumes_and_ends_equal_to_an_uninterrupted_run(tone_dataset, reference, tmp_path):
  root = tmp_path / "cache"
  command = [sys.executable, pipeline_helpers.__file__, "--task", TASK, "--data_dir", str(tone_dataset[3]),
             "--model", "logmel", "--cache", str(root), "--batch_size", "1"]
  killed = subprocess.run(command, env={**os.environ, "DIE_AFTER": "40"}, capture_output=True, text=True)
  assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]

  assert not list(root.rglob(cache.COMPLETE))
  chunk_records = 0
  for split in SPLITS:
    with pytest.raises(Exception, match="not a complete cache entry"):
      cache.read_entry_records(entry(root, split))
    source = compute_embeddings.sources_of(TASK, tone_dataset[0].data_dir)[split]
    for chunk in cache.list_chunks(entry(root, split), source):
      chunk_records += len([cache_format.parse(r) for r in cache.read_records(chunk)])  # whole, readable files
  assert 0 < chunk_records <= 40

  code, out, err = embed("--task", TASK, "--data_dir", tone_dataset[3], "--model", "logmel", "--cache", root,
                         "--batch_size", 1)
  assert code == 0, err
  counts = [tuple(map(int, m)) for m in re.findall(r"(\d+) embedded, (\d+) cached, (\d+) failed", out)]
  assert sum(c[1] for c in counts) == chunk_records and sum(c[0] for c in counts) == 144 - chunk_records

  reference_root, _ = reference
  for split in SPLITS:
    mine, theirs = entry(root, split), entry(reference_root, split)
    assert sorted(p.name for p in mine.iterdir()) == sorted(p.name for p in theirs.iterdir())  # chunks gone
    for shard in theirs.glob("part-*"):
      assert (mine / shard.name).read_bytes() == shard.read_bytes()
    record, expected = (json.loads((d / cache.COMPLETE).read_text()) for d in (mine, theirs))
    assert {**record, "created": None} == {**expected, "created": None}


def test_multi_processing_runner_gives_the_same_entries(tone_dataset, reference, tmp_path):
  root = tmp_path / "cache"
  result = run_command("compute-embeddings", "--task", TASK, "--data_dir", tone_dataset[3], "--model", "logmel",
                       "--cache", root, "--runner", "DirectRunner", "--direct_running_mode", "multi_processing",
                       "--direct_num_workers", "2", "--read_parallelism", "2", "--splits", "train")
  assert result.stdout.count("computed cache entry") == 1 and "train: 96 embedded" in result.stdout
  mine, theirs = (cache.read_entry_records(entry(r, "train")) for r in (root, reference[0]))
  assert [(r["example_id"], r["label"], r["speaker_id"]) for r in mine] == \
      [(r["example_id"], r["label"], r["speaker_id"]) for r in theirs]
  # Batches differ from the reference's single clips: TensorFlow's rounding may differ in the last bits.
  np.testing.assert_allclose(np.stack([r["embedding"] for r in mine]), np.stack([r["embedding"] for r in theirs]),
                             rtol=1e-5, atol=1e-5)


def test_nan_output_fails_the_example_or_is_recorded_when_asked(tone_dataset, tmp_path, monkeypatch):
  builder, written, _, data_dir = tone_dataset
  pipeline_helpers.register("two_layers", "TwoLayers", patch=monkeypatch)
  high = {i for i, s in written.items() if pipeline_helpers.is_high(s.astype(np.float32) / 32768)}
  assert 0 < len(high) < len(written)
  args = ("--task", TASK, "--data_dir", data_dir, "--model", "two_layers", "--batch_size", 16)

  code, out, err = embed(*args, "--cache", tmp_path / "strict")
  assert code == 2 and "computed" not in out
  found = re.search(r"NaN or Inf in a model output: model two_layers, layer doubled, example (\S+) ", err)
  assert found and found.group(1) in high and "--record_failures" in err, err
  assert not list((tmp_path / "strict").rglob(cache.COMPLETE))

  pipeline_helpers.TwoLayers.calls = 0
  code, out, err = embed(*args, "--cache", tmp_path / "lenient", "--record_failures")
  assert code == 0, err
  # One model call per batch of 16 clips (of one length, from any split) yields both layers.
  sizes = [builder.info.splits[s].num_examples for s in SPLITS]
  assert pipeline_helpers.TwoLayers.calls == math.ceil(sum(sizes) / 16)
  model, examples = pipeline_helpers.TwoLayers(), table(builder)
  for split, size in zip(SPLITS, sizes):
    in_split = set(examples.index[examples["split"] == split])
    mel, doubled = (cache.read_completion(entry(tmp_path / "lenient", split, model, layer))
                    for layer in model.layers)
    assert mel["examples"] == size and mel["failed"] == []
    assert {f["example_id"] for f in doubled["failed"]} == high & in_split
    assert doubled["examples"] == size - len(high & in_split)
    mel_ids, mel_vectors = cache.read_entry(entry(tmp_path / "lenient", split, model, "mel"))
    doubled_ids, doubled_vectors = cache.read_entry(entry(tmp_path / "lenient", split, model, "doubled"))
    assert doubled_ids == sorted(in_split - high)
    kept = [mel_ids.index(i) for i in doubled_ids]
    np.testing.assert_array_equal(doubled_vectors, 2 * mel_vectors[kept])
  assert re.search(r"failed: " + "|".join(sorted(high)), out)


def test_a_model_that_raises_stops_the_run_naming_the_batch(tone_dataset, tmp_path, monkeypatch):
  """The model runs in a thread of its own: its error still ends the run, names the batch's examples, and
  nothing is marked complete."""
  _, written, _, data_dir = tone_dataset
  pipeline_helpers.register("fails_on_high", "FailsOnHigh", patch=monkeypatch)
  high = {i for i, s in written.items() if pipeline_helpers.is_high(s.astype(np.float32) / 32768)}
  with pytest.raises(Exception, match=r"fails_on_high failed on a batch of 1 examples \((\S+)\): this model "
                                      r"cannot take that clip") as raised:
    embed("--task", TASK, "--data_dir", data_dir, "--model", "fails_on_high", "--batch_size", 1,
          "--cache", tmp_path / "cache")
  assert re.search(r"failed on a batch of 1 examples \((\S+)\)", str(raised.value)).group(1) in high
  assert not list((tmp_path / "cache").rglob(cache.COMPLETE))


def test_entry_of_another_fingerprint_is_never_reused(tone_dataset, reference, tmp_path, monkeypatch):
  root = tmp_path / "cache"
  shutil.copytree(reference[0], root)
  args = ("--task", TASK, "--data_dir", tone_dataset[3], "--model", "logmel", "--cache", root)
  monkeypatch.setitem(registry.MODELS, "logmel", ("logmel", "LogMel", {"num_mel_bins": 32}))
  code, out, err = embed(*args, "--splits", "validation")
  assert code == 0, err
  assert out.count("computed cache entry") == 1 and "reused" not in out
  other = LogMel(num_mel_bins=32)
  assert other.fingerprint != LogMel().fingerprint
  assert cache.read_completion(entry(root, "validation", other))["dims"] == [32]

  monkeypatch.undo()  # a folder whose completion record names another model:
  record_path = entry(root, "test") / cache.COMPLETE
  record = json.loads(record_path.read_text())
  record["key"]["fingerprint"] = other.fingerprint
  record_path.write_text(json.dumps(record))
  code, out, err = embed(*args)
  assert code == 2 and "will not be reused" in err and str(entry(root, "test")) in err


def test_entry_of_a_rebuilt_dataset_is_never_reused(reference, tmp_path):
  from conftest import build, write_tone_corpus

  write_tone_corpus(tmp_path / "raw", sentences=("DFA",))  # the same task, built again with other clips
  build(TASK, tmp_path / "raw", tmp_path / "tfds")
  code, _, err = embed("--task", TASK, "--data_dir", tmp_path / "tfds", "--model", "logmel", "--cache", reference[0])
  assert code == 2 and "rebuilt or changed" in err and "will not be reused" in err


def test_bad_arguments_are_named(tone_dataset, tmp_path):
  base = ("--task", TASK, "--data_dir", tone_dataset[3], "--model", "logmel", "--cache", tmp_path)
  for extra, message in [(("--layers", "nope"), "logmel has no layer nope; its layers: logmel"),
                         (("--export", tmp_path / "x.csv"), "name a .npz or .parquet file"),
                         (("--splits", "dev"), "has no split dev"),
                         (("--batch_size", "0"), "--batch_size 0: give a number above 0"),
                         (("--bach_size", "4"), "unknown option --bach_size"),
                         (("--direct_num_workers", "two"), "Apache Beam option: argument --direct_num_workers: "
                                                           "invalid int value: 'two'"),
                         (("--runner", "NoSuchRunner"), "--runner: Unexpected pipeline runner: NoSuchRunner")]:
    code, _, err = embed(*base, *extra)
    assert code == 2 and message in err and "usage:" not in err, err


def documented_dataflow_command(data_dir, cache_root) -> list[str]:
  """The Dataflow command of pipelines/README.md with the dataset and the cache made local."""
  block = re.search(r"```sh\n(compute-embeddings .*?)```", README.read_text(), re.S).group(1)
  argv = shlex.split(block.replace("\\\n", " "))[1:]
  argv[argv.index("--data_dir") + 1] = str(data_dir)
  argv[argv.index("--cache") + 1] = str(cache_root)
  return argv


def test_documented_dataflow_gpu_option_set_parses_and_builds_the_pipeline(tone_dataset, tmp_path):
  """The Dataflow command of pipelines/README.md, with the dataset and cache made local: every option is
  known, the GPU settings reach Beam, and the same pipeline graph builds (not run: no network here).
  --dry_run: otherwise Beam's option validation asks GCS about the temp bucket (minutes of retries)."""
  p = compute_embeddings.plan(*compute_embeddings.parse_arguments(
      documented_dataflow_command(tone_dataset[3], tmp_path) + ["--dry_run=True"]))
  options = p.options.get_all_options()
  assert options["runner"] == "DataflowRunner" and p.args.device == "gpu"
  assert any("worker_accelerator=type:nvidia" in o and "install-nvidia-driver" in o
             for o in options["dataflow_service_options"])
  assert options["sdk_container_image"] and options["temp_location"].startswith("gs://")
  pipeline = beam.Pipeline(options=p.options)
  assert type(pipeline.runner).__name__ == "DataflowRunner"
  compute_embeddings.build_pipeline(pipeline, p)

  class FindEmbed(beam.pipeline.PipelineVisitor):
    found = []

    def visit_transform(self, applied):
      if isinstance(getattr(applied.transform, "fn", None), transforms.EmbedBatch):
        self.found.append(applied.transform.fn)

  pipeline.visit(FindEmbed())
  (embed_fn,) = FindEmbed.found
  assert embed_fn.entries == [(split, "logmel") for split in SPLITS]
  assert embed_fn.device == "gpu"  # resolved on each worker, in setup()
  proto = pipeline.to_runner_api()  # pickles every DoFn, as a Dataflow submission does
  names = {t.unique_name for t in proto.components.transforms.values()}
  assert {"Embed", "WriteChunk", "WriteShard", "Finalize"} <= names


def test_documented_dataflow_job_is_translated_with_its_gpu_workers(tone_dataset, tmp_path):
  """Dataflow's own translation of the job, offline (`--dry_run`); needs the `gcs` extra (apache-beam[gcp])."""
  apiclient = pytest.importorskip("apache_beam.runners.dataflow.internal.apiclient")
  p = compute_embeddings.plan(*compute_embeddings.parse_arguments(
      documented_dataflow_command(tone_dataset[3], tmp_path) + ["--dry_run=True", "--no_auth"]))
  pipeline = beam.Pipeline(options=p.options)
  compute_embeddings.build_pipeline(pipeline, p)
  pipeline.run()
  environment = apiclient.Environment([], p.options, "1", "gs://my-bucket/staging/pipeline.pb",
                                      proto_pipeline=pipeline.runner.proto_pipeline).proto
  assert any(o.startswith("worker_accelerator=type:nvidia") for o in environment.service_options)
  assert "no_use_multiple_sdk_containers" in environment.experiments
  (pool,) = environment.worker_pools
  assert pool.sdk_harness_container_images[0].container_image.endswith("/nossbench/worker:latest")


def test_frame_level_entries_keep_every_frame_with_its_shape(tone_dataset, tmp_path):
  builder, written, _, data_dir = tone_dataset
  code, out, err = embed("--task", TASK, "--data_dir", data_dir, "--model", "logmel", "--cache", tmp_path,
                         "--pooling", "none", "--splits", "validation", "--export", tmp_path / "frames.npz")
  assert code == 0, err
  model = LogMel()
  frames = {i: model.embed([written[i].astype(np.float32) / 32768])["logmel"][0]
            for i in table(builder).query("split == 'validation'").index}
  record = cache.read_completion(entry(tmp_path, "validation", pooling="none"))
  assert record["dims"] == [64] and record["frames"] == sum(len(f) for f in frames.values())
  with np.load(tmp_path / "frames.npz", allow_pickle=False) as npz:
    assert npz["example_id"].tolist() == sorted(frames)
    assert npz["num_frames"].tolist() == [len(frames[i]) for i in sorted(frames)]
    np.testing.assert_allclose(npz["embedding"], np.concatenate([frames[i] for i in sorted(frames)]),
                               rtol=1e-5, atol=1e-5)


def test_multi_label_task_stores_every_label(tmp_path):
  import hares_helpers
  from conftest import build

  expected = hares_helpers.write_magnatagatune(tmp_path / "raw", folders="0bcd")
  builder = build("hares/magnatagatune", tmp_path / "raw", tmp_path / "tfds")
  code, out, err = embed("--task", "hares/magnatagatune", "--data_dir", tmp_path / "tfds", "--model", "logmel",
                         "--cache", tmp_path / "cache")
  assert code == 0, err
  stored = {}
  for split in builder.info.splits:
    key = cache.EntryKey("logmel", LogMel().fingerprint, "logmel", "mean", 16000, "hares/magnatagatune", split)
    record = cache.read_completion(key.path(tmp_path / "cache"))
    assert record["label_feature"] == "labels"
    stored.update({r["example_id"]: sorted(record["label_names"][i] for i in r["labels"])
                   for r in cache.read_entry_records(key.path(tmp_path / "cache"))})
  assert stored == {i: sorted(facts["labels"]) for i, facts in expected.items()}
  assert [] in stored.values()  # a clip with none of the tags keeps its empty label list
  assert_shards_read_as_tfds_reads_them(builder)


def assert_shards_read_as_tfds_reads_them(builder):
  """The pipeline decodes TFRecord shards itself (read_shard); TFDS's as_dataset must give the same."""
  import tensorflow_datasets as tfds

  for split, info in builder.info.splits.items():
    for shard in range(info.num_shards):
      ours = [example for _, example in transforms.read_shard((split, shard, 0), builder, 1)]
      theirs = list(tfds.as_numpy(builder.as_dataset(split=f"{split}[{shard}shard]", shuffle_files=False)))
      assert len(ours) == len(theirs) > 0
      for mine, tfds_example in zip(ours, theirs):
        used = {name: tfds_example[name] for name in transforms.USED_FEATURES if name in tfds_example}
        assert mine.keys() == used.keys()
        for name, value in used.items():
          assert np.asarray(mine[name]).dtype == np.asarray(value).dtype and np.array_equal(mine[name], value), name
      halves = [e["example_id"] for part in (0, 1) for _, e in transforms.read_shard((split, shard, part), builder, 2)]
      assert sorted(halves) == sorted(e["example_id"] for e in ours)


def test_shards_are_read_as_tfds_reads_them(tone_dataset):
  assert_shards_read_as_tfds_reads_them(tone_dataset[0])


def stderr_on_a_terminal(*args) -> tuple[int, str]:
  """Runs an installed command with its stderr on a pseudo-terminal of 120 columns: (exit code, stderr)."""
  import fcntl  # pylint: disable=import-outside-toplevel
  import pty  # pylint: disable=import-outside-toplevel
  import struct  # pylint: disable=import-outside-toplevel
  import termios  # pylint: disable=import-outside-toplevel

  executable = shutil.which(args[0], path=str(Path(sys.executable).parent))
  master, slave = pty.openpty()
  fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
  process = subprocess.Popen([executable, *map(str, args[1:])], stdin=subprocess.DEVNULL,
                             stdout=subprocess.DEVNULL, stderr=slave)
  os.close(slave)
  written = []
  while True:
    try:
      data = os.read(master, 65536)
    except OSError:  # the command closed its end
      break
    if not data:
      break
    written.append(data)
  os.close(master)
  return process.wait(), b"".join(written).decode("utf-8", "replace")


def test_a_run_draws_its_progress_bar_on_a_terminal_only(tone_dataset, tmp_path):
  data_dir, examples = tone_dataset[3], len(tone_dataset[1])
  code, terminal = stderr_on_a_terminal("compute-embeddings", "--task", TASK, "--data_dir", data_dir,
                                        "--model", "logmel", "--cache", tmp_path / "a")
  assert code == 0, terminal
  assert re.search(rf"embedding: 100%.* {examples}/{examples} ", terminal), terminal
  piped = run_command("compute-embeddings", "--task", TASK, "--data_dir", data_dir, "--model", "logmel",
                      "--cache", tmp_path / "b")
  assert "embedding:" not in piped.stderr and "embedded" in piped.stdout  # logs get no bar
