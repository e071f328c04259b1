"""Split manifests: one CSV per task and scheme, beside a JSON sidecar that records how it was made.

Layout: `<root>/<benchmark>/<task>/<scheme>.csv` and `<scheme>.json`. Tables hold `example_id`, `label`
(`labels` for multi-label tasks: names joined with ';'), `speaker_id`, `split` and the scheme's own
columns: `repeat` (intra_speaker, speaker_disjoint: one copy of the examples per repeat), `fold` and
`group` (kfold: one copy per fold, `split` test for that fold's examples). `trials` holds verification
pairs instead (`target, enrol_id, test_id`). Rows are sorted, so the same data and seed always give
byte-identical files (CSV, not Parquet, whose bytes change with the writer's version); the sidecar's
sha256 lets every reader detect a file that was edited or truncated since.

Hostile or broken manifests are UserErrors naming the file: a sidecar that is not a JSON object with
the expected field types, over MAX_SIDECAR_BYTES, a folder, unreadable or not UTF-8; a table whose
sha256 (streamed, so memory stays flat however large the file) differs from its sidecar's, or which,
matching it, still does not parse into the columns and rows the sidecar declares.
"""

import hashlib
import io
import json

import pandas as pd
from etils import epath

import nossbench
from nossbench import UserError, tasks, userfiles

SCHEME_COLUMNS = {
    "canonical": [], "lists": [], "intra_speaker": ["repeat"], "speaker_disjoint": ["repeat"],
    "kfold": ["fold", "group"],
}
TRIAL_COLUMNS = ["target", "enrol_id", "test_id"]
INTEGER_COLUMNS = {"repeat", "fold", "target"}
CHUNK_ROWS = 100_000
MAX_SIDECAR_BYTES = 256 << 20  # a lists sidecar names its unlisted examples: tens of MB for AudioSet
REWRITE = "write it again with prepare-splits"


def manifest_paths(root, task: str, scheme: str) -> tuple[epath.Path, epath.Path]:
  folder = tasks.manifest_folder(root, task)
  return folder / f"{scheme}.csv", folder / f"{scheme}.json"


def columns(scheme: str, label_column: str = "label") -> list[str]:
  if scheme == "trials":
    return TRIAL_COLUMNS
  return ["example_id", label_column, "speaker_id", "split"] + SCHEME_COLUMNS[scheme]


def write_manifest(root, task: str, scheme: str, table: pd.DataFrame, params: dict) -> epath.Path:
  """Writes the table (sorted, deterministic bytes) and then its sidecar; returns the table's path."""
  cols = columns(scheme, tasks.label_column(table))
  table = table[cols]
  if scheme != "trials":  # trials keep the order of the official list
    order = SCHEME_COLUMNS[scheme][:1] + ["example_id"]
    table = table.sort_values(order, kind="stable", ignore_index=True)
  table_path, sidecar_path = manifest_paths(root, task, scheme)
  try:
    table_path.parent.mkdir(parents=True, exist_ok=True)
  except OSError as error:
    raise UserError(f"cannot create the folder {table_path.parent} ({error.strerror or error}); choose an --out "
                    "folder you can write to.") from error
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


SIDECAR_FIELDS = {"task": str, "scheme": str, "columns": list, "sha256": str, "rows": int}


def read_sidecar(sidecar_path: epath.Path) -> dict:
  text = userfiles.read_text(sidecar_path, MAX_SIDECAR_BYTES, REWRITE)
  try:
    sidecar = json.loads(text)
  except (ValueError, RecursionError) as error:
    raise UserError(f"{sidecar_path} is not valid JSON ({error}); {REWRITE}.") from error
  if not isinstance(sidecar, dict):
    raise UserError(f"{sidecar_path} holds a JSON {type(sidecar).__name__}, not the object prepare-splits "
                    f"writes; {REWRITE}.")
  missing = [k for k in SIDECAR_FIELDS if k not in sidecar]
  if missing:
    raise UserError(f"{sidecar_path} lacks {', '.join(missing)}: it was not written by prepare-splits. "
                    f"{REWRITE[0].upper()}{REWRITE[1:]}.")
  wrong = [k for k, kind in SIDECAR_FIELDS.items() if not isinstance(sidecar[k], kind) or isinstance(sidecar[k], bool)]
  if wrong or not all(isinstance(c, str) for c in sidecar["columns"]):
    raise UserError(f"{sidecar_path}: field(s) {', '.join(wrong or ['columns'])} are not of the type prepare-splits "
                    f"writes (task, scheme, sha256: text; columns: a list of names; rows: a number); {REWRITE}.")
  return sidecar


def _sha256(path: epath.Path) -> str:
  """The file's sha256, read in 1 MB blocks."""
  digest = hashlib.sha256()
  try:
    if path.is_dir():
      raise UserError(f"{path} is a folder where a manifest table is expected; {REWRITE}.")
    with path.open("rb") as f:
      while block := f.read(1 << 20):
        digest.update(block)
  except OSError as error:
    raise UserError(f"cannot read {path} ({error.strerror or error}); {REWRITE}.") from error
  return digest.hexdigest()


def read_manifest(root, task: str, scheme: str) -> tuple[pd.DataFrame, dict]:
  """Reads a manifest and its sidecar, refusing a table whose sha256 or shape no longer matches."""
  table_path, sidecar_path = manifest_paths(root, task, scheme)
  if not table_path.exists() or not sidecar_path.exists():
    raise UserError(f"no {scheme} manifest for {task} under {root} (expected {table_path} and "
                    f"{sidecar_path.name}). Write it with: prepare-splits {task} --data_dir <tfds data_dir> "
                    f"--out {root}")
  sidecar = read_sidecar(sidecar_path)
  if _sha256(table_path) != sidecar["sha256"]:
    raise UserError(f"{table_path} does not match the sha256 in {sidecar_path.name}: it was changed after "
                    "prepare-splits wrote it. Write it again with prepare-splits.")
  dtypes = {c: (int if c in INTEGER_COLUMNS else str) for c in sidecar["columns"]}
  try:
    with table_path.open("rb") as f:
      table = pd.read_csv(f, dtype=dtypes, keep_default_na=False, encoding="utf-8")
  except (ValueError, pd.errors.ParserError, OSError) as error:  # UnicodeDecodeError and EmptyDataError included
    raise UserError(f"{table_path} matches its sidecar's sha256 but is not a manifest table ({error}); "
                    f"{REWRITE}.") from error
  if list(table.columns) != sidecar["columns"] or len(table) != sidecar["rows"]:
    raise UserError(f"{table_path} has columns {list(table.columns)} and {len(table)} rows but its sidecar "
                    f"says {sidecar['columns']} and {sidecar['rows']}. Write it again with prepare-splits.")
  return table, sidecar


def find_manifests(root) -> list[tuple[str, str]]:
  """(task, scheme) of every sidecar under root (`<benchmark>/<task>/<scheme>.json`), sorted."""
  return sorted((f"{p.parent.parent.name}/{p.parent.name}", p.stem) for p in epath.Path(root).glob("*/*/*.json"))
