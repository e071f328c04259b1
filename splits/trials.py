"""Verification trials (VoxCeleb1's veri_test.txt): pairs of examples scored same/different speaker.

The noss/voxceleb builder stores them in its metadata as [target 0/1, enrol example id, test example
id]; they become the `trials` manifest, in the official order, once every id is found in the dataset.
"""

import pandas as pd

from nossbench import UserError

SHOWN = 10


def trials_table(trials, example_ids, task: str) -> pd.DataFrame:
  """Returns the trials as a table (target, enrol_id, test_id); malformed rows and unknown ids are errors."""
  if not isinstance(trials, (list, tuple)):
    raise UserError(f"{task}: the metadata's verification_trials is a {type(trials).__name__}, not a list of "
                    "[target, enrol id, test id]; rebuild the dataset with this version of nossbench.")
  malformed = [i for i, row in enumerate(trials)
               if not (isinstance(row, (list, tuple)) and len(row) == 3 and row[0] in (0, 1)
                       and all(isinstance(x, str) and x for x in row[1:]))]
  if malformed:
    raise UserError(f"{task}: verification_trials rows {', '.join(map(str, malformed[:SHOWN]))} "
                    f"({len(malformed)} in all, e.g. {trials[malformed[0]]!r}) are not [0 or 1, enrol id, test id]; "
                    "rebuild the dataset with this version of nossbench.")
  table = pd.DataFrame([(int(t), e, s) for t, e, s in trials], columns=["target", "enrol_id", "test_id"])
  known = set(example_ids)
  missing = sorted({i for column in ("enrol_id", "test_id") for i in table[column] if i not in known})
  if missing:
    raise UserError(f"{task}: {len(missing)} example ids named by verification_trials are not in the dataset: "
                    f"{', '.join(missing[:SHOWN])}{' ...' if len(missing) > SHOWN else ''}. Rebuild the dataset "
                    "with every file of veri_test.txt in manual_dir.")
  return table
