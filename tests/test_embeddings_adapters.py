"""The model-file adapters, each on a small model this file builds and saves itself: outputs equal the
model's own, layers are its outputs, fingerprints follow the weights and options (not the path), and bad
specs are user errors that say what to write."""

import hashlib
import shutil
import textwrap

import numpy as np
import pytest

from nossbench import UserError
from nossbench.embeddings import registry

# Exporting the test model uses TorchScript and the TorchScript-based ONNX exporter, both deprecated.
pytestmark = [pytest.mark.filterwarnings("ignore:.*(TorchScript|torch.jit|torch.export).*:DeprecationWarning"),
              pytest.mark.filterwarnings("ignore:The feature will be removed:DeprecationWarning")]

RATE = 16000


def clips(*lengths, seed=0):
  state = np.random.RandomState(seed)
  return [state.uniform(-0.5, 0.5, n).astype(np.float32) for n in lengths]


# ---- torch: one module, exported to ONNX and TorchScript ------------------------------------------------

def framer_module():
  torch = pytest.importorskip("torch")

  class Framer(torch.nn.Module):
    """[batch, samples] -> hidden [batch, frames, 4] (a 10 ms hop) and pooled [batch, 4]."""

    def __init__(self):
      super().__init__()
      self.conv = torch.nn.Conv1d(1, 4, 160, stride=80)

    def forward(self, audio):
      hidden = torch.relu(self.conv(audio[:, None])).transpose(1, 2)
      return {"hidden": hidden, "pooled": hidden.mean(dim=1)}

  torch.manual_seed(0)
  return Framer().eval()


def expected(module, wave):
  torch = pytest.importorskip("torch")
  with torch.no_grad():
    out = module(torch.from_numpy(wave)[None])
  return {"hidden": out["hidden"][0].numpy(), "pooled": out["pooled"].numpy()}


@pytest.fixture(scope="module")
def framer_files(tmp_path_factory):
  torch = pytest.importorskip("torch")
  folder = tmp_path_factory.mktemp("framer")
  module = framer_module()
  torch.jit.script(module).save(str(folder / "framer.pt"))
  if __import__("importlib").util.find_spec("onnx") is not None:
    torch.onnx.export(module, (torch.zeros(2, 1600),), str(folder / "framer.onnx"), input_names=["audio"],
                      output_names=["hidden", "pooled"], dynamic_axes={"audio": {0: "batch", 1: "samples"}},
                      dynamo=False)
  return module, folder


@pytest.mark.parametrize("kind, file", [("torchscript", "framer.pt"), ("onnx", "framer.onnx")])
def test_torch_model_files_give_the_module_outputs(framer_files, kind, file, monkeypatch):
  if kind == "onnx":
    pytest.importorskip("onnxruntime")
  module, folder = framer_files
  if not (folder / file).exists():
    pytest.skip("the onnx package (to export the test model) is not installed")
  model = registry.get_model(f"{kind}:{folder / file}")
  assert model.layers == ("hidden", "pooled") and model.sample_rate == RATE
  assert model.output_dims() == {"hidden": (4,), "pooled": (4,)}
  calls = []
  forward = model.forward
  monkeypatch.setattr(model, "forward", lambda waves, layers: calls.append(len(waves)) or forward(waves, layers))
  waves = clips(800, 1600, 800, 480)
  out = model.embed(waves, ("hidden", "pooled"))
  assert sorted(calls) == [1, 1, 2]  # the two 800-sample clips ran together
  for index, wave in enumerate(waves):
    want = expected(module, wave)
    assert out["hidden"][index].shape == ((len(wave) - 160) // 80 + 1, 4)
    np.testing.assert_allclose(out["hidden"][index], want["hidden"], atol=1e-5)
    np.testing.assert_allclose(out["pooled"][index], want["pooled"], atol=1e-5)


def test_outputs_option_padding_and_errors(framer_files):
  pytest.importorskip("onnxruntime")
  module, folder = framer_files
  if not (folder / "framer.onnx").exists():
    pytest.skip("the onnx package (to export the test model) is not installed")
  path = folder / "framer.onnx"
  model = registry.get_model(f"onnx:{path}#outputs=pooled&min_seconds=0.01")
  assert model.layers == ("pooled",)
  out = model.embed(clips(50), ("pooled",))["pooled"][0]  # padded to 160 samples: one frame
  np.testing.assert_allclose(out, expected(module, np.pad(clips(50)[0], (0, 110)))["pooled"], atol=1e-5)
  with pytest.raises(UserError, match="has no output layer19; its outputs: hidden, pooled"):
    registry.get_model(f"onnx:{path}#outputs=layer19")
  with pytest.raises(UserError, match="unknown option signature; onnx takes input, min_seconds, outputs, rate"):
    registry.get_model(f"onnx:{path}#signature=serving_default")
  with pytest.raises(UserError, match="bad model option 'rate'"):
    registry.get_model(f"onnx:{path}#rate")
  with pytest.raises(UserError, match="no ONNX file at"):
    registry.get_model(f"onnx:{folder / 'missing.onnx'}")
  with pytest.raises(UserError, match="not a TorchScript file"):
    registry.get_model(f"torchscript:{path}")


def test_fingerprint_follows_weights_and_options_not_path(framer_files, tmp_path):
  torch = pytest.importorskip("torch")
  module, folder = framer_files
  copy = tmp_path / "elsewhere.pt"
  shutil.copy(folder / "framer.pt", copy)
  original = registry.get_model(f"torchscript:{folder / 'framer.pt'}")
  assert registry.get_model(f"torchscript:{copy}").fingerprint == original.fingerprint
  assert registry.get_model(f"torchscript:{copy}#rate=8000").fingerprint != original.fingerprint
  with torch.no_grad():
    module.conv.bias += 1
  torch.jit.script(module).save(str(copy))
  assert registry.get_model(f"torchscript:{copy}").fingerprint != original.fingerprint


# ---- TensorFlow SavedModels ------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def keras_savedmodel(tmp_path_factory):
  import keras
  import tensorflow as tf

  audio = keras.Input((None,), name="audio")
  frames = keras.layers.Lambda(lambda a: tf.signal.frame(a, 160, 160))(audio)
  hidden = keras.layers.Dense(8, kernel_initializer=keras.initializers.GlorotUniform(seed=3), name="hidden")(frames)
  pooled = keras.layers.GlobalAveragePooling1D(name="pooled")(hidden)
  model = keras.Model(audio, {"hidden": hidden, "pooled": pooled})
  folder = tmp_path_factory.mktemp("keras") / "model"
  tf.saved_model.save(model, str(folder))
  return model, folder


@pytest.mark.parametrize("options", ["#signature=serving_default", ""])
def test_keras_savedmodel_by_signature_or_call(keras_savedmodel, options):
  keras_model, folder = keras_savedmodel
  model = registry.get_model(f"savedmodel:{folder}{options}")
  assert model.layers == ("hidden", "pooled")
  waves = clips(1600, 3200, 1600)
  out = model.embed(waves, model.layers)
  for index, wave in enumerate(waves):
    want = keras_model(wave[None])
    assert out["hidden"][index].shape == (len(wave) // 160, 8)
    np.testing.assert_allclose(out["hidden"][index], want["hidden"].numpy()[0], atol=1e-5)
    np.testing.assert_allclose(out["pooled"][index], want["pooled"].numpy(), atol=1e-5)


def save_trillish(folder):
  """A TRILL-shaped module: __call__(samples, sample_rate) -> {embedding, layer19}; it checks the rate."""
  import tensorflow as tf

  class Trillish(tf.Module):

    def __init__(self):
      super().__init__()
      self.weights = tf.Variable(tf.random.stateless_normal([160, 6], seed=[1, 2]))

    @tf.function(input_signature=[tf.TensorSpec([None, None], tf.float32), tf.TensorSpec([], tf.int32)])
    def __call__(self, samples, sample_rate):
      tf.debugging.assert_equal(sample_rate, 16000, message="sample_rate was not passed")
      layer19 = tf.matmul(tf.signal.frame(samples, 160, 160), self.weights)
      return {"embedding": tf.reduce_mean(layer19, axis=1), "layer19": layer19}

  module = Trillish()
  tf.saved_model.save(module, str(folder))
  return module.weights.numpy()


def test_tfhub_handle_from_the_cache_with_rate_input_and_output_key(tmp_path, monkeypatch):
  handle = "https://tfhub.dev/google/nonsemantic-speech-benchmark/trillish/3"
  cache = tmp_path / "tfhub"
  weights = save_trillish(cache / hashlib.sha1(handle.encode()).hexdigest())
  monkeypatch.setenv("TFHUB_CACHE_DIR", str(cache))
  options = "#input=samples&rate_input=sample_rate&outputs=layer19"
  model = registry.get_model(f"tfhub:{handle}{options}")
  assert model.layers == ("layer19",)
  wave = clips(4000)[0]
  out = model.embed([wave], ("layer19",))["layer19"][0]
  np.testing.assert_allclose(out, wave.reshape(25, 160) @ weights, atol=1e-4)
  direct = registry.get_model(f"savedmodel:{cache / hashlib.sha1(handle.encode()).hexdigest()}{options}")
  assert direct.fingerprint == model.fingerprint  # the same SavedModel either way
  with pytest.raises(UserError, match=r"not in the TF Hub cache \(looked for .*tfhub/[0-9a-f]{40}"):
    registry.get_model("tfhub:https://tfhub.dev/google/yamnet/1")
  with pytest.raises(UserError, match="no SavedModel at"):
    registry.get_model(f"savedmodel:{tmp_path}")


def test_unbatched_savedmodel_with_tuple_outputs(tmp_path):
  """YAMNet-shaped: one 1-D waveform per call, returning a tuple (scores, embeddings)."""
  import tensorflow as tf

  class Yamnetish(tf.Module):

    @tf.function(input_signature=[tf.TensorSpec([None], tf.float32)])
    def __call__(self, waveform):
      frames = tf.signal.frame(waveform, 400, 400)
      return tf.nn.sigmoid(frames[:, :3]), tf.reduce_mean(tf.reshape(frames, [-1, 4, 100]), axis=2)

  tf.saved_model.save(Yamnetish(), str(tmp_path / "yamnetish"))
  model = registry.get_model(f"savedmodel:{tmp_path / 'yamnetish'}#batched=0")
  assert model.layers == ("output0", "output1")
  waves = clips(1200, 2000)
  out = model.embed(waves, ("output1",))["output1"]
  for wave, frames in zip(waves, out):
    np.testing.assert_allclose(frames, wave[:len(wave) // 400 * 400].reshape(-1, 4, 100).mean(axis=2), atol=1e-6)


# ---- HEAR API modules ------------------------------------------------------------------------------------

HEAR_MODULE = '''
import torch


class Model(torch.nn.Module):
  sample_rate = 8000
  scene_embedding_size = 4
  timestamp_embedding_size = 4

  def __init__(self):
    super().__init__()
    self.conv = torch.nn.Conv1d(1, 4, 80, stride=40)


def load_model(model_file_path=""):
  torch.manual_seed(0)
  model = Model()
  if model_file_path:
    model.load_state_dict(torch.load(model_file_path))
  return model


def get_timestamp_embeddings(audio, model):
  embeddings = model.conv(audio[:, None]).transpose(1, 2)
  timestamps = torch.arange(embeddings.shape[1])[None].repeat(audio.shape[0], 1) * 5.0 + 5.0
  return embeddings, timestamps
'''


def write_module(folder, name, source):
  (folder / f"{name}.py").write_text(textwrap.dedent(source))


def test_hear_module(tmp_path, monkeypatch):
  torch = pytest.importorskip("torch")
  monkeypatch.syspath_prepend(str(tmp_path))
  write_module(tmp_path, "nossbench_test_hear", HEAR_MODULE + '''

def get_scene_embeddings(audio, model):
  return get_timestamp_embeddings(audio, model)[0].mean(dim=1)
''')
  model = registry.get_model("hear:nossbench_test_hear")
  assert model.sample_rate == 8000 and model.layers == ("timestamp", "scene")
  waves = clips(800, 1200, 800)
  out = model.embed(waves, model.layers)
  with torch.no_grad():
    for index, wave in enumerate(waves):
      want = model.model.conv(torch.from_numpy(wave)[None, None])[0].T.numpy()
      assert out["timestamp"][index].shape == ((len(wave) - 80) // 40 + 1, 4)
      np.testing.assert_allclose(out["timestamp"][index], want, atol=1e-5)
      np.testing.assert_allclose(out["scene"][index], want.mean(axis=0)[None], atol=1e-5)

  weights = tmp_path / "weights.pt"
  state = model.model.state_dict()
  state["conv.bias"] = state["conv.bias"] + 1
  torch.save(state, weights)
  reweighted = registry.get_model(f"hear:nossbench_test_hear#weights={weights}")
  assert reweighted.fingerprint != model.fingerprint
  np.testing.assert_allclose(reweighted.embed(waves[:1], ("scene",))["scene"][0], out["scene"][0] + 1, atol=1e-5)


def test_hear_module_errors(tmp_path, monkeypatch):
  pytest.importorskip("torch")
  monkeypatch.syspath_prepend(str(tmp_path))
  write_module(tmp_path, "nossbench_test_hear_incomplete", HEAR_MODULE)
  with pytest.raises(UserError, match="does not follow the HEAR API: it lacks get_scene_embeddings"):
    registry.get_model("hear:nossbench_test_hear_incomplete")
  with pytest.raises(UserError, match="cannot import HEAR module 'nossbench_no_such_module'.*PYTHONPATH"):
    registry.get_model("hear:nossbench_no_such_module")
