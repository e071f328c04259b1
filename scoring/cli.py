"""`score-submission FILE.npz --task noss/crema_d --splits M`: validates a submission and scores it."""

import argparse
import hashlib

import numpy as np

import nossbench
from nossbench import UserError, command_line
from nossbench.scoring import probes, report, submission
from nossbench.splits import manifest


def _sha256(path) -> str:
  digest = hashlib.sha256()
  with open(path, "rb") as f:
    for block in iter(lambda: f.read(1 << 20), b""):
      digest.update(block)
  return digest.hexdigest()


@command_line
def main(argv):
  parser = argparse.ArgumentParser(prog="score-submission", description=__doc__)
  parser.add_argument("submission", help=".npz with arrays example_id [N] (str) and embedding [N, D]")
  parser.add_argument("--task", required=True, help="<benchmark>/<task>, e.g. noss/crema_d")
  parser.add_argument("--splits", required=True, help="manifest root written by prepare-splits")
  parser.add_argument("--out", default="report", help="folder for report.json and report.md (./report)")
  parser.add_argument("--seed", type=int, default=0)
  parser.add_argument("--max-bytes", type=int, default=submission.DEFAULT_MAX_BYTES,
                      help="refuse submissions whose arrays are larger than this, unpacked")
  args = parser.parse_args(argv)
  if not args.submission.endswith(".npz"):
    raise UserError(f"{args.submission}: only .npz submissions are read so far")

  table, _ = manifest.read_manifest(args.splits, args.task, "canonical")
  ids, embedding = submission.read_npz(args.submission, args.max_bytes)
  x = submission.validate(args.submission, ids, embedding, table)
  positions = {example_id: i for i, example_id in enumerate(table["example_id"])}

  results = [probes.canonical(x, table, args.seed)]
  try:
    cuts, _ = manifest.read_manifest(args.splits, args.task, "intra_speaker")
  except UserError:
    cuts = None  # intra-speaker scoring is optional: prepare-splits --intra-speaker writes its manifest
  if cuts is not None:
    results.append(probes.intra_speaker(x, positions, cuts, args.seed))

  scored = {
      "task": args.task, "submission": args.submission, "submission_sha256": _sha256(args.submission),
      "n_examples": int(x.shape[0]), "dims": int(x.shape[1]), "seed": args.seed,
      "nossbench_version": nossbench.__version__, "results": results,
      "warnings": submission.warnings_for(x),
  }
  json_path, md_path = report.write(scored, args.out)
  print(report.markdown(scored))
  print(f"wrote {json_path} and {md_path}")
  if np.isnan(results[-1]["accuracy"]):
    raise UserError("no speaker could be scored intra-speaker: every train cut holds a single class")


if __name__ == "__main__":
  raise SystemExit(main())
