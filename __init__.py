"""nossbench: the data side of the NOSS and HARES audio-representation benchmarks.

The repository's top-level folders (builders/, splits/, embeddings/, pipelines/, scoring/) are installed
as subpackages of this one import package. This module stays tiny: it is imported by every command,
including `score-submission`, which must not pull in TensorFlow.
"""

import functools
import logging
import os
import sys
import tempfile

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


VERBOSE_FLAGS = {"-v", "--verbose"}
_FRAMEWORK_LOG_TAIL = 4000  # characters of hidden framework output shown when a command fails internally


def quiet_frameworks():
  """Keeps TensorFlow's, absl's, gRPC's and Beam's own start-up and progress lines off the terminal.

  TensorFlow 2.21 writes through absl's C++ logging before it reads TF_CPP_MIN_LOG_LEVEL (oneDNN, CUDA
  probing, CPU features), so the only reliable way is at the file-descriptor level: descriptor 2 goes to a
  scratch file, while Python's sys.stderr (our messages, warnings, progress bars, tracebacks) keeps the
  real terminal. Returns the scratch file, so that an internal failure can show its tail."""
  os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
  os.environ.setdefault("GRPC_VERBOSITY", "ERROR")
  sys.stderr.flush()
  terminal = os.dup(2)
  hidden = tempfile.TemporaryFile()
  os.dup2(hidden.fileno(), 2)
  sys.stderr = open(terminal, "w", buffering=1, encoding=sys.stderr.encoding, errors="backslashreplace",
                    closefd=True)
  for name in ("absl", "apache_beam", "tensorflow", "h5py", "numexpr"):
    logging.getLogger(name).setLevel(logging.ERROR)
  return hidden


def command_line(main=None, *, quiet=True):
  """Wraps a console-script `main(argv)`: user errors exit 2 with their message, the rest exit 1.

  Run as a command (argv None), frameworks are quiet unless -v/--verbose is given (the command's parser
  takes it: `add_verbose_flag`); called from Python with an argv list, nothing about the process's output
  is changed. Long-running services pass quiet=False: their logs are theirs to route."""
  if main is None:
    return functools.partial(command_line, quiet=quiet)

  @functools.wraps(main)
  def wrapper(argv=None):
    hidden = None
    if quiet and argv is None and not VERBOSE_FLAGS & set(sys.argv[1:]):
      hidden = quiet_frameworks()
    try:
      return main(sys.argv[1:] if argv is None else argv) or 0
    except UserError as error:
      print(f"error: {error}", file=sys.stderr)
      return 2
    except Exception:
      if hidden is not None:
        hidden.seek(0, os.SEEK_END)
        hidden.seek(max(0, hidden.tell() - _FRAMEWORK_LOG_TAIL))
        tail = hidden.read().decode(errors="replace").strip()
        if tail:
          print(f"(framework output before the failure, hidden without -v; last lines:)\n{tail}", file=sys.stderr)
      raise

  return wrapper


def add_verbose_flag(parser):
  """The -v/--verbose flag every command takes (`command_line` reads it before parsing)."""
  parser.add_argument("-v", "--verbose", action="store_true",
                      help="also show what TensorFlow, absl and Beam print on their own (hidden by default)")
