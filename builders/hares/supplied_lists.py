"""User-supplied split lists (the Birdsong and TUT18 splits of Tagliasacchi et al. used by HARES).

HARES's README (github.com/google-deepmind/slowfast_nfnets) says these splits were made by Tagliasacchi
et al. from the development data and refers to the paper's appendix; no list files were published there,
and their code reads internal TFDS datasets (google-research/cola: `birdsong_detection`, `tut_2018`, not in
public TFDS). So the format here is ours, made to also read the common table layouts unchanged.

Files: `<manual_dir>/hares_splits/{train,validation,test}.txt`, UTF-8. Accepted lines:
- one clip per line, or a table whose first field is the clip: fields separated by tabs, commas,
  semicolons or spaces (e.g. DCASE's `audio/<file>.wav<TAB><scene>`, or `itemid,datasetid,hasbird`);
  a field may be double-quoted; further fields are ignored;
- a header as the first line, when its first field is one of HEADER_FIELDS; blank lines; `#` comments.
A clip is named by its example id or its file name, with or without extension and any folder prefix
(`ff1010bird/64486`, `64486.wav`, `audio/airport-barcelona-0-0-a.wav`, `C:\\data\\wav\\64486.wav`).
A line from which no name can be read (e.g. starting with a separator, an unbalanced quote), a name that
matches no clip or several, and a clip in two lists are errors naming the file and line. Clips in no
list are left out of the task and listed in the dataset metadata (`unlisted`).
"""

import re
from collections.abc import Mapping

from absl import logging
from etils import epath

from nossbench import UserError
from nossbench.builders.sources import SPLITS, Clip, read_text

FOLDER = "hares_splits"
HEADER_FIELDS = frozenset({"itemid", "item_id", "filename", "file_name", "file", "path", "example_id", "id", "name",
                           "clip"})
FORMATS = ("one clip per line, or a table whose first field (up to a tab, comma, semicolon or space; may be "
           "double-quoted) names the clip by example id or file name; an optional header line; blank lines and "
           "# comments")
_ENTRY = re.compile(r'\s*(?:"(?P<quoted>[^"]+)"|(?P<plain>[^\s,;"]+))\s*(?:[,;\s].*)?')


def find(manual_dir) -> epath.Path | None:
  """The lists folder, or None when the user supplied none."""
  folder = epath.Path(manual_dir) / FOLDER
  return folder if folder.is_dir() else None


def _stem(name: str) -> str:
  return re.sub(r"\.(wav|flac|mp3|ogg)$", "", name.replace("\\", "/"), flags=re.IGNORECASE)


def read_list(path: epath.Path) -> list[tuple[int, str]]:
  """(line number, clip name without extension) for every entry of one list file."""
  try:
    text = read_text(path, "HARES split list")
  except UserError as error:
    raise UserError(f"{error} Save the list as a UTF-8 text file. Accepted: {FORMATS}.") from error
  entries = []
  for number, line in enumerate(text.splitlines(), start=1):
    if not line.strip() or line.lstrip().startswith("#"):
      continue
    match = _ENTRY.fullmatch(line)
    if not match:
      raise UserError(f"{path} line {number}: cannot read a clip name from {line!r}. Accepted: {FORMATS}.")
    name = match["quoted"] or match["plain"]
    if not entries and name.strip().lower() in HEADER_FIELDS:
      continue  # a header
    entries.append((number, _stem(name.strip())))
  return entries


def read_lists(folder: epath.Path) -> dict[str, list[tuple[int, str]]]:
  """split -> (line number, entry), for the three files (all must exist)."""
  absent = [f"{s}.txt" for s in SPLITS if not (folder / f"{s}.txt").exists()]
  if absent:
    raise UserError(f"{folder} holds split lists but not {', '.join(absent)}; supply train.txt, "
                    "validation.txt and test.txt, or remove the folder to use the documented fallback split.")
  return {split: read_list(folder / f"{split}.txt") for split in SPLITS}


def apply(task: str, folder: epath.Path, clips: list[Clip], absent: Mapping[str, list[str]] = None
          ) -> tuple[dict[str, list[Clip]], dict[str, list[str]], list[str]]:
  """Partitions `clips` (and the ids of `absent` files) by the lists in `folder`.

  Returns (clips per split, absent ids per split, ids of the clips in no list).
  """
  present = {c.example_id: c for c in clips}
  known = set(present) | {i for ids in (absent or {}).values() for i in ids}
  by_basename = {}
  for example_id in known:
    by_basename.setdefault(example_id.rsplit("/", 1)[-1], []).append(example_id)
  chosen, unknown = {}, []
  for split, entries in read_lists(folder).items():
    for number, entry in entries:
      matches = [entry] if entry in known else sorted(by_basename.get(entry.rsplit("/", 1)[-1], []))
      if len(matches) != 1:
        if matches:
          raise UserError(f"{task}: {folder / (split + '.txt')} line {number}: {entry!r} matches several clips "
                          f"({', '.join(matches)}); name it by its full example id.")
        unknown.append(f"{split}.txt line {number}: {entry}")
        continue
      if matches[0] in chosen:
        where = "twice in" if chosen[matches[0]][0] == split else f"in both {chosen[matches[0]][0]}.txt and"
        raise UserError(f"{task}: {matches[0]} is {where} {split}.txt of {folder} (line {number}); keep one entry.")
      chosen[matches[0]] = (split, number)
  if unknown:
    raise UserError(f"{task}: {len(unknown)} entries of the lists in {folder} name no clip of the dataset: "
                    f"{'; '.join(unknown[:5])}{' ...' if len(unknown) > 5 else ''}. Check that the lists belong to "
                    "this dataset and that its files are all there.")
  chosen = {example_id: split for example_id, (split, _) in chosen.items()}
  splits = {s: [present[i] for i in sorted(chosen) if chosen[i] == s and i in present] for s in SPLITS}
  absent_ids = {s: sorted(i for i in chosen if chosen[i] == s and i not in present) for s in SPLITS}
  unlisted = sorted(set(present) - set(chosen))
  if unlisted:
    logging.warning("%s: %d clips are in none of the lists in %s and are left out (listed in the dataset "
                    "metadata under 'unlisted')", task, len(unlisted), folder)
  return splits, absent_ids, unlisted
