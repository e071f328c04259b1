"""`hf:` models on tiny random-weight models of each family (tests/hf_helpers.py): layer names and shapes,
every hidden state equal to a direct transformers call, padding invariance where the family promises it,
Whisper's and AST's trimming and windows, fingerprints, errors, and a compute-embeddings run."""

import contextlib
import io
import json
import os
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("transformers")
import torch  # noqa: E402
import transformers  # noqa: E402

import hf_helpers  # noqa: E402
from conftest import run_command  # noqa: E402
from nossbench import UserError  # noqa: E402
from nossbench.embeddings import pooling, registry  # noqa: E402
from nossbench.pipelines import cache, compute_embeddings  # noqa: E402

RATE = 16000
WAVEFORM_FAMILIES = ("wav2vec2_layer", "wav2vec2_group", "hubert", "wavlm", "data2vec_audio")


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
  root = tmp_path_factory.mktemp("hf")
  return {family: hf_helpers.save_tiny(family, root / family) for family in hf_helpers.FAMILIES}


@pytest.fixture(autouse=True)
def own_hash_cache(tmp_path, monkeypatch):
  monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))


def direct(folder, family, wave):
  """Every hidden state of one clip, straight from transformers (no padding, no batching)."""
  extractor = transformers.AutoFeatureExtractor.from_pretrained(str(folder))
  model = transformers.AutoModel.from_pretrained(str(folder)).eval()
  if family == "whisper":
    model = model.get_encoder()
  inputs = extractor([wave], sampling_rate=RATE, return_tensors="pt")
  with torch.no_grad():
    return [h[0].numpy() for h in model(**{k: v for k, v in inputs.items() if k != "attention_mask"},
                                        output_hidden_states=True).hidden_states]


@pytest.mark.parametrize("family", WAVEFORM_FAMILIES)
def test_waveform_families_give_every_hidden_state_of_one_forward_pass(folders, family):
  model = registry.get_model(f"hf:{folders[family]}")
  assert model.layers == ("conv", "layer1", "layer2") and model.sample_rate == RATE
  assert model.output_dims() == {layer: (32,) for layer in model.layers}
  wave = hf_helpers.noise(RATE)[0]
  out = model.embed([wave])
  want = direct(folders[family], family, wave)
  assert len(want) == len(model.layers)
  for layer, expected in zip(model.layers, want):
    assert out[layer][0].shape == (((RATE - 10) // 5 + 1 - 8) // 4 + 1, 32) == expected.shape
    np.testing.assert_allclose(out[layer][0], expected, atol=1e-5)


@pytest.mark.parametrize("family", ["wav2vec2_layer", "wavlm"])
def test_layer_norm_families_batch_with_a_mask_and_padding_never_reaches_the_pooled_vector(folders, family):
  model = registry.get_model(f"hf:{folders[family]}")
  assert model.pads
  short, long = hf_helpers.noise(4000, 16000, seed=3)
  alone = model.embed([short])
  batched = model.embed([long, short])  # short is padded by 12000 samples
  for layer in model.layers:
    assert batched[layer][1].shape == alone[layer][0].shape == (198, 32)
    np.testing.assert_allclose(batched[layer][1], alone[layer][0], atol=1e-4)
    np.testing.assert_allclose(pooling.pool(batched[layer][1], "mean"), pooling.pool(alone[layer][0], "mean"),
                               atol=1e-5)


@pytest.mark.parametrize("family", ["wav2vec2_group", "hubert", "data2vec_audio"])
def test_families_that_must_not_see_padding_run_only_equal_lengths_together(folders, family, monkeypatch):
  model = registry.get_model(f"hf:{folders[family]}")
  assert not model.pads
  calls = []
  forward = model._waveform_batch
  monkeypatch.setattr(model, "_waveform_batch",
                      lambda waves, layers: calls.append(len(waves)) or forward(waves, layers))
  waves = hf_helpers.noise(4000, 16000, 4000, seed=4)
  batched = model.embed(waves)
  assert sorted(calls) == [1, 2]
  for index, wave in enumerate(waves):
    np.testing.assert_allclose(batched["layer2"][index], model.embed([wave])["layer2"][0], atol=1e-4)
  # what equal lengths protect against: padding changes the clip's frames
  padded = model._waveform_batch([np.pad(waves[0], (0, 12000))], ("layer2",))["layer2"][0]
  assert np.abs(padded[:198] - batched["layer2"][0]).max() > 1e-3


def test_whisper_keeps_the_frames_covering_the_clip_and_windows_long_clips(folders):
  model = registry.get_model(f"hf:{folders['whisper']}")
  assert model.layers == ("embeddings", "layer1", "layer2")
  one_second, half_hop, long = hf_helpers.noise(RATE, 100, 35 * RATE, seed=5)
  out = model.embed([one_second, half_hop, long])
  want = direct(folders["whisper"], "whisper", one_second)
  for layer, expected in zip(model.layers, want):
    assert expected.shape == (1500, 16)  # Whisper's 30 s of frames
    assert out[layer][0].shape == (50, 16)  # 100 mel frames of 10 ms -> 50 encoder frames of 20 ms
    np.testing.assert_allclose(out[layer][0], expected[:50], atol=1e-5)
    assert out[layer][1].shape == (1, 16)
    assert out[layer][2].shape == (1500 + 250, 16)  # 30 s window + the 5 s left
  first_window = direct(folders["whisper"], "whisper", long[:30 * RATE])
  last_window = direct(folders["whisper"], "whisper", long[30 * RATE:])
  np.testing.assert_allclose(out["layer2"][2][:1500], first_window[-1], atol=1e-5)
  np.testing.assert_allclose(out["layer2"][2][1500:], last_window[-1][:250], atol=1e-5)


def test_ast_frames_are_time_columns_of_its_patch_grid(folders):
  model = registry.get_model(f"hf:{folders['ast']}")
  assert model.layers == ("embeddings", "layer1", "layer2")
  clip, long = hf_helpers.noise(8000, 40000, seed=6)
  out = model.embed([clip, long])
  want = direct(folders["ast"], "ast", clip)
  freq, time = (32 - 16) // 10 + 1, (hf_helpers.AST_MAX_FRAMES - 16) // 10 + 1
  for layer, expected in zip(model.layers, want):
    assert expected.shape == (2 + freq * time, 16)
    columns = expected[2:].reshape(freq, time, 16).mean(axis=0)
    # 8000 samples: 48 fbank frames of 10 ms; columns start every 10 frames -> 5 start inside the clip
    np.testing.assert_allclose(out[layer][0], columns[:5], atol=1e-5)
  # 40000 samples: a whole 20480-sample window (every column) and 19520 samples (120 fbank frames: 12 columns)
  assert len(out["layer2"][1]) == time + 12


def test_fingerprint_follows_files_is_hashed_once_and_ignores_the_path(folders, tmp_path):
  original = registry.get_model(f"hf:{folders['wavlm']}")
  copy = shutil.copytree(folders["wavlm"], tmp_path / "copy")
  assert registry.get_model(f"hf:{copy}").fingerprint == original.fingerprint
  remembered = list((tmp_path / "xdg" / "nossbench" / "sha256").iterdir())
  assert len(remembered) == 6  # config, weights, preprocessor config of both folders
  # a remembered digest is trusted while path, size and mtime stay: the file is not read again
  import hashlib
  weights = (copy / "model.safetensors").read_bytes()
  assert hashlib.sha256(weights).hexdigest() in {p.read_text() for p in remembered}
  for path in remembered:
    if path.read_text() == hashlib.sha256(weights).hexdigest():
      path.write_text("0" * 64)
  assert registry.get_model(f"hf:{copy}").fingerprint != original.fingerprint
  hf_helpers.save_tiny("wavlm", tmp_path / "other", seed=1)
  assert registry.get_model(f"hf:{tmp_path / 'other'}").fingerprint != original.fingerprint


def test_bad_specs_are_user_errors(folders, tmp_path):
  half = registry.get_model(f"hf:{folders['wavlm']}#dtype=float16", device="cpu")  # planning is on the CPU
  assert half.fingerprint != registry.get_model(f"hf:{folders['wavlm']}").fingerprint
  with pytest.raises(UserError, match="float16 runs on GPUs only"):
    half.embed(hf_helpers.noise(RATE))
  with pytest.raises(UserError, match="unknown option rate; hf takes dtype"):
    registry.get_model(f"hf:{folders['wavlm']}#rate=8000")
  with pytest.raises(UserError, match="dtype 'int8'; choose one of float32, float16, bfloat16"):
    registry.get_model(f"hf:{folders['wavlm']}#dtype=int8")
  transformers.BertConfig(hidden_size=8, num_hidden_layers=1, num_attention_heads=2, intermediate_size=8,
                          vocab_size=10).save_pretrained(str(tmp_path / "bert"))
  transformers.Wav2Vec2FeatureExtractor().save_pretrained(str(tmp_path / "bert"))
  with pytest.raises(UserError, match="model type 'bert' is not supported"):
    registry.get_model(f"hf:{tmp_path / 'bert'}")


HALF_ON_CPU = "#dtype=float16 runs on GPUs only (half precision on CPUs is slow and inexact), and this run's " \
              "device is the CPU"


@pytest.mark.skipif(torch.cuda.is_available(), reason="the CPU-only case: torch here sees no GPU")
def test_half_precision_on_a_cpu_is_refused_before_beam_runs(folders, tone_dataset, tmp_path):
  """compute-embeddings (in-process runner: its workers are this machine) and check-model refuse
  #dtype=float16 where the model would run on the CPU: one paragraph naming the spec, the device and the
  fix, exit 2, no traceback, nothing written to the cache."""
  spec = f"hf:{folders['wav2vec2_layer']}#dtype=float16"
  base = ("--task", "noss/crema_d", "--data_dir", tone_dataset[3], "--model", spec, "--cache", tmp_path / "cache",
          "--splits", "validation")
  for device in ("auto", "cpu"):
    result = run_command("compute-embeddings", *base, "--device", device, check=False)
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip() == (
        f"error: {spec}: {HALF_ON_CPU} (--device cpu, or --device auto where torch sees no GPU). Drop "
        "#dtype=float16 to run in float32 on the CPU, or run with --device gpu (or auto) on a machine or on "
        "workers whose GPU torch sees."), result.stderr
    assert not (tmp_path / "cache").exists() or not any((tmp_path / "cache").rglob("*.tfrecord*"))
  result = run_command("check-model", spec, "--quick", check=False)
  assert result.returncode == 2 and f"error: {spec}: {HALF_ON_CPU}" in result.stderr, result.stderr
  assert "Traceback" not in result.stderr
  with pytest.raises(UserError, match="--device gpu was requested for .* but torch sees no GPU"):
    compute_embeddings.plan(*compute_embeddings.parse_arguments([*map(str, base), "--device", "gpu"]))


def test_a_launcher_without_a_gpu_plans_half_precision_for_dataflow_gpu_workers(folders, tone_dataset, tmp_path):
  """On Dataflow the workers resolve --device auto themselves: the launcher (CPU-only here) describes the
  model (layers, fingerprint) without loading it in half precision and builds the pipeline; only
  --device cpu, which holds for the workers too, is refused."""
  from test_pipeline_runs import documented_dataflow_command

  argv = documented_dataflow_command(tone_dataset[3], tmp_path) + ["--dry_run=True"]
  spec = f"hf:{folders['wav2vec2_layer']}#dtype=float16"
  argv[argv.index("--model") + 1], argv[argv.index("--device") + 1] = spec, "auto"
  p = compute_embeddings.plan(*compute_embeddings.parse_arguments(argv))
  assert p.model.device == ("gpu" if torch.cuda.is_available() else "cpu") and "model" not in vars(p.model)
  assert p.model.layers == ("conv", "layer1", "layer2")
  assert p.model.fingerprint != registry.get_model(f"hf:{folders['wav2vec2_layer']}").fingerprint
  import apache_beam as beam
  compute_embeddings.build_pipeline(beam.Pipeline(options=p.options), p)
  argv[argv.index("--device") + 1] = "cpu"
  with pytest.raises(UserError, match=re.escape(HALF_ON_CPU)):
    compute_embeddings.plan(*compute_embeddings.parse_arguments(argv))


def test_absent_hub_model_offline_names_the_command_that_fetches_it(tmp_path):
  script = ("from nossbench import command_line\nfrom nossbench.embeddings import registry\n"
            "raise SystemExit(command_line(lambda argv: registry.get_model('hf:nobody/no-such-model@v2'))([]))")
  env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf")}
  result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120)
  assert result.returncode == 2, result.stderr
  assert "hf download nobody/no-such-model --revision v2" in result.stderr
  assert "Traceback" not in result.stderr


def test_compute_embeddings_stores_every_layer_of_an_hf_model(folders, tone_dataset, tmp_path):
  builder, written, _, data_dir = tone_dataset
  spec = f"hf:{folders['wav2vec2_layer']}"
  out, err = io.StringIO(), io.StringIO()
  with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
    code = compute_embeddings.main(["--task", "noss/crema_d", "--data_dir", str(data_dir), "--model", spec,
                                    "--cache", str(tmp_path), "--splits", "validation"])
  assert code == 0, err.getvalue()
  model = registry.get_model(spec)
  for layer in model.layers:
    key = cache.EntryKey(spec, model.fingerprint, layer, "mean", RATE, "noss/crema_d", "validation")
    records = cache.read_entry_records(key.path(tmp_path))
    assert json.loads((key.path(tmp_path) / "COMPLETE.json").read_text())["dims"] == [32]
    assert len(records) == builder.info.splits["validation"].num_examples
    for record in records[:3]:
      wave = written[record["example_id"]].astype(np.float32) / 32768
      np.testing.assert_allclose(record["embedding"], model.embed([wave])[layer][0].mean(axis=0), atol=1e-4)
  # the fully cached rerun reads the model's JSON files only: no torch, transformers or TensorFlow
  script = ("import sys\nfrom nossbench.pipelines import compute_embeddings\n"
            "code = compute_embeddings.main(sys.argv[1:])\n"
            "print('loaded:', [m for m in ('torch', 'transformers', 'tensorflow') if m in sys.modules])\n"
            "sys.exit(code)")
  result = subprocess.run([sys.executable, "-c", script, "--task", "noss/crema_d", "--data_dir", str(data_dir),
                           "--model", spec, "--cache", str(tmp_path), "--splits", "validation"],
                          capture_output=True, text=True, check=False)
  assert result.returncode == 0, result.stderr
  assert result.stdout.count("reused cache entry") == 3 and "loaded: []" in result.stdout, result.stdout


def test_pipeline_batches_equal_lengths_for_models_that_must_not_see_padding():
  import apache_beam as beam
  from apache_beam.testing.test_pipeline import TestPipeline
  from apache_beam.testing.util import assert_that

  from nossbench.pipelines import batching

  lengths = [int(x) for x in np.random.default_rng(1).choice([16000, 16001, 24000, 40000], 60)]
  lengths += list(range(50_000, 50_040))  # 40 lengths seen once: at most 4 buckets stay open

  def check(batches):
    assert sorted(n for batch in batches for n in batch) == sorted(lengths)
    assert all(len(set(batch)) == 1 and len(batch) <= 4 for batch in batches)
    assert sum(len(b) == 4 for b in batches) >= 12  # repeated lengths still fill batches

  with TestPipeline() as pipeline:
    batches = (pipeline | beam.Create(lengths)
               | beam.ParDo(batching.BatchBySimilarLength(lambda n: n, 4, 0.0, 10**9)))
    assert_that(batches, check)

