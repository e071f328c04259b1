"""Raw-layout readers, one module per source dataset, shared by the `noss` and `hares` builders.

A reader turns a user's download (manual_dir) into a sorted list of `Clip`s without decoding audio. A
dataset that both benchmarks build (VoxForge, VoxCeleb, Speech Commands) also has a `plan` function
returning one `Plan`, so the two builders cannot split, report or describe it differently.

Every metadata file (CSV/TSV/JSON/list) goes through `read_text` and every folder listing through
`walk`/`files_in`, so the whole class of broken inputs gets one answer: a UserError naming the file (and
line) and the fix, for a folder or a link to nothing where a file should be, an unreadable file, one over
MAX_TEXT_BYTES, text that is not UTF-8 (a binary behind a .csv name; `nossbench.userfiles`), a CSV line
cut short, malformed or with a field over csv's limit; and folders reached through symbolic links are
followed (clusters link data in).
"""

import csv
import dataclasses
import io
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

from etils import epath

from nossbench import UserError, speaker_shuffle, userfiles
from nossbench.builders.items import Item
from nossbench.tasks import SPLITS


MAX_TEXT_BYTES = 1 << 30  # the largest metadata file, AudioSet's unbalanced_train_segments.csv, is ~ 100 MB


@dataclasses.dataclass(frozen=True)
class Clip:
  example_id: str  # stable, derived from the file's path inside the dataset
  path: str  # where to read the audio from
  label: str
  speaker_id: str


@dataclasses.dataclass(frozen=True)
class MemberClip(Clip):
  member: str  # the file's name inside the zip archive at `path`


def clip_item(clip: Clip, features: dict[str, Any]) -> Item:
  """The Item decoding `clip` (a zip member for a MemberClip) into an example with `features`."""
  member = clip.member if isinstance(clip, MemberClip) else None
  return Item(clip.example_id, clip.path, features, member=member)


@dataclasses.dataclass
class Plan:
  """One source dataset's build, whichever benchmark builds it.

  Per split either `clips` (the builder makes their Items, with its own label encoding) or `units`: Items,
  or work units that the module-level `to_items` opens into Items (Beam). `absent`: files the dataset's
  lists name that the download lacks (the bad-audio policy decides). `metadata`: what the reader found or
  left out, under the same keys in noss and hares (e.g. `voxforge_after_cutoff`).
  """
  clips: dict[str, list[Clip]] | None = None
  units: dict[str, Iterable] | None = None
  to_items: Callable[[Any], Iterable[Item]] | None = None
  absent: dict[str, list[str]] = dataclasses.field(default_factory=dict)
  metadata: dict[str, Any] = dataclasses.field(default_factory=dict)


def assign_speakers(task: str, speakers: Iterable[str],
                    fractions: Sequence[tuple[str, float]] = speaker_shuffle.NOSS_FRACTIONS) -> dict[str, str]:
  """TFDS's speaker shuffle and cut (`speaker_shuffle.assign_speakers`); a split left empty is an error."""
  speaker_split = speaker_shuffle.assign_speakers(speakers, fractions)
  empty = [name for name, _ in fractions if name not in speaker_split.values()]
  if empty:
    raise UserError(
        f"{task}: {len(speaker_split)} speakers leave the {' and '.join(empty)} split empty under TFDS's cut at "
        f"cumulative fractions {list(fractions)} (e.g. 10 speakers cut at int(0.7999999999999999 * 10) = 7 give "
        "validation none); the full dataset has enough.")
  return speaker_split


def read_text(path, dataset: str) -> str:
  """The UTF-8 text of a metadata file, or a UserError naming the dataset and the file (see userfiles)."""
  try:
    return userfiles.read_text(path, MAX_TEXT_BYTES, "download it again (or restore it from the dataset's archive)")
  except UserError as error:
    raise UserError(f"{dataset}: {error}") from error


def csv_rows(path, dataset: str, text: str | None = None, **options) -> Iterator[tuple[int, list[str]]]:
  """(line number, fields) of every non-empty row of a CSV/TSV file; csv errors name the file and line."""
  reader = csv.reader(io.StringIO(read_text(path, dataset) if text is None else text), strict=True, **options)
  try:
    for row in reader:
      if row:
        yield reader.line_num, row
  except csv.Error as error:
    raise UserError(f"{dataset}: {path} line {reader.line_num} cannot be read as CSV ({error}); the file is "
                    "damaged: download it again.") from error


def inside(root, relative: str, dataset: str, where: str) -> epath.Path:
  """`root / relative` for a file path read from a dataset's metadata, refused when it could leave the
  dataset's folder (absolute, a drive, `..`): a hostile or corrupted table must not make a build read
  files elsewhere. `where` names the file and line."""
  parts = relative.replace("\\", "/").split("/")
  if not relative or relative.startswith(("/", "\\")) or ":" in parts[0] or ".." in parts:
    raise UserError(f"{dataset}: {where} names the file {relative!r}, which is not inside {root}; the dataset's "
                    "metadata names its files relative to its folder. Restore the file from the dataset archive.")
  return epath.Path(root) / relative


def csv_records(path, dataset: str, columns, **options) -> Iterator[tuple[int, dict[str, str]]]:
  """(line number, {column: value}) of every row of a CSV/TSV file with a header holding `columns`.

  A row with more or fewer fields than the header (e.g. a file cut short mid-line) is an error.
  """
  rows = csv_rows(path, dataset, **options)
  header = next(rows, (0, []))[1]
  missing = [c for c in columns if c not in header]
  if missing:
    raise UserError(f"{dataset}: {path} lacks the column(s) {', '.join(missing)} (its header: "
                    f"{', '.join(header[:8]) or 'none, the file is empty'}); expected {', '.join(columns)}; "
                    "download it again.")
  for line, row in rows:
    if len(row) != len(header):
      raise UserError(f"{dataset}: {path} line {line} has {len(row)} fields where the header has {len(header)}; "
                      "the file is damaged or cut short: download it again.")
    yield line, dict(zip(header, row))


def walk(folder, dataset: str) -> Iterator[tuple[epath.Path, list[str]]]:
  """(folder, sorted file names) for `folder` and everything below it, following symbolic links to folders
  (once each: a link loop is not followed twice); a folder that cannot be listed is an error."""
  folder = epath.Path(folder)

  def refuse(error):
    raise UserError(f"{dataset}: cannot list {error.filename} ({error.strerror}); make it readable.") from error

  if "://" in os.fspath(folder):  # gs:// and other remote folders: their links are the store's business
    for root, _, files in folder.walk(on_error=refuse):
      yield epath.Path(root), sorted(files)
    return
  visited = set()
  for root, folders, files in os.walk(os.fspath(folder), followlinks=True, onerror=refuse):
    real = os.path.realpath(root)
    if real in visited:
      folders[:] = []
      continue
    visited.add(real)
    folders.sort()
    yield epath.Path(root), sorted(files)


def files_in(folder, dataset: str) -> list[epath.Path]:
  """The entries of one folder, sorted; listing errors name it."""
  folder = epath.Path(folder)
  try:
    return sorted(folder.iterdir(), key=lambda p: p.name)
  except OSError as error:
    raise UserError(f"{dataset}: cannot list {folder} ({error.strerror or error}); make it readable.") from error
