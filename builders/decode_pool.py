"""Decoding a generator split's Items in a pool of local worker processes.

Decoding (ffmpeg/libsndfile and resampling, `builders/audio.py`) is most of a build's time, and TFDS
consumes a GeneratorBasedBuilder's examples from one generator in one process; `generate` spreads the
decoding over processes and still yields in input order, so the dataset is the same for any worker count.
"""

import collections
import concurrent.futures
import gc
import itertools
import multiprocessing
import os
from collections.abc import Iterable, Iterator
from typing import Any

from nossbench.builders.bad_audio import Report, decode_or_reason, decode_or_skip
from nossbench.builders.items import Item, fetched


def default_workers() -> int:
  return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def _decode_chunk(items: list[Item]) -> list:
  return [decode_or_reason(item) for item in items]


def generate(items: Iterable[Item], report: Report, metadata, workers: int = 0, chunk: int = 8
             ) -> Iterator[tuple[str, dict[str, Any]]]:
  """Yields (key, example) for `items` in order, decoded by `workers` processes (0: one per CPU).

  Items travel to the workers `chunk` at a time (fewer round trips for short clips), and at most two
  chunks per worker are in flight, so memory stays flat however long `items` is; the split's report
  goes into `metadata` once the last example is out.
  """
  workers = workers or default_workers()

  def finish(item, result):
    return report.examples(decode_or_skip(item, report, result))

  if workers == 1:
    for item in items:
      yield from finish(item, None)
  else:
    # Fork: workers inherit the imported modules instead of importing TensorFlow again; with the parent's
    # objects frozen, the garbage collector does not write to (and so copy) their pages in the workers.
    context = multiprocessing.get_context("fork" if "fork" in multiprocessing.get_all_start_methods() else None)
    items = map(fetched, items)  # remote files are read here: gcsfs does not work after a fork
    gc.freeze()
    with concurrent.futures.ProcessPoolExecutor(workers, mp_context=context) as pool:
      pending = collections.deque()
      try:
        while batch := list(itertools.islice(items, chunk)):
          pending.append((batch, pool.submit(_decode_chunk, batch)))
          if len(pending) >= 2 * workers:
            batch, future = pending.popleft()
            for item, result in zip(batch, future.result()):
              yield from finish(item, result)
        while pending:
          batch, future = pending.popleft()
          for item, result in zip(batch, future.result()):
            yield from finish(item, result)
      finally:
        for _, future in pending:
          future.cancel()
        gc.unfreeze()
  metadata[report.key] = report.as_json()
