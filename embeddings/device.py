"""`--device auto|cpu|gpu`, resolved per framework from what that framework reports.

Every model names the framework it runs on (`EmbeddingModel.framework`); the registry resolves the user's
choice here once, and the model receives `cpu` or `gpu`. `auto` takes the GPU when the framework sees one
and the CPU otherwise; `gpu` with none visible is a user error rather than a silent CPU run, so a paid
GPU worker that lost its driver fails loudly. The device is not part of a model's fingerprint: outputs
from either device share one cache entry.

On Dataflow, GPU workers need a container image with the CUDA build of the framework (torch,
onnxruntime-gpu, or tensorflow[and-cuda]) and `--dataflow_service_options=worker_accelerator=...`;
nothing here changes between CPU and GPU workers.
"""

from nossbench import UserError

CHOICES = ("auto", "cpu", "gpu")
FRAMEWORKS = ("tensorflow", "torch", "onnxruntime", "cpu-only")
ONNX_GPU_PROVIDER = "CUDAExecutionProvider"


def gpu_present(framework: str) -> bool:
  """Asks the framework itself whether it can use a GPU in this process; one not installed has none."""
  if framework not in FRAMEWORKS:
    raise ValueError(f"unknown framework {framework!r}; one of {', '.join(FRAMEWORKS)}")
  try:
    if framework == "tensorflow":
      import tensorflow as tf  # pylint: disable=import-outside-toplevel
      return bool(tf.config.list_physical_devices("GPU"))
    if framework == "torch":
      import torch  # pylint: disable=import-outside-toplevel
      return bool(torch.cuda.is_available())
    if framework == "onnxruntime":
      import onnxruntime  # pylint: disable=import-outside-toplevel
      return ONNX_GPU_PROVIDER in onnxruntime.get_available_providers()
  except ImportError:
    return False
  return False


def resolve(requested: str, framework: str, model: str = "this model", present: bool | None = None) -> str:
  """Returns `cpu` or `gpu`. `present` is what the framework reported (asked here when None)."""
  if requested not in CHOICES:
    raise UserError(f"unknown device {requested!r}; choose one of {', '.join(CHOICES)}")
  if requested == "cpu":
    return "cpu"
  if framework == "cpu-only":
    if requested == "gpu":
      raise UserError(f"{model} runs on the CPU only; use --device cpu or --device auto")
    return "cpu"
  if present is None:
    present = gpu_present(framework)
  if present:
    return "gpu"
  if requested == "gpu":
    raise UserError(
        f"--device gpu was requested for {model}, but {framework} sees no GPU in this process (no CUDA "
        f"device, or a CPU-only build of {framework}); install the GPU build and drivers, or use "
        "--device auto to fall back to the CPU")
  return "cpu"


def torch_device(resolved: str) -> str:
  return "cuda" if resolved == "gpu" else "cpu"


def tensorflow_device(resolved: str) -> str:
  """A tf.device() name. Lets TensorFlow grow GPU memory instead of taking all of it, so a torch or
  onnxruntime model can share the card with the TFDS reader."""
  if resolved != "gpu":
    return "/CPU:0"
  import tensorflow as tf  # pylint: disable=import-outside-toplevel
  for gpu in tf.config.list_physical_devices("GPU"):
    try:
      tf.config.experimental.set_memory_growth(gpu, True)
    except RuntimeError:  # already initialised: the setting cannot change any more
      pass
  return "/GPU:0"


def onnx_providers(resolved: str) -> list[str]:
  return [ONNX_GPU_PROVIDER, "CPUExecutionProvider"] if resolved == "gpu" else ["CPUExecutionProvider"]
