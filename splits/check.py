"""`prepare-splits --check M`: re-verifies every manifest under M and prints what each holds.

Violations (exit 2): a sha256 or shape mismatch, an example twice in one repeat or fold, repeats or folds
that do not hold the same examples, a kfold example in test in other than one fold, a speaker (or kfold
group) on both sides of a speaker-disjoint cut, trials naming examples the canonical manifest lacks.
Warnings: labels that a train split never shows but another split of the same cut does.
"""

import pandas as pd

from nossbench import UserError
from nossbench.splits import examples, intra_speaker, manifest

SHOWN = 5  # examples named per finding


def summary(table: pd.DataFrame, by: list[str]) -> str:
  """Rows, speakers and labels per split (and repeat or fold), as a small text table."""
  labels = examples.labelled(table, by)
  stats = pd.DataFrame({
      "rows": table.groupby(by, sort=True).size(),
      "speakers": table[table["speaker_id"] != ""].groupby(by, sort=True)["speaker_id"].nunique(),
      "labels": labels.groupby(by, sort=True)["label"].nunique(),
  }).fillna(0).astype(int)
  return stats.to_string()


def _named(values) -> str:
  values = sorted(set(map(str, values)))
  return ", ".join(values[:SHOWN]) + (f" ... ({len(values)} in all)" if len(values) > SHOWN else "")


def check_table(table: pd.DataFrame, scheme: str) -> tuple[list[str], list[str]]:
  """(violations, warnings) of one manifest table."""
  violations, warnings = [], []
  unit = manifest.SCHEME_COLUMNS[scheme][:1]
  units = table.groupby(unit, sort=True) if unit else [((None,), table)]
  reference = None
  for key, rows in units:
    where = f"{unit[0]} {key[0]}" if unit else "the table"
    duplicated = rows["example_id"][rows["example_id"].duplicated()]
    if len(duplicated):
      violations.append(f"{where}: examples in more than one row: {_named(duplicated)}")
    ids = frozenset(rows["example_id"])
    if reference is None:
      reference = (where, ids)
    elif ids != reference[1]:
      violations.append(f"{where} does not hold the examples of {reference[0]}: missing "
                        f"{_named(reference[1] - ids) or 'none'}; extra {_named(ids - reference[1]) or 'none'}")
    sides = {"speaker_disjoint": "speaker_id", "kfold": "group"}.get(scheme)
    if sides:
      keyed = rows[rows[sides] != ""]
      both = set(keyed.loc[keyed["split"] == "train", sides]) & set(keyed.loc[keyed["split"] != "train", sides])
      if both:
        violations.append(f"{where}: {sides} values in train and test: {_named(both)}")
    if scheme != "intra_speaker":
      warnings.extend(_labels_missing_from_train(rows, where))
  if scheme == "kfold":
    tests = table.loc[table["split"] == "test", "example_id"].value_counts()
    wrong = set(tests.index[tests != 1]) | (set(table["example_id"]) - set(tests.index))
    if wrong:
      violations.append(f"examples not in test in exactly one fold: {_named(wrong)}")
  if scheme == "intra_speaker":
    coverage = intra_speaker.label_coverage(table)
    if coverage["cuts_missing_a_test_label_in_train"]:
      warnings.append(f"{coverage['cuts_missing_a_test_label_in_train']} of {coverage['cuts']} speaker cuts have "
                      f"test labels their train part lacks (speakers {_named(coverage['speakers_with_gaps'])})")
  return violations, warnings


def _labels_missing_from_train(rows: pd.DataFrame, where: str) -> list[str]:
  labels = examples.labelled(rows, ["split"])
  train = set(labels.loc[labels["split"] == "train", "label"])
  found = []
  for split, named in labels[labels["split"] != "train"].groupby("split", sort=True)["label"]:
    missing = set(named) - train
    if missing:
      found.append(f"{where}: labels in {split} but not in train: {_named(missing)}")
  return found


def check_folder(root) -> list[str]:
  """Prints a summary per manifest and the warnings; returns the violations (empty when all is well)."""
  found = manifest.find_manifests(root)
  if not found:
    raise UserError(f"--check {root}: no manifests there (expected <benchmark>/<task>/<scheme>.json "
                    "sidecars, as prepare-splits --out writes them).")
  violations = []
  for task, scheme in found:
    name = f"{task} {scheme}"
    try:
      table, _ = manifest.read_manifest(root, task, scheme)
    except UserError as error:
      violations.append(f"{name}: {error}")
      continue
    if scheme == "trials":
      problems, notes = _check_trials(root, task, table), []
      print(f"\n{name}: {len(table)} trials, {int(table['target'].sum())} same-speaker")
    elif scheme in manifest.SCHEME_COLUMNS:
      problems, notes = check_table(table, scheme)
      print(f"\n{name}: {len(table)} rows")
      print(summary(table, manifest.SCHEME_COLUMNS[scheme][:1] + ["split"]))
    else:
      problems, notes = [f"unknown scheme {scheme!r}"], []
    violations.extend(f"{name}: {p}" for p in problems)
    for note in notes:
      print(f"warning: {name}: {note}")
  return violations


def _check_trials(root, task: str, table: pd.DataFrame) -> list[str]:
  problems = []
  if not table["target"].isin([0, 1]).all():
    problems.append(f"targets other than 0 and 1: {_named(table.loc[~table['target'].isin([0, 1]), 'target'])}")
  try:
    canonical, _ = manifest.read_manifest(root, task, "canonical")
  except UserError as error:
    return problems + [f"trial ids not checked: the canonical manifest beside them is unreadable ({error})"]
  known = set(canonical["example_id"])
  missing = (set(table["enrol_id"]) | set(table["test_id"])) - known
  if missing:
    problems.append(f"trial ids not in the canonical manifest: {_named(missing)}")
  return problems
