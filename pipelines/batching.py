"""Batches of clips of similar length, so that padding every clip to the batch's longest wastes little.

A clip of n samples falls in bucket floor(log(n) / log(1 + max_padding)): within a bucket the longest
clip is less than (1 + max_padding) times the shortest, so padding adds at most that fraction of compute.
A bucket is emitted when it holds `batch_size` clips or `max_batch_samples` padded samples (which bounds
memory on long clips), and whatever remains is emitted at the end of the bundle. Batching happens inside
a bundle, after the read, so no audio is shuffled between workers.

`max_padding=0` batches only clips of identical length, for models that must not see padding
(`EmbeddingModel.pads`). Lengths may then all differ, so at most `batch_size` buckets stay open: a new
length beyond that emits the oldest bucket, which bounds the clips held in memory.
"""

import math

import apache_beam as beam
from apache_beam.transforms import window


def bucket_of(num_samples: int, max_padding: float) -> int:
  if max_padding == 0:
    return num_samples
  return int(math.log(max(num_samples, 1)) // math.log1p(max_padding))


class BatchBySimilarLength(beam.DoFn):
  """Groups elements into lists of similar `length_fn(element)`."""

  def __init__(self, length_fn, batch_size: int, max_padding: float, max_batch_samples: int):
    if batch_size < 1 or max_padding < 0 or max_batch_samples < 1:
      raise ValueError("batch_size and max_batch_samples must be >= 1 and max_padding >= 0")
    self.length_fn, self.batch_size = length_fn, batch_size
    self.max_padding, self.max_batch_samples = max_padding, max_batch_samples
    self.buckets = {}

  def start_bundle(self):
    self.buckets = {}  # bucket -> (clips, longest clip's length)

  def process(self, element):
    length = self.length_fn(element)
    key = bucket_of(length, self.max_padding)
    if self.max_padding == 0 and key not in self.buckets and len(self.buckets) >= self.batch_size:
      yield self.buckets.pop(next(iter(self.buckets)))[0]  # the oldest open length
    batch, longest = self.buckets.get(key, ([], 0))
    if batch and max(longest, length) * (len(batch) + 1) > self.max_batch_samples:
      yield batch
      batch, longest = [], 0
    batch.append(element)
    longest = max(longest, length)
    if len(batch) >= self.batch_size:
      yield batch
      self.buckets.pop(key, None)
      return
    self.buckets[key] = (batch, longest)

  def finish_bundle(self):
    for key in sorted(self.buckets):
      batch, _ = self.buckets[key]
      if batch:
        yield window.GlobalWindows.windowed_value(batch)
    self.buckets = {}
