"""nossbench: the data side of the NOSS and HARES audio-representation benchmarks.

The repository's top-level folders (builders/, splits/, embeddings/, pipelines/, scoring/) are installed
as subpackages of this one import package. This module stays tiny: it is imported by every command,
including `score-submission`, which must not pull in TensorFlow.
"""

import functools
import os
import sys

__version__ = "0.1.0"

# TensorFlow's GCS filesystem has its endpoint compiled in (https://www.googleapis.com/storage/v1/) and
# no setting that points it at a GCS emulator; gcsfs honours STORAGE_EMULATOR_HOST. So where one is set,
# etils.epath reaches gs:// through gcsfs (epath's EPATH_USE_TF switch), and gcsfs leaves out its
# zonal-bucket probe, which asks the real Storage Control API.
if os.environ.get("STORAGE_EMULATOR_HOST"):
  os.environ.setdefault("EPATH_USE_TF", "false")
  os.environ.setdefault("GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT", "false")


class UserError(Exception):
  """Bad input from the user: reported as one paragraph, no traceback, exit code 2."""


def command_line(main):
  """Wraps a console-script `main(argv)`: user errors exit 2 with their message, the rest exit 1."""

  @functools.wraps(main)
  def wrapper(argv=None):
    try:
      return main(sys.argv[1:] if argv is None else argv) or 0
    except UserError as error:
      print(f"error: {error}", file=sys.stderr)
      return 2

  return wrapper
