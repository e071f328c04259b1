"""The model zoo on short synthetic clips: frame counts, dims, padding of short clips, values checked
against the packages' own functions, and outputs that do not depend on the other clips of a batch."""

import importlib.util
import inspect
import json
import subprocess
import sys

import numpy as np
import pytest
import scipy.fft
from conftest import tone

from nossbench.embeddings import registry

RATE = 16000


def noise(seconds, seed=0, amplitude=0.3):
  return np.random.RandomState(seed).uniform(-amplitude, amplitude, int(seconds * RATE)).astype(np.float32)


def assert_batch_independent(model, waveforms, atol=1e-5):
  """Each clip's output in a batch of clips of different lengths equals its output alone."""
  batch = model.embed(waveforms, model.layers)
  for index, wave in enumerate(waveforms):
    alone = model.embed([wave], model.layers)
    for layer in model.layers:
      np.testing.assert_allclose(batch[layer][index], alone[layer][0], atol=atol, err_msg=layer)
  return batch


def assert_finite(outputs):
  for layer, clips in outputs.items():
    assert all(np.all(np.isfinite(c)) for c in clips), layer


def test_logmel_frames_and_batching():
  model = registry.get_model("logmel")
  waves = [noise(0.005), noise(0.5, 1), noise(1.234, 2)]
  out = assert_batch_independent(model, waves)
  assert [c.shape for c in out["logmel"]] == [(1, 64), (50, 64), (124, 64)]
  assert model.output_dims() == {"logmel": (64,)}


def test_mfcc_is_the_dct_of_logmel_frames():
  logmel = registry.get_model("logmel").embed([noise(0.3)], ("logmel",))["logmel"][0]
  mfcc = {n: registry.get_model(f"mfcc{n}") for n in (13, 20, 40)}
  outputs = {n: m.embed([noise(0.3)], ("mfcc",))["mfcc"][0] for n, m in mfcc.items()}
  expected = scipy.fft.dct(logmel.astype(np.float64), type=2, axis=-1) / np.sqrt(2 * logmel.shape[-1])
  for n, out in outputs.items():
    assert out.shape == (30, n)
    np.testing.assert_allclose(out, expected[:, :n], rtol=1e-4, atol=1e-3)
  assert len({m.fingerprint for m in mfcc.values()}) == 3


@pytest.mark.parametrize("name, dims, energy, pitch, expected_pitch", [
    ("opensmile_compare16", 6373, "pcm_RMSenergy_sma_amean", "F0final_sma_amean", 220),
    ("opensmile_egemaps", 88, "loudness_sma3_amean", "F0semitoneFrom27.5Hz_sma3nz_amean", 36)])
def test_opensmile_functionals(name, dims, energy, pitch, expected_pitch):
  if importlib.util.find_spec("opensmile") is None:  # not imported here: the model must import it first
    pytest.skip("opensmile is not installed: pip install 'nossbench[opensmile]'")
  import tensorflow as tf  # TensorFlow loaded first exports an FFT symbol openSMILE must not call
  tf.signal.rfft(np.zeros(64, np.float32)).numpy()
  model = registry.get_model(name)
  quiet, loud = tone(220, 0.5, amplitude=0.02), tone(220, 0.5, amplitude=0.5)
  out = model.embed([quiet, loud, tone(220, 0.03)], ("functionals",))["functionals"]
  assert [c.shape for c in out] == [(1, dims)] * 3  # one frame per clip; the 30 ms clip is padded
  assert_finite({"functionals": out})
  names = list(model.smile.feature_names)
  assert out[1][0, names.index(energy)] > 5 * out[0][0, names.index(energy)]
  assert out[1][0, names.index(pitch)] == pytest.approx(expected_pitch, rel=0.02)


@pytest.fixture(scope="module")
def resnetish():
  return registry.get_model("random_resnetish")


def test_random_resnetish_windows_layers_and_seed(resnetish):
  waves = [noise(0.2), noise(0.96, 1), noise(1.44, 2), noise(2.0, 3)]
  out = assert_batch_independent(resnetish, waves, atol=1e-3)
  assert [c.shape[0] for c in out["embedding"]] == [1, 1, 2, 3]  # 0.96 s windows every 0.48 s
  dims = resnetish.output_dims()
  assert dims["stem"] == (32,) and dims["block8"] == (256,) and dims["embedding"] == (512,)
  assert resnetish.layers[0] == "stem" and resnetish.layers[-1] == "embedding" and len(resnetish.layers) == 10
  assert_finite(out)
  assert not np.allclose(out["embedding"][2][0], out["embedding"][3][0])
  again = registry.get_model("random_resnetish")
  assert again.fingerprint == resnetish.fingerprint
  np.testing.assert_allclose(again.embed(waves[:1])["embedding"][0], out["embedding"][0], atol=1e-3)
  other = type(resnetish)(seed=1)
  assert other.fingerprint != resnetish.fingerprint


def weights_digest(model) -> str:
  """sha256 of the network's weights as drawn (shapes included)."""
  import hashlib  # pylint: disable=import-outside-toplevel  (also runs alone in the subprocess below)
  return hashlib.sha256(b"".join(repr(w.shape).encode() + w.tobytes() for w in model.network.get_weights())).hexdigest()


def test_random_resnetish_fingerprint_stands_for_its_drawn_weights(resnetish):
  """The fingerprint hashes what draws the weights (seed, code, library versions), not the weights: an
  equal fingerprint must mean equal weights, here drawn in another process, and none needs TensorFlow."""
  script = (inspect.getsource(weights_digest) + "import json, sys\nfrom nossbench.embeddings import registry\n"
            "model = registry.get_model('random_resnetish')\nfingerprint = model.fingerprint\n"
            "loaded = 'tensorflow' in sys.modules\n"
            "print(json.dumps([fingerprint, loaded, weights_digest(model)]))")
  result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
  fingerprint, loaded, drawn = json.loads(result.stdout.strip().splitlines()[-1])
  assert fingerprint == resnetish.fingerprint and not loaded
  assert drawn == weights_digest(resnetish)
  assert weights_digest(type(resnetish)(seed=1)) != drawn


def test_speech_embedding_frames_and_neighbour_independence():
  pytest.importorskip("onnxruntime")
  pytest.importorskip("openwakeword")
  model = registry.get_model("speech_embedding")
  quiet, loud, short = noise(1.0, amplitude=0.01), noise(2.0, 1), noise(0.2, 2)
  # The ONNX frontend's level floor spans its whole input: a quiet clip must not change beside a loud one.
  out = assert_batch_independent(model, [quiet, loud, short])
  assert [c.shape for c in out["melspectrogram"]] == [(97, 32), (197, 32), (76, 32)]
  assert [c.shape for c in out["embedding"]] == [(3, 96), (16, 96), (1, 96)]
  assert_finite(out)


def test_resemblyzer_matches_embed_utterance():
  pytest.importorskip("torch")
  resemblyzer = pytest.importorskip("resemblyzer")
  model = registry.get_model("resemblyzer")
  waves = [noise(0.5), noise(3.0, 1, amplitude=0.05), np.zeros(RATE // 2, np.float32)]
  out = assert_batch_independent(model, waves)
  assert [c.shape[0] for c in out["partial"]] == [1, 3, 1]
  assert all(c.shape == (1, 256) for c in out["utterance"])
  assert_finite(out)
  for wave, utterance in zip(waves[:2], out["utterance"]):
    normalized = resemblyzer.audio.normalize_volume(wave, -30, increase_only=True)
    np.testing.assert_allclose(utterance[0], model.encoder.embed_utterance(normalized), atol=1e-5)
    assert np.linalg.norm(utterance[0]) == pytest.approx(1, abs=1e-5)


def test_torchcrepe_pitch_layer_tracks_a_tone():
  pytest.importorskip("torch")
  torchcrepe = pytest.importorskip("torchcrepe")
  model = registry.get_model("torchcrepe_tiny")
  waves = [tone(440, 0.5), tone(196, 0.3), noise(0.01)]
  out = assert_batch_independent(model, waves)
  assert [c.shape[0] for c in out["pitch"]] == [11, 7, 1]  # 1 + n // 800
  assert model.output_dims() == {"conv1": (128,), "conv2": (16,), "conv3": (16,), "conv4": (16,),
                                 "conv5": (32,), "conv6": (64,), "pitch": (360,)}
  for wave, frequency in ((0, 440), (1, 196)):
    bins = out["pitch"][wave][2:-2].argmax(axis=1)  # frames away from the zero padding
    estimates = torchcrepe.convert.bins_to_frequency(__import__("torch").from_numpy(bins)).numpy()
    assert np.all(np.abs(1200 * np.log2(estimates / frequency)) < 50), estimates  # within half a semitone


def test_torchcrepe_full_layer_dims():
  pytest.importorskip("torchcrepe")
  model = registry.get_model("torchcrepe_full")
  out = model.embed([noise(0.04)], model.layers)
  assert {layer: c[0].shape for layer, c in out.items()} == {
      "conv1": (1, 1024), "conv2": (1, 128), "conv3": (1, 128), "conv4": (1, 128), "conv5": (1, 256),
      "conv6": (1, 512), "pitch": (1, 360)}
  assert model.fingerprint != registry.get_model("torchcrepe_tiny").fingerprint
