"""User-supplied split lists (the Birdsong and TUT18 splits of Tagliasacchi et al. used by HARES).

The lists are not public, so they are read from `<manual_dir>/hares_splits/{train,validation,test}.txt`
when the user has them: one clip per line, named by its example id or file name with or without folder
and extension (`ff1010bird/64486`, `64486.wav`, `audio/airport-barcelona-0-0-a.wav`); further
tab/comma-separated fields on a line, blank lines and `#` comments are ignored. A name that matches no
clip, or several, and a clip named in two lists are errors. Clips in no list are left out of the task and
listed in the dataset metadata.
"""

import re
from collections.abc import Mapping

from absl import logging
from etils import epath

from nossbench import UserError
from nossbench.builders.sources import Clip

FOLDER = "hares_splits"
SPLITS = ("train", "validation", "test")


def find(manual_dir) -> epath.Path | None:
  """The lists folder, or None when the user supplied none."""
  folder = epath.Path(manual_dir) / FOLDER
  return folder if folder.is_dir() else None


def _stem(name: str) -> str:
  return re.sub(r"\.(wav|flac|mp3|ogg)$", "", name.strip(), flags=re.IGNORECASE)


def read_lists(folder: epath.Path) -> dict[str, list[str]]:
  """split -> entries, for the three files (all must exist)."""
  absent = [f"{s}.txt" for s in SPLITS if not (folder / f"{s}.txt").exists()]
  if absent:
    raise UserError(f"{folder} holds split lists but not {', '.join(absent)}; supply train.txt, "
                    "validation.txt and test.txt, or remove the folder to use the documented fallback split.")
  lists = {}
  for split in SPLITS:
    text = (folder / f"{split}.txt").read_text()
    names = (re.split(r"[\t,]", line, maxsplit=1)[0].strip() for line in text.splitlines())
    lists[split] = [_stem(name) for name in names if name and not name.startswith("#")]
  return lists


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
    for entry in entries:
      matches = [entry] if entry in known else sorted(by_basename.get(entry.rsplit("/", 1)[-1], []))
      if len(matches) != 1:
        if matches:
          raise UserError(f"{task}: {folder / (split + '.txt')} entry {entry!r} matches several clips "
                          f"({', '.join(matches)}); name it by its full example id.")
        unknown.append(f"{split}.txt: {entry}")
        continue
      if matches[0] in chosen and chosen[matches[0]] != split:
        raise UserError(f"{task}: {matches[0]} is in both {chosen[matches[0]]}.txt and {split}.txt of {folder}.")
      chosen[matches[0]] = split
  if unknown:
    raise UserError(f"{task}: {len(unknown)} entries of the lists in {folder} name no clip of the dataset: "
                    f"{'; '.join(unknown[:5])}{' ...' if len(unknown) > 5 else ''}. Check that the lists belong to "
                    "this dataset and that its files are all there.")
  splits = {s: [present[i] for i in sorted(chosen) if chosen[i] == s and i in present] for s in SPLITS}
  absent_ids = {s: sorted(i for i in chosen if chosen[i] == s and i not in present) for s in SPLITS}
  unlisted = sorted(set(present) - set(chosen))
  if unlisted:
    logging.warning("%s: %d clips are in none of the lists in %s and are left out (listed in the dataset "
                    "metadata under 'unlisted')", task, len(unlisted), folder)
  return splits, absent_ids, unlisted
