"""Every use of TFDS internals (names outside its documented API) by the builders, in one place.

TFDS changes its internals between releases without notice; kept here, a release that moves one breaks
this module and its test (tests/test_builder_tfds_compat.py), which names what moved, instead of a build.
"""

from etils import epath


def manual_dir_or_none(dl_manager) -> epath.Path | None:
  """--manual_dir, or None when the user gave none or an empty one (TFDS raises AssertionError then)."""
  try:
    return dl_manager.manual_dir
  except AssertionError:
    return None
