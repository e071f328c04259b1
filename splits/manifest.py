"""Split manifests: one CSV per task and scheme, beside a JSON sidecar that records how it was made.

Layout: `<root>/<benchmark>/<task>/<scheme>.csv` and `<scheme>.json`. Tables hold `example_id`, `label`
(`labels` for multi-label tasks: names joined with ';'), `speaker_id`, `split` and the scheme's own
columns: `repeat` (intra_speaker, speaker_disjoint: one copy of the examples per repeat), `fold` and
`group` (kfold: one copy per fold, `split` test for that fold's examples). `trials` holds verification
pairs instead (`target, enrol_id, test_id`). Rows are sorted, so the same data and seed always give
byte-identical files (CSV, not Parquet, whose bytes change with the writer's version); the sidecar's
sha256 lets every reader detect a file that was edited or truncated since.
"""

import hashlib
import io
import json

import pandas as pd
from etils import epath

import nossbench
from nossbench import UserError
from nossbench.splits import examples

SCHEME_COLUMNS = {
    "canonical": [], "lists": [], "intra_speaker": ["repeat"], "speaker_disjoint": ["repeat"],
    "kfold": ["fold", "group"],
}
TRIAL_COLUMNS = ["target", "enrol_id", "test_id"]
INTEGER_COLUMNS = {"repeat", "fold", "target"}
CHUNK_ROWS = 100_000


def manifest_paths(root, task: str, scheme: str) -> tuple[epath.Path, epath.Path]:
  folder = epath.Path(root).joinpath(*task.split("/"))
  return folder / f"{scheme}.csv", folder / f"{scheme}.json"


def columns(scheme: str, label_column: str = "label") -> list[str]:
  if scheme == "trials":
    return TRIAL_COLUMNS
  return ["example_id", label_column, "speaker_id", "split"] + SCHEME_COLUMNS[scheme]


def write_manifest(root, task: str, scheme: str, table: pd.DataFrame, params: dict) -> epath.Path:
  """Writes the table (sorted, deterministic bytes) and then its sidecar; returns the table's path."""
  cols = columns(scheme, examples.label_column(table))
  table = table[cols]
  if scheme != "trials":  # trials keep the order of the official list
    order = SCHEME_COLUMNS[scheme][:1] + ["example_id"]
    table = table.sort_values(order, kind="stable", ignore_index=True)
  table_path, sidecar_path = manifest_paths(root, task, scheme)
  table_path.parent.mkdir(parents=True, exist_ok=True)
  digest = hashlib.sha256()
  with table_path.open("wb") as f:
    for start in range(0, max(len(table), 1), CHUNK_ROWS):  # in chunks, so memory does not grow with the table
      buffer = io.StringIO()
      table.iloc[start:start + CHUNK_ROWS].to_csv(buffer, index=False, header=start == 0, lineterminator="\n")
      data = buffer.getvalue().encode("utf-8")
      digest.update(data)
      f.write(data)
  sidecar = {
      "task": task, "scheme": scheme, "params": params, "seed": params.get("seed"),
      "nossbench_version": nossbench.__version__, "rows": len(table), "columns": cols,
      "table": table_path.name, "sha256": digest.hexdigest(),
  }
  sidecar_path.write_text(json.dumps(sidecar, indent=2, sort_keys=True) + "\n")
  return table_path


def read_sidecar(sidecar_path: epath.Path) -> dict:
  try:
    sidecar = json.loads(sidecar_path.read_text())
  except ValueError as error:
    raise UserError(f"{sidecar_path} is not valid JSON ({error}); write it again with prepare-splits.") from error
  missing = [k for k in ("task", "scheme", "columns", "sha256", "rows") if k not in sidecar]
  if missing:
    raise UserError(f"{sidecar_path} lacks {', '.join(missing)}: it was not written by prepare-splits. "
                    "Write it again with prepare-splits.")
  return sidecar


def read_manifest(root, task: str, scheme: str) -> tuple[pd.DataFrame, dict]:
  """Reads a manifest and its sidecar, refusing a table whose sha256 or shape no longer matches."""
  table_path, sidecar_path = manifest_paths(root, task, scheme)
  if not table_path.exists() or not sidecar_path.exists():
    raise UserError(f"no {scheme} manifest for {task} under {root} (expected {table_path} and "
                    f"{sidecar_path.name}). Write it with: prepare-splits {task} --data_dir <tfds data_dir> "
                    f"--out {root}")
  sidecar = read_sidecar(sidecar_path)
  data = table_path.read_bytes()
  if hashlib.sha256(data).hexdigest() != sidecar["sha256"]:
    raise UserError(f"{table_path} does not match the sha256 in {sidecar_path.name}: it was changed after "
                    "prepare-splits wrote it. Write it again with prepare-splits.")
  dtypes = {c: (int if c in INTEGER_COLUMNS else str) for c in sidecar["columns"]}
  table = pd.read_csv(io.BytesIO(data), dtype=dtypes, keep_default_na=False)
  if list(table.columns) != sidecar["columns"] or len(table) != sidecar["rows"]:
    raise UserError(f"{table_path} has columns {list(table.columns)} and {len(table)} rows but its sidecar "
                    f"says {sidecar['columns']} and {sidecar['rows']}. Write it again with prepare-splits.")
  return table, sidecar


def find_manifests(root) -> list[tuple[str, str]]:
  """(task, scheme) of every sidecar under root (`<benchmark>/<task>/<scheme>.json`), sorted."""
  return sorted((f"{p.parent.parent.name}/{p.parent.name}", p.stem) for p in epath.Path(root).glob("*/*/*.json"))
