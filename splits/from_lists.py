"""Imports external split lists (official lists, or the Birdsong/TUT18 lists of Tagliasacchi et al.).

A list folder holds one file per split, `<split>.txt` (also .tsv, .csv or .lst), in the grammar of
`file_lists.py` (shared with the HARES lists a builder reads): one example per line, or a table whose first
field names it, by its example id or by its file's path, with or without folders and extension
(`ff1010bird/64486`, `64486.wav`, `audio/airport-barcelona-0-0-a.wav`). Every entry must name exactly one example, and no
example may be named twice: anything else is an error that lists the entries. Examples named in no list
go to `unlisted_split` when given, else they are left out and reported.
"""

import hashlib

import pandas as pd
from etils import epath

from nossbench import UserError, file_lists, userfiles

SUFFIXES = (".txt", ".tsv", ".csv", ".lst")
SHOWN = 10  # entries named in an error
MAX_LIST_BYTES = 1 << 30  # a list of every AudioSet clip is ~ 40 MB


def read_lists(folder) -> tuple[dict[str, tuple[str, str, list[tuple[int, str]]]], list[str]]:
  """({split: (file name, sha256, [(line number, entry)])}, names of the files that are not lists)."""
  folder = epath.Path(folder)
  if not folder.is_dir():
    raise UserError(f"--from-lists {folder}: no such folder; give the folder that holds train.txt, test.txt, ...")
  lists, ignored = {}, []
  try:
    paths = sorted(folder.iterdir(), key=lambda p: p.name)
  except OSError as error:
    raise UserError(f"--from-lists {folder}: cannot list it ({error.strerror or error}); make it readable.") from error
  for path in paths:
    if path.suffix.lower() not in SUFFIXES or path.name.startswith("."):
      ignored.append(path.name)
      continue
    if path.stem in lists:
      raise UserError(f"--from-lists {folder}: two lists for split {path.stem!r}; keep one.")
    fix = "give a UTF-8 text file with one example per line"
    try:
      data = userfiles.read_bytes(path, MAX_LIST_BYTES, fix)
      text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
      line = data[:error.start].count(b"\n") + 1
      raise UserError(f"--from-lists {path}: not UTF-8 text (line {line}: {error.reason}); save the list as "
                      "UTF-8.") from error
    except UserError as error:
      raise UserError(f"--from-lists: {error}") from error
    try:
      entries = file_lists.entries(text, path)
    except UserError as error:
      raise UserError(f"--from-lists {error}") from error
    lists[path.stem] = (path.name, hashlib.sha256(data).hexdigest(), entries)
  if not lists:
    raise UserError(f"--from-lists {folder}: no list files ({'/'.join(SUFFIXES)}) in it.")
  return lists, ignored


class _Matcher:
  """Finds the one example an entry names: its id, a path ending in its id, or a trailing part of its id."""

  def __init__(self, ids):
    self.ids = set(ids)
    self.by_tail = None  # built on first need: 'a/b/c' is reachable as 'b/c' and 'c'

  def match(self, entry: str) -> list[str]:
    parts = entry.strip("/").split("/")
    for start in range(len(parts)):
      candidate = "/".join(parts[start:])
      if candidate in self.ids:
        return [candidate]
    if self.by_tail is None:
      self.by_tail = {}
      for example_id in sorted(self.ids):
        pieces = example_id.split("/")
        for start in range(1, len(pieces)):
          self.by_tail.setdefault("/".join(pieces[start:]), []).append(example_id)
    return self.by_tail.get(entry.strip("/"), [])


def lists_split(table: pd.DataFrame, folder, unlisted_split: str | None = None) -> tuple[pd.DataFrame, dict]:
  """Returns (manifest rows with the lists' splits, a report: files, ignored files, unlisted examples)."""
  lists, ignored = read_lists(folder)
  matcher = _Matcher(table["example_id"])
  chosen, unknown, ambiguous, repeated = {}, [], [], []
  for split, (name, _, entries) in lists.items():
    for number, entry in entries:
      where = f"{name}:{number} {entry!r}"
      matches = matcher.match(entry)
      if not matches:
        unknown.append(where)
      elif len(matches) > 1:
        ambiguous.append(f"{where} ({', '.join(matches[:3])}{', ...' if len(matches) > 3 else ''})")
      elif matches[0] in chosen:
        repeated.append(f"{where} = {matches[0]}, already in {chosen[matches[0]]}")
      else:
        chosen[matches[0]] = split
  problems = [(unknown, "name no example of the dataset"), (ambiguous, "match several examples; use full ids"),
              (repeated, "name an example already listed")]
  if any(found for found, _ in problems):
    raise UserError(f"--from-lists {folder}: " + "; ".join(
        f"{len(found)} entries {what}: {', '.join(found[:SHOWN])}{' ...' if len(found) > SHOWN else ''}"
        for found, what in problems if found) + ". Check that the lists belong to this dataset and build.")
  split = table["example_id"].map(chosen)
  unlisted = sorted(table.loc[split.isna(), "example_id"])
  if unlisted_split:
    split = split.fillna(unlisted_split)
  rows = table.assign(split=split).dropna(subset=["split"]).reset_index(drop=True)
  report = {"lists": {name: {"entries": len(entries), "sha256": digest} for name, digest, entries in lists.values()},
            "ignored_files": ignored, "unlisted": len(unlisted), "unlisted_split": unlisted_split,
            "unlisted_examples": unlisted if not unlisted_split else []}
  return rows, report

