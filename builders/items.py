"""One source file to decode (`Item`) and its decoding into examples (`decode_item`).

The unit every builder hands to generation, whichever way it runs (local pool or Beam): a builder lists
Items (or work units that open into Items) and never decodes audio itself, so one function decides what a
file becomes, windows included.
"""

import dataclasses
import os
from typing import Any

from nossbench import UserError, userfiles
from nossbench.builders import archives, audio


@dataclasses.dataclass(frozen=True)
class Item:
  """One source file. `path` is a local or gs:// file; with `member`, a member of the zip archive at `path`;
  with `data`, the file's bytes already read (a tar member) and `path`/`member` only name it. `features`
  are every feature except `example_id` and `audio`. `window=(length, hop)` in output samples cuts the
  decoded audio into windows (the last full one included) with example ids `<example_id>#<start sample>`.
  """
  example_id: str
  path: str
  features: dict[str, Any]
  member: str | None = None
  data: bytes | None = None
  window: tuple[int, int] | None = None

  @property
  def name(self) -> str:
    """How errors and reports name the file."""
    return f"{self.path}:{self.member}" if self.member else self.path


def read_item(item: Item) -> bytes:
  """The item's file (or archive member) bytes; audio.AudioDecodeError when it cannot be read. A folder,
  pipe, dangling link or oversized file is refused before anything is read."""
  try:
    if item.member:
      return archives.read_zip_member(item.path, item.member, audio.MAX_FILE_BYTES)
    return userfiles.read_bytes(item.path, audio.MAX_FILE_BYTES, "put the recording back")
  except (OSError, KeyError, UserError) as error:
    reason = error.reason if isinstance(error, archives.ArchiveError) else str(error).replace(f"{item.path} ", "")
    raise audio.AudioDecodeError(f"{item.name}: cannot be read ({reason})") from error


def fetched(item: Item) -> Item:
  """A remote (gs://, ...) item with its bytes read here, in the parent: the client epath uses for remote
  filesystems (gcsfs) refuses to work in a forked process. Local files are read by the workers."""
  if item.data is not None or "://" not in item.path:
    return item
  try:
    return dataclasses.replace(item, data=read_item(item))
  except audio.AudioDecodeError:
    return item  # the worker reports it, as for a local file


def decode_item(item: Item) -> list[tuple[str, dict[str, Any]]]:
  """Decodes one item into its (key, example) pairs; raises audio.AudioDecodeError for bad audio."""
  try:
    item.example_id.encode("utf-8")
  except UnicodeEncodeError as error:  # a file name in another encoding: TFDS could not store its id
    raise UserError(f"{os.fsencode(item.name)!r}: the file's name is not UTF-8, so its example id cannot be "
                    "stored; rename it in UTF-8 (e.g. `convmv -f latin1 -t utf8 --notest -r <folder>`).") from error
  data = item.data if item.data is not None else read_item(item)
  samples, rate = audio.read_audio(data, item.name)
  samples = audio.to_int16_mono(samples, rate)
  if item.window is None:
    return [(item.example_id, {"example_id": item.example_id, "audio": samples, **item.features})]
  length, hop = item.window
  if len(samples) < length:
    raise audio.AudioDecodeError(f"{item.name}: {len(samples)} samples, shorter than one {length}-sample window")
  examples = []
  for start in range(0, len(samples) - length + 1, hop):
    example_id = f"{item.example_id}#{start}"
    examples.append((example_id, {"example_id": example_id, "audio": samples[start:start + length],
                                  **item.features}))
  return examples
