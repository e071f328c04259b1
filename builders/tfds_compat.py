"""Every use of TFDS internals (names outside its documented API) by the builders, in one place.

TFDS changes its internals between releases without notice. Kept here, a release that moves one fails
`missing_internals` (run by tests/test_builder_tfds_compat.py), which names what moved and what depends
on it, instead of a build failing somewhere in the middle. setup.py pins the TFDS releases tested.
"""

import contextlib
import inspect
import tempfile

import tensorflow_datasets as tfds
from etils import epath


def manual_dir_or_none(dl_manager) -> epath.Path | None:
  """--manual_dir, or None when the user gave none or an empty one (TFDS raises AssertionError then)."""
  try:
    return dl_manager.manual_dir
  except AssertionError:
    return None


@contextlib.contextmanager
def writer_memory_limit(limit: int):
  """Caps the memory TFDS's writer holds a generator split in, for the duration of a build.

  TFDS 4.9 (tensorflow_datasets/core/shuffle.py, Shuffler) keeps the serialized examples of a split in a
  list until their size passes MAX_MEM_BUFFER_SIZE, 1 GB, then moves them to 1,000 bucket files by hashed
  key and later reads the buckets back one at a time, each sorted. Both ways yield the records sorted by
  the same hashed key into the same shards, so only where they wait changes, not the dataset. TFDS has
  no option for the limit (`disable_shuffling` still buffers, only orders by key instead of hash, and
  makes readers refuse shuffle_files), so this sets the module constant, and puts it back after.
  """
  from tensorflow_datasets.core import shuffle  # pylint: disable=import-outside-toplevel

  previous, shuffle.MAX_MEM_BUFFER_SIZE = shuffle.MAX_MEM_BUFFER_SIZE, limit
  try:
    yield
  finally:
    shuffle.MAX_MEM_BUFFER_SIZE = previous


class Builder(tfds.core.GeneratorBasedBuilder, skip_registration=True):
  """The two builder internals our base builder needs: options that survive pickling, and a context
  around the whole of download_and_prepare."""

  def keep_options(self, **options) -> None:
    """TFDS rebuilds a pickled builder (multi-process generation) from `_original_state`, the constructor's
    keyword arguments: builder options added by a subclass must be put there to survive."""
    self._original_state.update(options)

  def preparing(self) -> contextlib.AbstractContextManager:
    """Entered around the download and the generation of every split (override it)."""
    return contextlib.nullcontext()

  def _download_and_prepare(self, dl_manager, download_config):
    with self.preparing():
      super()._download_and_prepare(dl_manager, download_config)


def missing_internals() -> list[str]:
  """One sentence per TFDS internal this module relies on that the installed TFDS no longer has."""
  from tensorflow_datasets.core import shuffle  # pylint: disable=import-outside-toplevel

  where = f"tensorflow-datasets {tfds.__version__}"
  problems = []
  if not isinstance(getattr(shuffle, "MAX_MEM_BUFFER_SIZE", None), int):
    problems.append(f"{where} has no integer tensorflow_datasets.core.shuffle.MAX_MEM_BUFFER_SIZE: "
                    "writer_memory_limit cannot cap the writer's memory.")
  prepare = getattr(tfds.core.GeneratorBasedBuilder, "_download_and_prepare", None)
  if prepare is None or list(inspect.signature(prepare).parameters) != ["self", "dl_manager", "download_config"]:
    problems.append(f"{where} has no GeneratorBasedBuilder._download_and_prepare(self, dl_manager, "
                    "download_config): Builder.preparing is never entered.")
  if "_original_state" not in inspect.getsource(tfds.core.DatasetBuilder.__getstate__):
    problems.append(f"{where} no longer pickles a builder as its _original_state: Builder.keep_options "
                    "does not keep skip_bad_audio and decode_workers in multi-process generation.")
  with tempfile.TemporaryDirectory() as folder:
    manager = tfds.download.DownloadManager(download_dir=folder, manual_dir=None)
    try:
      manager.manual_dir  # pylint: disable=pointless-statement
      problems.append(f"{where} returns a manual_dir that the user did not give: manual_dir_or_none cannot "
                      "tell that Speech Commands must be downloaded.")
    except AssertionError:
      pass
    except Exception as error:  # pylint: disable=broad-except
      problems.append(f"{where} refuses a missing manual_dir with {type(error).__name__}, not AssertionError: "
                      "manual_dir_or_none must catch that instead.")
  return problems
