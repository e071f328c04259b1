"""`prepare-splits TASK --data_dir D --out M [--intra-speaker]`: writes a task's split manifests."""

import argparse

import pandas as pd

from nossbench import UserError, command_line
from nossbench.splits import intra_speaker, manifest, tfds_reader


def summary(table: pd.DataFrame, by: list[str]) -> str:
  """Rows, speakers and labels per split, as a small text table."""
  stats = table.groupby(by, sort=True).agg(rows=("example_id", "size"), speakers=("speaker_id", "nunique"),
                                           labels=("label", "nunique"))
  return stats.to_string()


@command_line
def main(argv):
  parser = argparse.ArgumentParser(prog="prepare-splits", description=__doc__)
  parser.add_argument("task", help="<benchmark>/<task>, e.g. noss/crema_d")
  parser.add_argument("--data_dir", help="TFDS data_dir the task was built into (default: TFDS's)")
  parser.add_argument("--out", required=True, help="manifest root; files go to OUT/<benchmark>/<task>/")
  parser.add_argument("--intra-speaker", action="store_true",
                      help="also write per-speaker train/test cuts (NOSS intra-speaker protocol)")
  parser.add_argument("--repeats", type=int, default=5, help="intra-speaker repeats (default 5)")
  parser.add_argument("--test-fraction", type=float, default=0.2, help="intra-speaker test share (0.2)")
  parser.add_argument("--seed", type=int, default=0)
  args = parser.parse_args(argv)
  if not 0 < args.test_fraction < 1:
    raise UserError(f"--test-fraction must be between 0 and 1 (exclusive), got {args.test_fraction}")
  if args.repeats < 1:
    raise UserError(f"--repeats must be at least 1, got {args.repeats}")

  builder = tfds_reader.load_builder(args.task, args.data_dir)
  table = tfds_reader.read_examples(builder)
  path = manifest.write_manifest(args.out, args.task, "canonical", table,
                                 {"source": builder.info.full_name, "seed": None})
  print(f"canonical: {len(table)} examples -> {path}")
  print(summary(table, ["split"]))

  if args.intra_speaker:
    cuts, skipped = intra_speaker.intra_speaker_splits(table, args.repeats, args.test_fraction, args.seed)
    params = {"repeats": args.repeats, "test_fraction": args.test_fraction, "seed": args.seed,
              "skipped_speakers": skipped}
    path = manifest.write_manifest(args.out, args.task, "intra_speaker", cuts, params)
    print(f"\nintra_speaker: {cuts['speaker_id'].nunique()} speakers x {args.repeats} repeats -> {path}")
    print(summary(cuts[cuts["repeat"] == 0], ["split"]) + "   (repeat 0)")
    if skipped:
      listed = ", ".join(f"{s} ({n})" for s, n in sorted(skipped.items()))
      print(f"skipped {len(skipped)} speakers with fewer than {intra_speaker.MIN_EXAMPLES} examples: {listed}")


if __name__ == "__main__":
  raise SystemExit(main())
