"""The chosen probe's test predictions, kept beside the report so that results can be compared later
on the very same test examples (`--compare`) without refitting anything.

One `.npz` per task and protocol in `<report folder>/predictions/`, arrays only (read back with
allow_pickle=False): `example_id`, `label` (true), `predicted` (single-label), `score` (the positive
class's probability for binary tasks, every class's for multi-label ones), `part` (repeat or fold) and
`unit` (the resampled unit: speaker id or example id). Verification keeps `enrol_id`, `test_id`,
`target`, `score` and `unit` (the enrolment speaker). report.json names each file with its sha256.
"""

import dataclasses
import hashlib
import io

import numpy as np
from etils import epath

from nossbench import UserError

KEPT = "_kept"  # the in-memory entry of a result that holds its arrays until they are written
FOLDER = "predictions"


@dataclasses.dataclass(eq=False)
class Kept:
  """Arrays held by a result until they are written; equal when every array is (results compare by value)."""
  arrays: dict

  def __eq__(self, other):
    return isinstance(other, Kept) and self.arrays.keys() == other.arrays.keys() and all(
        np.array_equal(v, other.arrays[k]) for k, v in self.arrays.items())


def _plain(values) -> np.ndarray:
  """Text as fixed-width unicode: an object array would need pickle to be read back."""
  values = np.asarray(values)
  return values.astype(str) if values.dtype == object else values


def keep(**arrays) -> dict:
  return {KEPT: Kept({k: _plain(v) for k, v in arrays.items() if v is not None})}


def _arrays(result: dict) -> dict | None:
  """The result's kept arrays; for repeats or folds, every part's, concatenated with a `part` column."""
  if KEPT in result:
    return result.pop(KEPT).arrays
  parts = result.get("per_repeat") or result.get("per_fold") or []
  column = "repeat" if "per_repeat" in result else "fold"
  kept = [(p[column], p.pop(KEPT).arrays) for p in parts if KEPT in p]
  if not kept:
    return None
  merged = {k: np.concatenate([a[k] for _, a in kept]) for k in kept[0][1]}
  merged["part"] = np.concatenate([np.full(len(a["example_id"]), part) for part, a in kept])
  return merged


def write(record: dict, out_dir) -> None:
  """Moves the kept arrays of every result of a task record into files; the result names its file."""
  folder = epath.Path(out_dir) / FOLDER
  for result in record["results"]:
    arrays = _arrays(result)
    if arrays is None:
      continue
    folder.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    data = buffer.getvalue()
    name = f"{record['task'].replace('/', '__')}.{result['protocol']}.npz"
    (folder / name).write_bytes(data)
    result["predictions"] = {"file": f"{FOLDER}/{name}", "sha256": hashlib.sha256(data).hexdigest()}


def read(report_dir, result: dict) -> dict:
  """The arrays a result's predictions file holds, checked against the sha256 its report recorded."""
  entry = result.get("predictions")
  if not entry:
    raise UserError(f"the {result['protocol']} result in {report_dir} keeps no test predictions (written by an "
                    "older nossbench?): score the submission again to compare it")
  path = epath.Path(report_dir) / entry["file"]
  if not path.exists():
    raise UserError(f"{path} is missing: the report folder was copied without its predictions/ folder; copy it "
                    "whole or score the submission again")
  data = path.read_bytes()
  if hashlib.sha256(data).hexdigest() != entry["sha256"]:
    raise UserError(f"{path} does not match the sha256 its report.json records: it was changed after scoring; "
                    "score the submission again")
  with np.load(io.BytesIO(data), allow_pickle=False) as loaded:
    return {k: loaded[k] for k in loaded.files}
