"""`random_resnetish`: the NOSS paper's randomly initialised network, a ResNet-ish CNN on TRILL's input
(64-band log-mel, 96 frames = 0.96 s windows) whose weights are drawn once from a fixed seed and never
trained. It shows how much of a benchmark's score the architecture alone explains.

Written in Keras because TensorFlow is already a base dependency (no extra to install), TRILL and the
paper's baselines are TensorFlow models, and the `logmel` frontend (tf.signal) then runs in the same
framework and on the same device as the network. Keras initializers given integer seeds draw the same
weights on every machine and run: the weights are a function of the seed, this file and the Keras and
TensorFlow versions, so the fingerprint hashes those (`weights_digest`) and the network is only built when
it first runs. A fully cached rerun then needs no TensorFlow at all (importing it and building the network
take longer than the rest of such a run).

Network: a 3x3 stride-2 stem, four stages of two basic residual blocks (32, 64, 128, 256 channels;
stages 2-4 halve time and frequency), global average pooling and a 512-unit linear embedding: 3.2 M
parameters. Untrained batch normalisation is the identity at inference, so there is none.

Frames: windows of 96 log-mel frames every 48 frames (0.48 s); a trailing part shorter than a window is
dropped, except that a clip shorter than 0.96 s is zero-padded at the end to one full window. Each
`stem`/`blockN` layer is that block's output averaged over the window's time and frequency positions
(one value per channel); `embedding` is the final 512-dim vector.
"""

import functools
import hashlib
import importlib.metadata
import json

import numpy as np

from nossbench.embeddings import device as device_lib
from nossbench.embeddings.base import EmbeddingModel, stack_padded
from nossbench.embeddings.logmel import LogMel

WINDOW_FRAMES = 96
HOP_FRAMES = 48
WIDTHS = (32, 64, 128, 256)
BLOCKS_PER_STAGE = 2
EMBEDDING_SIZE = 512
CHUNK_WINDOWS = 256  # windows per forward call: bounds memory on long clips


def build_network(seed: int, num_mel_bins: int):
  """The Keras model: [windows, 96, bins] log-mel -> {layer: [windows, dims]}."""
  import keras  # pylint: disable=import-outside-toplevel

  seeds = iter(range(seed * 1000, seed * 1000 + 1000))

  def conv(width, kernel, strides, name, activation=None):
    return keras.layers.Conv2D(width, kernel, strides=strides, padding="same", activation=activation,
                               kernel_initializer=keras.initializers.HeNormal(seed=next(seeds)), name=name)

  inputs = keras.Input((WINDOW_FRAMES, num_mel_bins), name="logmel")
  x = conv(WIDTHS[0], 3, 2, "stem", "relu")(keras.layers.Reshape((WINDOW_FRAMES, num_mel_bins, 1))(inputs))
  pooled = {"stem": keras.layers.GlobalAveragePooling2D(name="stem_mean")(x)}
  block = 0
  for stage, width in enumerate(WIDTHS):
    for index in range(BLOCKS_PER_STAGE):
      block += 1
      strides = 2 if stage > 0 and index == 0 else 1
      y = conv(width, 3, strides, f"block{block}_conv1", "relu")(x)
      y = conv(width, 3, 1, f"block{block}_conv2")(y)
      shortcut = x if strides == 1 and x.shape[-1] == width else conv(width, 1, strides, f"block{block}_proj")(x)
      x = keras.layers.ReLU(name=f"block{block}")(keras.layers.Add()([y, shortcut]))
      pooled[f"block{block}"] = keras.layers.GlobalAveragePooling2D(name=f"block{block}_mean")(x)
  pooled["embedding"] = keras.layers.Dense(
      EMBEDDING_SIZE, kernel_initializer=keras.initializers.GlorotUniform(seed=next(seeds)),
      name="embedding")(keras.layers.GlobalAveragePooling2D()(x))
  return keras.Model(inputs, pooled, name="random_resnetish")


class RandomResNetish(EmbeddingModel):
  name = "random_resnetish"
  sample_rate = 16000
  layers = ("stem",) + tuple(f"block{i + 1}" for i in range(len(WIDTHS) * BLOCKS_PER_STAGE)) + ("embedding",)
  framework = "tensorflow"

  def __init__(self, device: str = "cpu", seed: int = 0):
    super().__init__(device)
    self.seed = seed
    self.frontend = LogMel(device)

  @functools.cached_property
  def tf_device(self) -> str:
    return device_lib.tensorflow_device(self.device)

  @functools.cached_property
  def network(self):
    import tensorflow as tf  # pylint: disable=import-outside-toplevel

    with tf.device(self.tf_device):
      return build_network(self.seed, self.frontend.num_mel_bins)

  @functools.cached_property
  def forward(self):
    import tensorflow as tf  # pylint: disable=import-outside-toplevel

    return tf.function(lambda windows: self.network(windows, training=False),
                       input_signature=[tf.TensorSpec([None, WINDOW_FRAMES, self.frontend.num_mel_bins], tf.float32)])

  def config(self) -> dict:
    return {"frontend": self.frontend.config(), "seed": self.seed, "window_frames": WINDOW_FRAMES,
            "hop_frames": HOP_FRAMES, "widths": WIDTHS, "blocks_per_stage": BLOCKS_PER_STAGE,
            "embedding_size": EMBEDDING_SIZE, "layer_pooling": "mean over window positions"}

  def weights_digest(self) -> str:
    """sha256 of what draws the weights: this file's code and the Keras and TensorFlow versions (the seed
    is in the config). Equal digests give equal weights (tested), without building the network."""
    with open(__file__, "rb") as source:
      code = hashlib.sha256(source.read()).hexdigest()
    versions = {package: importlib.metadata.version(package) for package in ("keras", "tensorflow")}
    return hashlib.sha256(json.dumps({"code": code, **versions}, sort_keys=True).encode("utf-8")).hexdigest()

  def embed(self, waveforms, layers=None):
    import tensorflow as tf  # pylint: disable=import-outside-toplevel

    layers = self.check_layers(layers or self.layers)
    window_samples = WINDOW_FRAMES * self.frontend.frame_step
    with tf.device(self.tf_device):
      logmel = self.frontend.log_mel(stack_padded(waveforms, window_samples)).numpy()
      windows, counts = [], []
      for row, wave in enumerate(waveforms):
        frames = self.frontend.num_frames(max(len(wave), window_samples))
        starts = range(0, frames - WINDOW_FRAMES + 1, HOP_FRAMES)
        windows.extend(logmel[row, start:start + WINDOW_FRAMES] for start in starts)
        counts.append(len(starts))
      windows = np.stack(windows)
      outputs = {layer: [] for layer in layers}
      for start in range(0, len(windows), CHUNK_WINDOWS):
        result = self.forward(tf.constant(windows[start:start + CHUNK_WINDOWS]))
        for layer in layers:
          outputs[layer].append(result[layer].numpy())
    bounds = np.cumsum([0] + counts)
    return {layer: [np.concatenate(outputs[layer])[bounds[i]:bounds[i + 1]] for i in range(len(waveforms))]
            for layer in layers}
