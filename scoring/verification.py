"""Speaker verification from a trial list: cosine similarity of the two embeddings, no training.

The trials manifest (`target`, `enrol_id`, `test_id`; for noss/voxceleb the VoxCeleb1 test trials) is
scored as is; EER and minDCF summarise how well same-speaker pairs outscore different-speaker pairs.
Their intervals resample the enrolment speakers of the trial list (`intervals.verification`).
"""

import numpy as np
import pandas as pd

from nossbench import UserError
from nossbench.scoring import intervals, metrics, predictions

CHUNK = 65536  # trials scored at a time, to bound memory on large trial lists


def cosine_scores(x: np.ndarray, enrol: np.ndarray, test: np.ndarray) -> np.ndarray:
  norms = np.linalg.norm(x, axis=1, keepdims=True)
  unit = x / np.where(norms == 0, 1, norms)
  return np.concatenate([np.einsum("ij,ij->i", unit[enrol[i:i + CHUNK]], unit[test[i:i + CHUNK]])
                         for i in range(0, len(enrol), CHUNK)]) if len(enrol) else np.zeros(0)


def score(task_name: str, x: np.ndarray, positions: pd.Series, trials: pd.DataFrame, seed: int,
          speaker_ids: np.ndarray) -> dict:
  """`speaker_ids`: of every example, in `positions` order (the enrolment side's are resampled)."""
  ids = pd.Index(pd.concat([trials["enrol_id"], trials["test_id"]]).unique())
  unknown = ids[~ids.isin(positions.index)]
  if len(unknown):
    raise UserError(f"the trials manifest of {task_name} names {len(unknown)} examples its canonical manifest "
                    f"lacks (e.g. {list(unknown[:3])}); write both again with prepare-splits")
  target = trials["target"].astype(int).to_numpy() == 1
  if target.all() or not target.any():
    raise UserError(f"the trials manifest of {task_name} needs both target (1) and non-target (0) trials")
  enrol = positions[trials["enrol_id"]].to_numpy()
  scores = cosine_scores(x, enrol, positions[trials["test_id"]].to_numpy())
  point = metrics.verification(target, scores)
  boot = intervals.verification(target, scores, speaker_ids[enrol], seed, metrics.DCF_TARGET_PRIORS)
  kept = predictions.keep(enrol_id=trials["enrol_id"].to_numpy(str), test_id=trials["test_id"].to_numpy(str),
                          target=target, score=scores.astype(np.float32), unit=speaker_ids[enrol].astype(str))
  return {"protocol": "verification", "model": "cosine", "normalization": "none",
          **point, **intervals.summary(point, boot), **kept,
          "n_trials": int(len(trials)), "n_target": int(target.sum()),
          "n_examples": int(len(ids)), "seed": seed}
