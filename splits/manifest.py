"""Split manifests: one CSV per task and scheme, beside a JSON sidecar that records how it was made.

Layout: `<root>/<benchmark>/<task>/<scheme>.csv` and `<scheme>.json`. The table's columns are
`example_id, label, speaker_id, split` plus the scheme's own column (`repeat` for repeated schemes).
Rows are sorted, so the same data and seed always give byte-identical files; the sidecar's sha256 lets
every reader detect a file that was edited or truncated since.
"""

import hashlib
import io
import json

import pandas as pd
from etils import epath

import nossbench
from nossbench import UserError

BASE_COLUMNS = ["example_id", "label", "speaker_id", "split"]
SCHEME_COLUMN = {"canonical": None, "intra_speaker": "repeat"}


def manifest_paths(root, task: str, scheme: str) -> tuple[epath.Path, epath.Path]:
  folder = epath.Path(root).joinpath(*task.split("/"))
  return folder / f"{scheme}.csv", folder / f"{scheme}.json"


def columns(scheme: str) -> list[str]:
  extra = SCHEME_COLUMN[scheme]
  return BASE_COLUMNS + ([extra] if extra else [])


def write_manifest(root, task: str, scheme: str, table: pd.DataFrame, params: dict) -> epath.Path:
  """Writes the table (sorted, deterministic bytes) and its sidecar; returns the table's path."""
  cols = columns(scheme)
  order = [c for c in (SCHEME_COLUMN[scheme], "example_id") if c]
  table = table[cols].sort_values(order, kind="stable", ignore_index=True)
  buffer = io.StringIO()
  table.to_csv(buffer, index=False, lineterminator="\n")
  data = buffer.getvalue().encode("utf-8")
  table_path, sidecar_path = manifest_paths(root, task, scheme)
  table_path.parent.mkdir(parents=True, exist_ok=True)
  table_path.write_bytes(data)
  sidecar = {
      "task": task, "scheme": scheme, "params": params, "seed": params.get("seed"),
      "nossbench_version": nossbench.__version__, "rows": len(table), "columns": cols,
      "table": table_path.name, "sha256": hashlib.sha256(data).hexdigest(),
  }
  sidecar_path.write_text(json.dumps(sidecar, indent=2, sort_keys=True) + "\n")
  return table_path


def read_manifest(root, task: str, scheme: str) -> tuple[pd.DataFrame, dict]:
  """Reads a manifest and its sidecar, refusing a table whose sha256 no longer matches."""
  table_path, sidecar_path = manifest_paths(root, task, scheme)
  if not table_path.exists() or not sidecar_path.exists():
    raise UserError(f"no {scheme} manifest for {task} under {root} (expected {table_path} and "
                    f"{sidecar_path.name}). Write it with: prepare-splits {task} --data_dir <tfds data_dir> "
                    f"--out {root}")
  sidecar = json.loads(sidecar_path.read_text())
  data = table_path.read_bytes()
  if hashlib.sha256(data).hexdigest() != sidecar["sha256"]:
    raise UserError(f"{table_path} does not match the sha256 in {sidecar_path.name}: it was changed after "
                    "prepare-splits wrote it. Write it again with prepare-splits.")
  table = pd.read_csv(io.BytesIO(data), dtype={"example_id": str, "label": str, "speaker_id": str},
                      keep_default_na=False)
  return table, sidecar
