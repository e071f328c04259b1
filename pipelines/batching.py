"""Batches of clips of similar length, so that padding every clip to the batch's longest wastes little.

Clips are held in a window (WINDOW_BATCHES batches' worth of clips, or WINDOW_BATCHES x max_batch_samples
samples, whichever comes first), then sorted by length and cut into batches of consecutive clips: a batch
holds at most `batch_size` clips and `max_batch_samples` padded samples (which bounds memory on long
clips), and its longest clip is less than (1 + max_padding) times its shortest. Full batches leave at
once; partial ones wait for clips of their length until the window must make room, and whatever remains
is emitted at the end of the bundle. Sorting a window pads far less than bucketing lengths into fixed
ranges of max_padding did (benchmarks/RESULTS.md, embeddings pipeline).
Batching happens inside a bundle, after the read, so no audio is shuffled between workers.

`max_padding=0` batches only clips of identical length, for models that must not see padding
(`EmbeddingModel.pads`).
"""

import apache_beam as beam
from apache_beam.transforms import window

WINDOW_BATCHES = 16


class BatchBySimilarLength(beam.DoFn):
  """Groups elements into lists of similar `length_fn(element)`."""

  def __init__(self, length_fn, batch_size: int, max_padding: float, max_batch_samples: int):
    if batch_size < 1 or max_padding < 0 or max_batch_samples < 1:
      raise ValueError("batch_size and max_batch_samples must be >= 1 and max_padding >= 0")
    self.length_fn, self.batch_size = length_fn, batch_size
    self.max_padding, self.max_batch_samples = max_padding, max_batch_samples
    self.held, self.held_samples = [], 0

  def start_bundle(self):
    self.held, self.held_samples = [], 0  # [(length, arrival, element)]

  def process(self, element):
    length = self.length_fn(element)
    self.held.append((length, len(self.held), element))
    self.held_samples += length
    if len(self.held) >= WINDOW_BATCHES * self.batch_size or \
        self.held_samples >= WINDOW_BATCHES * self.max_batch_samples:
      yield from self._release(everything=False)

  def finish_bundle(self):
    for batch in self._release(everything=True):
      yield window.GlobalWindows.windowed_value(batch)

  def _release(self, everything: bool):
    """Every full batch; then partial ones, those with the most audio first, until the window is at most
    half full (or, at the end, empty). Each release frees half a window, so sorting costs O(log window) a clip."""
    batches = self._cut(sorted(self.held, key=lambda held: held[:2]))
    out = [batch for batch, full in batches if full]
    partial = sorted((batch for batch, full in batches if not full), key=lambda b: sum(h[0] for h in b), reverse=True)
    count, samples = len(self.held) - sum(map(len, out)), self.held_samples - sum(h[0] for b in out for h in b)
    while partial and (everything or count > WINDOW_BATCHES * self.batch_size // 2 or
                       samples > WINDOW_BATCHES * self.max_batch_samples // 2):
      batch = partial.pop(0)
      out.append(batch)
      count, samples = count - len(batch), samples - sum(h[0] for h in batch)
    kept = sorted((held for batch in partial for held in batch), key=lambda held: held[1])  # arrival order
    self.held = [(length, arrival, element) for arrival, (length, _, element) in enumerate(kept)]
    self.held_samples = samples
    for batch in out:
      yield [element for _, _, element in batch]

  def _cut(self, ordered):
    """Consecutive runs of length-sorted clips as [(batch, full)]: full when it holds batch_size clips or
    the next clip would pass max_batch_samples, not when the next clip is too long for max_padding."""
    batches, batch = [], []
    for held in ordered:
      length = held[0]
      if batch:
        shortest = batch[0][0]
        similar = length == shortest or length < (1 + self.max_padding) * shortest
        if not similar:
          batches.append((batch, False))
          batch = []
        elif length * (len(batch) + 1) > self.max_batch_samples:
          batches.append((batch, True))
          batch = []
      batch.append(held)
      if len(batch) == self.batch_size:
        batches.append((batch, True))
        batch = []
    if batch:
      batches.append((batch, False))
    return batches
