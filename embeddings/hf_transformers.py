"""`hf:MODEL[@REVISION][#dtype=float32|float16|bfloat16]`: Hugging Face speech transformers, every layer.

MODEL is a local folder (as `save_pretrained` writes it) or a Hub id; weights come from the local Hugging
Face cache or the Hub as `huggingface_hub` normally fetches them (`HF_HUB_OFFLINE=1` is honoured: an absent
model is then a user error that prints the `hf download` command). Model and feature extractor are
`transformers`' own (AutoModel, AutoFeatureExtractor); nothing of their code is copied here.

Layers, all from one forward pass (`output_hidden_states`): the input to the transformer stack (`conv` for
the waveform models: the projected output of the convolutional feature encoder with positional
convolution; `embeddings` for Whisper and AST: patch/conv embeddings plus positions), then `layer1` ...
`layerN` as transformers returns them (a family's final layer norm, where it has one, is in `layerN`).

How each family is batched and trimmed:
- wav2vec2, HuBERT, WavLM, data2vec-audio (raw waveform in, 20 ms frames): the feature extractor
  normalises each clip on its own length, and each clip keeps the frames `_get_feat_extract_output_lengths`
  gives for its own length. wav2vec2, HuBERT and WavLM with a layer-norm feature encoder
  (`feat_extract_norm == "layer"`) get padded batches with an attention mask: the mask zeroes padded
  frames before the positional convolution and hides them from attention, so padding never reaches the
  kept frames or the pooled vector (tested equal, up to float rounding, to each clip alone). Any other
  model runs a clip only with clips of identical length (`pads = False`; the pipeline then buckets by
  exact length): a group-norm feature encoder (`"group"`: wav2vec2-base, hubert-base, wavlm-base-plus)
  normalises over time, padding included, and data2vec-audio's stacked positional convolutions carry the
  zeroed padding back into the last frames, from where attention spreads it. Clips shorter than the
  encoder's receptive field (400 samples for the public checkpoints) are zero-padded to it.
- Whisper (encoder only): log-mel from Whisper's own feature extractor, always padded to its 30 s window
  as Whisper was trained (batch-mates cannot change a clip's output); only the encoder frames covering
  the clip are kept (`_get_feat_extract_output_lengths` of its mel frames, 20 ms each), not the frames of
  the padding. Longer clips are cut into consecutive 30 s windows whose kept frames are concatenated.
- AST (audio-spectrogram-transformer): Kaldi fbank from its feature extractor, padded to its window
  (`max_length` frames, 10.24 s by default) as AST always is; its tokens are a frequency x time grid of
  patches, so a frame here is one time column of the grid averaged over frequency (the two summary
  tokens are left out), kept while the column starts inside the clip. Longer clips are cut into windows.

Fingerprint: the sha256 of every weight and config file of the snapshot (hashed once per file: see
base.file_sha256), the resolved Hub revision, and the dtype. `dtype` other than float32 needs a GPU.
"""

import functools
import json
import os
import re
import warnings

import numpy as np
from etils import epath

from nossbench import UserError
from nossbench.embeddings import device as device_lib
from nossbench.embeddings.adapters import group_equal_lengths, split_spec
from nossbench.embeddings.base import EmbeddingModel, file_sha256, require

WAVEFORM_FAMILIES = ("wav2vec2", "hubert", "wavlm", "data2vec-audio")
MASKED_FAMILIES = ("wav2vec2", "hubert", "wavlm")
FAMILIES = WAVEFORM_FAMILIES + ("whisper", "audio-spectrogram-transformer")
DTYPES = ("float32", "float16", "bfloat16")
OPTIONS = {"dtype": "float32"}
AST_FRAME_SAMPLES, AST_HOP_SAMPLES = 400, 160  # its Kaldi fbank at 16 kHz: 25 ms frames every 10 ms
# The files of a snapshot that decide its outputs: weights and configs (not READMEs or tokenizers' vocab).
WEIGHT_FILES = re.compile(r".*\.(safetensors|bin|pt|pth|json)$")


def read_json(path: epath.Path, name: str) -> dict:
  try:
    return json.loads(path.read_text())
  except (OSError, ValueError) as error:
    raise UserError(f"{name}: cannot read {path} ({error}); a transformers audio model folder holds config.json "
                    "and preprocessor_config.json (save_pretrained of the model and its feature extractor)") from None


def fetch_command(repo_id: str, revision: str | None) -> str:
  return f"hf download {repo_id}" + (f" --revision {revision}" if revision else "")


def snapshot_folder(location: str, name: str) -> tuple[epath.Path, str]:
  """(local folder holding the model's files, revision) for a folder or `HUB_ID[@REVISION]`.

  Hub models are fetched with huggingface_hub's snapshot_download (its cache, its HF_HUB_OFFLINE), only
  the files transformers loads; the snapshot folder's name is the resolved commit."""
  if os.path.isdir(location):
    return epath.Path(location), ""
  repo_id, _, revision = location.partition("@")
  hub = require("huggingface_hub", name)
  try:
    folder = hub.snapshot_download(repo_id, revision=revision or None,
                                   allow_patterns=["*.json", "*.safetensors"])
    if not any(f.endswith(".safetensors") for f in os.listdir(folder)):  # older repos: PyTorch pickles only
      folder = hub.snapshot_download(repo_id, revision=revision or None, allow_patterns=["*.json", "*.bin"])
  except Exception as error:  # huggingface_hub raises many types: offline, not found, gated, network
    reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    raise UserError(
        f"{name}: the model {repo_id!r}{' at revision ' + revision if revision else ''} is neither a local "
        f"folder nor in the Hugging Face cache, and could not be fetched ({reason}). Fetch it with: "
        f"{fetch_command(repo_id, revision or None)} (on a machine with network; then copy "
        f"~/.cache/huggingface or set HF_HOME), or give the model's local folder.") from None
  return epath.Path(folder), epath.Path(folder).name


class HfTransformer(EmbeddingModel):
  """One `hf:` model: its family decides batching, trimming and layer names (module docstring)."""

  framework = "torch"
  kind = "hf"

  def __init__(self, spec: str, device: str = "cpu"):
    super().__init__(device)
    self.name = f"hf:{spec}"
    location, given = split_spec(spec)
    unknown = sorted(set(given) - set(OPTIONS))
    if unknown:
      raise UserError(f"{self.name}: unknown option {', '.join(unknown)}; hf takes {', '.join(OPTIONS)}")
    self.settings = {**OPTIONS, **given}
    if self.settings["dtype"] not in DTYPES:
      raise UserError(f"{self.name}: dtype {self.settings['dtype']!r}; choose one of {', '.join(DTYPES)}")
    self.folder, self.revision = snapshot_folder(location, self.name)
    self.location = location
    # Described from its JSON files alone: a fully cached rerun needs neither torch nor the weights.
    self.meta = read_json(self.folder / "config.json", self.name)
    self.family = self.meta.get("model_type")
    if self.family not in FAMILIES:
      raise UserError(f"{self.name}: model type {self.family!r} is not supported; hf: takes "
                      f"{', '.join(FAMILIES)}")
    self.sample_rate = int(read_json(self.folder / "preprocessor_config.json", self.name).get("sampling_rate", 16000))
    stack = "conv" if self.family in WAVEFORM_FAMILIES else "embeddings"
    depth = self.setting("encoder_layers" if self.family == "whisper" else "num_hidden_layers")
    self.layers = (stack,) + tuple(f"layer{i}" for i in range(1, int(depth) + 1))
    # Padding-invariant with a mask only where the module docstring says; others: equal lengths only.
    self.pads = (self.family in MASKED_FAMILIES and self.setting("feat_extract_norm") == "layer"
                 or self.family not in WAVEFORM_FAMILIES)

  def setting(self, key: str):
    """A config value as config.json holds it, or transformers' default for a key it leaves out."""
    return self.meta[key] if key in self.meta else getattr(self.hf_config, key)

  @functools.cached_property
  def hf_config(self):
    return require("transformers", self.name).AutoConfig.from_pretrained(str(self.folder))

  @functools.cached_property
  def extractor(self):
    return require("transformers", self.name).AutoFeatureExtractor.from_pretrained(str(self.folder))

  @functools.cached_property
  def model(self):
    """The torch module (Whisper: its encoder), on the device, loaded on first use."""
    self.check_device(self.device)
    torch = require("torch", self.name)
    transformers = require("transformers", self.name)
    with _quiet(transformers):
      model = transformers.AutoModel.from_pretrained(str(self.folder))
    model = (model.get_encoder() if self.family == "whisper" else model).eval()
    self.torch_device, self.dtype = device_lib.torch_device(self.device), getattr(torch, self.settings["dtype"])
    return model.to(self.torch_device, self.dtype)

  def check_device(self, device: str) -> None:
    """#dtype other than float32 needs a GPU. Checked on loading, not when the model is described: a
    launcher without a GPU describes it (layers, fingerprint) for GPU workers."""
    dtype = self.settings["dtype"]
    if dtype != "float32" and device != "gpu":
      raise UserError(
          f"{self.name}: #dtype={dtype} runs on GPUs only (half precision on CPUs is slow and inexact), and "
          f"this run's device is the CPU (--device cpu, or --device auto where torch sees no GPU). Drop "
          f"#dtype={dtype} to run in float32 on the CPU, or run with --device gpu (or auto) on a machine or "
          "on workers whose GPU torch sees.")

  @functools.cached_property
  def min_samples(self) -> int:
    if self.family in WAVEFORM_FAMILIES:
      return self._receptive_field()
    return AST_FRAME_SAMPLES if self.family == "audio-spectrogram-transformer" else 1

  # --- what the pipeline and the cache need -----------------------------------------------------------

  def identity(self) -> str:
    return self.kind

  def config(self) -> dict:
    return {"family": self.family, "revision": self.revision, "dtype": self.settings["dtype"],
            "pads": self.pads}

  def weights_digest(self) -> str:
    files = sorted(p for p in self.folder.glob("*") if p.is_file() and WEIGHT_FILES.fullmatch(p.name))
    return ",".join(f"{p.relative_to(self.folder)}={file_sha256(p)}" for p in files)

  def output_dims(self) -> dict[str, tuple[int, ...]]:
    size = self.setting("d_model" if self.family == "whisper" else "hidden_size")
    return {layer: (int(size),) for layer in self.layers}

  # --- running ----------------------------------------------------------------------------------------

  def embed(self, waveforms, layers=None):
    layers = self.check_layers(layers or self.layers)
    waves = [np.asarray(w, np.float32) for w in waveforms]
    if self.family in WAVEFORM_FAMILIES:
      groups = [list(range(len(waves)))] if self.pads else group_equal_lengths(waves)
      outputs = {layer: [None] * len(waves) for layer in layers}
      for group in groups:
        for layer, frames in self._waveform_batch([waves[i] for i in group], layers).items():
          for index, value in zip(group, frames):
            outputs[layer][index] = value
      return outputs
    return self._windowed(waves, layers)

  def _hidden_states(self, **inputs):
    import torch  # pylint: disable=import-outside-toplevel

    model = self.model  # loaded first: it sets torch_device and dtype
    inputs = {k: v.to(self.torch_device, self.dtype if v.is_floating_point() else v.dtype)
              for k, v in inputs.items()}
    with torch.inference_mode(), warnings.catch_warnings():
      # WavLM's masks, as transformers builds them; torch calls the mix deprecated, results are right
      warnings.filterwarnings("ignore", "Support for mismatched key_padding_mask", UserWarning)
      states = model(**inputs, output_hidden_states=True).hidden_states
    return dict(zip(self.layers, states))

  def _waveform_batch(self, waves, layers):
    import torch  # pylint: disable=import-outside-toplevel

    waves = [np.pad(w, (0, self.min_samples - len(w))) if len(w) < self.min_samples else w for w in waves]
    inputs = self.extractor(waves, sampling_rate=self.sample_rate, padding=True, return_attention_mask=True,
                            return_tensors="pt")
    passed = {"input_values": inputs["input_values"]}
    if self.pads and len(waves) > 1:
      passed["attention_mask"] = inputs["attention_mask"]
    states = self._hidden_states(**passed)
    lengths = torch.tensor([len(w) for w in waves])
    kept = self.model._get_feat_extract_output_lengths(lengths)  # pylint: disable=protected-access
    return {layer: [states[layer][row, :int(n)].float().cpu().numpy() for row, n in enumerate(kept)]
            for layer in layers}

  def _receptive_field(self) -> int:
    """Fewest samples that give one frame, from the model's own length formula."""
    import torch  # pylint: disable=import-outside-toplevel

    lengths = torch.arange(1, 4097)
    frames = self.model._get_feat_extract_output_lengths(lengths)  # pylint: disable=protected-access
    return int(lengths[frames >= 1][0])

  def _window_samples(self) -> int:
    if self.family == "whisper":
      return int(self.extractor.n_samples)
    # AST: max_length fbank frames of 10 ms (the extractor's Kaldi frame shift)
    return int(self.extractor.max_length * self.sample_rate // 100)

  def _windowed(self, waves, layers):
    """Whisper and AST: every clip cut into windows, all windows in one batch, frames trimmed to the
    audio and concatenated per clip."""
    import torch  # pylint: disable=import-outside-toplevel

    size = self._window_samples()
    pieces, owner = [], []
    for index, wave in enumerate(waves):
      for start in range(0, max(len(wave), 1), size):
        piece = wave[start:start + size]
        pieces.append(np.pad(piece, (0, max(self.min_samples - len(piece), 0))))
        owner.append(index)
    if self.family == "whisper":
      features = self.extractor(pieces, sampling_rate=self.sample_rate, return_tensors="pt")["input_features"]
      mel_frames = torch.tensor([max(len(p) // self.extractor.hop_length, 1) for p in pieces])
      # a piece shorter than one hop still has its one frame
      kept = self.model._get_feat_extract_output_lengths(mel_frames)  # pylint: disable=protected-access
    else:
      features = self.extractor(pieces, sampling_rate=self.sample_rate, return_tensors="pt")["input_values"]
      kept = [self._ast_columns(len(p)) for p in pieces]  # padded to one fbank frame at least
    states = self._hidden_states(**{"input_features" if self.family == "whisper" else "input_values": features})
    outputs = {layer: [[] for _ in waves] for layer in layers}
    for layer in layers:
      value = states[layer]
      if self.family != "whisper":
        value = self._ast_time_frames(value)
      value = value.float().cpu().numpy()
      for row, (index, n) in enumerate(zip(owner, kept)):
        outputs[layer][index].append(value[row, :int(n)])
    return {layer: [np.concatenate(parts) for parts in outputs[layer]] for layer in layers}

  def _ast_grid(self) -> tuple[int, int]:
    c = self.hf_config
    return ((c.num_mel_bins - c.patch_size) // c.frequency_stride + 1,
            (c.max_length - c.patch_size) // c.time_stride + 1)

  def _ast_time_frames(self, tokens):
    """[batch, 2 + F*T, D] (frequency-major patches after the two summary tokens) -> [batch, T, D]."""
    freq, time = self._ast_grid()
    return tokens[:, 2:].reshape(tokens.shape[0], freq, time, -1).mean(dim=1)

  def _ast_columns(self, samples: int) -> int:
    """Time columns of the patch grid that start inside a clip of `samples` (Kaldi fbank: 25 ms frames
    every 10 ms, no partial frame)."""
    fbank_frames = 1 + (samples - AST_FRAME_SAMPLES) // AST_HOP_SAMPLES
    _, time = self._ast_grid()
    return min(max(-(-fbank_frames // self.hf_config.time_stride), 1), time)


class _quiet:
  """Keeps transformers' loading chatter (unused decoder weights, progress bars) off the user's terminal."""

  def __init__(self, transformers):
    self.logging = transformers.utils.logging

  def __enter__(self):
    self.level = self.logging.get_verbosity()
    self.logging.set_verbosity_error()
    self.logging.disable_progress_bar()

  def __exit__(self, *exc):
    self.logging.set_verbosity(self.level)
    self.logging.enable_progress_bar()
