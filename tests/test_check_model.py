"""`check-model` over the zoo and every adapter's test model (the fixtures of test_embeddings_adapters.py and
the tiny hf: models), with `--quick` clips; and models it must fail: a batch-norm-in-training-mode model,
one that gives no frame (and NaN) on a few milliseconds."""

import importlib.util
import json

import numpy as np
import pytest

import hf_helpers
from nossbench.embeddings import check_model, registry
from test_embeddings_adapters import HEAR_MODULE, framer_files, keras_savedmodel, write_module  # noqa: F401

# Left out, as costly variants of a model checked here with the same code: mfcc20/40 (mfcc13),
# opensmile_compare16 (opensmile_egemaps), torchcrepe_full (torchcrepe_tiny, ~50x its compute).
ZOO = ("logmel", "mfcc13", "opensmile_egemaps", "random_resnetish", "speech_embedding", "resemblyzer",
       "torchcrepe_tiny")
OPTIONAL = {"opensmile_egemaps": "opensmile", "speech_embedding": "onnxruntime", "resemblyzer": "resemblyzer",
            "torchcrepe_tiny": "torchcrepe"}


def run(capsys, *args):
  code = check_model.main([str(a) for a in args])
  out = capsys.readouterr()
  return code, out.out, out.err


def passes(capsys, spec, *extra):
  code, out, err = run(capsys, spec, "--quick", "--json", *extra)
  report = json.loads(out)
  assert code == 0 and report["failures"] == [], (out, err)
  model = registry.get_model(spec)
  assert list(report["layers"]) == list(model.layers)
  for layer, entry in report["layers"].items():
    assert entry["actual_dims"] == [entry["declared_dims"]] and entry["finite"]
    assert min(entry["frames"].values()) >= 1
  assert report["speed_audio_s_per_s"] > 0 and report["memory"]["peak_rss_mib"] > 0
  return report


@pytest.mark.parametrize("name", ZOO)
def test_every_zoo_model_passes(capsys, name):
  if name in OPTIONAL and importlib.util.find_spec(OPTIONAL[name]) is None:  # the model imports it itself
    pytest.skip(f"{OPTIONAL[name]} is not installed")
  report = passes(capsys, name)
  assert set(report["clips"]) == {"5 ms noise", "1 s noise", "3 s noise", "1 s silence", "1 s full-scale noise"}


@pytest.mark.parametrize("kind, file", [("torchscript", "framer.pt"), ("onnx", "framer.onnx")])
def test_torch_file_adapters_pass(capsys, framer_files, kind, file):  # noqa: F811
  if kind == "onnx":
    pytest.importorskip("onnxruntime")
  if not (framer_files[1] / file).exists():
    pytest.skip("the onnx package (to export the test model) is not installed")
  passes(capsys, f"{kind}:{framer_files[1] / file}#min_seconds=0.01")


def test_savedmodel_adapter_passes_padded_and_fails_without_frames(capsys, keras_savedmodel):  # noqa: F811
  folder = keras_savedmodel[1]
  passes(capsys, f"savedmodel:{folder}#min_seconds=0.01")
  code, out, _ = run(capsys, f"savedmodel:{folder}", "--quick")
  assert code == 2
  assert "- hidden: no frame for 5 ms noise" in out  # 80 samples, 160-sample frames
  assert "- pooled: NaN or Inf for 5 ms noise" in out  # the average of no frames


def test_hear_adapter_passes(capsys, tmp_path, monkeypatch):
  pytest.importorskip("torch")
  monkeypatch.syspath_prepend(str(tmp_path))
  write_module(tmp_path, "nossbench_check_hear", HEAR_MODULE + '''

def get_scene_embeddings(audio, model):
  return get_timestamp_embeddings(audio, model)[0].mean(dim=1)
''')
  passes(capsys, "hear:nossbench_check_hear#min_seconds=0.01")


@pytest.mark.parametrize("family", ["wav2vec2_layer", "whisper"])
def test_hf_models_pass(capsys, tmp_path, monkeypatch, family):
  pytest.importorskip("transformers")
  monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
  folder = hf_helpers.save_tiny(family, tmp_path / family)
  report = passes(capsys, f"hf:{folder}")
  assert report["layers"]["layer2"]["batch_invariance_max_abs_diff"] < 1e-4


def test_batch_norm_in_training_mode_fails_and_every_failure_is_listed(capsys, tmp_path):
  torch = pytest.importorskip("torch")

  class BatchStatistics(torch.nn.Module):
    """The NOSS reference pipeline's bug: batch norm normalising with the statistics of the batch."""

    def __init__(self):
      super().__init__()
      self.conv = torch.nn.Conv1d(1, 4, 160, stride=160)

    def forward(self, audio):
      hidden = self.conv(audio[:, None])
      normed = torch.nn.functional.batch_norm(hidden, None, None, training=True)
      return {"conv": hidden.transpose(1, 2), "normed": normed.transpose(1, 2)}

  torch.manual_seed(0)
  path = tmp_path / "batchnorm.pt"
  torch.jit.script(BatchStatistics().eval()).save(str(path))
  code, out, _ = run(capsys, f"torchscript:{path}#min_seconds=0.03", "--quick", "--json")
  report = json.loads(out)
  assert code == 2
  assert report["layers"]["conv"]["batch_invariance_max_abs_diff"] < 1e-5
  assert report["layers"]["normed"]["batch_invariance_max_abs_diff"] > 0.1
  assert len(report["failures"]) == 1 and report["failures"][0].startswith("normed: batch-dependent")
  code, out, _ = run(capsys, f"torchscript:{path}#min_seconds=0.03", "--quick")
  assert code == 2 and "1 failures:\n- normed: batch-dependent: 1 s noise alone and in a mixed batch" in out


def test_bad_arguments_are_user_errors(capsys):
  code, _, err = run(capsys, "no_such_model", "--quick")
  assert code == 2 and "unknown model 'no_such_model'" in err
  code, _, err = run(capsys, "logmel", "--tolerance", "-1")
  assert code == 2 and "--tolerance -1" in err


def test_full_clip_set_has_the_long_clips():
  made = check_model.clips(16000, quick=False)
  assert {name: len(w) for name, w in made.items()} == {
      "5 ms noise": 80, "1 s noise": 16000, "10 s noise": 160000, "60 s noise": 960000, "1 s silence": 16000,
      "1 s full-scale noise": 16000}
  assert not made["1 s silence"].any() and np.abs(made["1 s full-scale noise"]).max() > 0.99
