"""User-supplied split lists (the Birdsong and TUT18 splits of Tagliasacchi et al. used by HARES).

HARES's README (github.com/google-deepmind/slowfast_nfnets) says these splits were made by Tagliasacchi
et al. from the development data and refers to the paper's appendix; no list files were published there,
and their code reads internal TFDS datasets (google-research/cola: `birdsong_detection`, `tut_2018`, not in
public TFDS). So the format here is ours, made to also read the common table layouts unchanged.

Files: `<manual_dir>/hares_splits/{train,validation,test}.txt`, UTF-8, in the grammar of `file_lists.py`
(shared with `prepare-splits --from-lists`; e.g. DCASE's `audio/<file>.wav<TAB><scene>` or
`itemid,datasetid,hasbird` tables read unchanged). A clip is named by its example id or its file name, with
or without extension and any folder prefix. A name that matches no clip or several, and a clip in two
lists are errors naming the file and line. Clips in no
list are left out of the task and listed in the dataset metadata (`unlisted`).
"""

from collections.abc import Mapping

from absl import logging
from etils import epath

from nossbench import UserError, file_lists
from nossbench.builders.sources import SPLITS, Clip, read_text

FOLDER = "hares_splits"


def find(manual_dir) -> epath.Path | None:
  """The lists folder, or None when the user supplied none."""
  folder = epath.Path(manual_dir) / FOLDER
  return folder if folder.is_dir() else None


def read_list(path: epath.Path) -> list[tuple[int, str]]:
  """(line number, clip name without extension) for every entry of one list file."""
  try:
    text = read_text(path, "HARES split list")
  except UserError as error:
    raise UserError(f"{error} Save the list as a UTF-8 text file. Accepted: {file_lists.FORMATS}.") from error
  return file_lists.entries(text, path)


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
