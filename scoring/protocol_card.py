"""Protocol cards: everything that decides what a score means, besides the embeddings themselves.

A card records the task and its build (dataset name and version, example counts per split), the
manifest scheme and sha256 (and the canonical manifest's, which fixes the labels), the probe grid, the
selection metric, the seed, the normalisations, any pooling the scorer did, and the package, numpy,
scipy and scikit-learn versions. Its sha256 over canonical JSON (sorted keys, no spaces) is the
protocol id: two results are comparable exactly when their ids are equal.
"""

import hashlib
import json

import numpy as np
import scipy
import sklearn

import nossbench
from nossbench.splits import manifest

SCHEME_OF = {"canonical": "canonical", "lists": "lists", "speaker_disjoint": "speaker_disjoint", "kfold": "kfold",
             "intra_speaker": "intra_speaker", "verification": "trials"}


def _manifest(splits_root, task: str, scheme: str) -> dict:
  sidecar = manifest.read_sidecar(manifest.manifest_paths(splits_root, task, scheme)[1])
  table, _ = manifest.read_manifest(splits_root, task, scheme) if scheme != "trials" else (None, None)
  found = {"scheme": scheme, "sha256": sidecar["sha256"], "rows": sidecar["rows"],
           "params": {k: v for k, v in sidecar.get("params", {}).items() if k != "source"}}
  if table is not None:
    keys = [c for c in manifest.SCHEME_COLUMNS[scheme][:1] + ["split"] if c in table.columns]
    found["split_examples"] = {"/".join(map(str, k)) if isinstance(k, tuple) else str(k): int(n)
                               for k, n in table.groupby(keys, sort=True).size().items()}
  return found


def card(result: dict, task, splits_root, pooled: bool) -> dict:
  """The card of one result of `task` (a protocols.Task) scored from the manifests under `splits_root`."""
  canonical = manifest.read_sidecar(manifest.manifest_paths(splits_root, task.name, "canonical")[1])
  source = str(canonical.get("params", {}).get("source", ""))
  name, _, version = source.rpartition("/") if source.count("/") >= 2 else (source, "", "")
  scheme = SCHEME_OF[result["protocol"]]
  if result["protocol"] == "verification":
    probe = {"scorer": "cosine similarity of the two embeddings, no training"}
  elif result["protocol"] == "intra_speaker":
    probe = {"grid": [f"{m}/{n}" for m, n in task.configs if m.startswith("logreg")] or ["canonical choice"],
             "selection": f"canonical validation {task.select_by}, among logistic regressions"}
  else:
    probe = {"grid": [f"{m}/{n}" for m, n in task.configs], "selection": f"validation {task.select_by}"}
  return {
      "task": task.name,
      "build": {"dataset": name, "version": version,
                "split_examples": {str(k): int(v) for k, v in task.table["split"].value_counts().sort_index().items()}},
      "manifest": _manifest(splits_root, task.name, scheme),
      "canonical_manifest_sha256": canonical["sha256"],
      "probe": probe, "seed": task.seed,
      "normalizations": [] if result["protocol"] == "verification" else list(task.normalizations),
      "pooling": "mean over frames, by the scorer" if pooled else "none by the scorer",
      "versions": {"nossbench": nossbench.__version__, "numpy": np.__version__, "scipy": scipy.__version__,
                   "scikit-learn": sklearn.__version__},
  }


def protocol_id(card_: dict) -> str:
  return hashlib.sha256(json.dumps(card_, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def attach(record: dict, task, splits_root, pooled: bool) -> None:
  """Gives every result of a task record its card and protocol id."""
  for result in record["results"]:
    result["protocol_card"] = card(result, task, splits_root, pooled)
    result["protocol_id"] = protocol_id(result["protocol_card"])


def _flat(value, prefix: str = "") -> dict:
  if isinstance(value, dict):
    return {k: v for key, item in value.items() for k, v in _flat(item, f"{prefix}{key}.").items()}
  return {prefix.rstrip("."): value}


def differences(a: dict | None, b: dict | None) -> list[str]:
  """The card fields (dotted paths) whose values differ; a missing card differs in `protocol_card`."""
  if a is None or b is None:
    return ["protocol_card (missing: written by an older nossbench)"] if a is not b else []
  flat_a, flat_b = _flat(a), _flat(b)
  return sorted(k for k in flat_a.keys() | flat_b.keys() if flat_a.get(k) != flat_b.get(k))
