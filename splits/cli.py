"""`prepare-splits TASK --data_dir D --out M [schemes]`: writes a task's split manifests.
`prepare-splits --check M`: re-verifies the manifests under M.
`prepare-splits --audit M --data_dir D [--strict]`: lists what crosses the train/test boundary beyond
speakers (same session or sentence, identical audio, near-duplicates) in every manifest under M.

Always written: `canonical` (the TFDS splits) and, when the dataset carries verification trials,
`trials`. Each scheme flag adds one manifest: --intra-speaker, --speaker-disjoint, --kfold K, --from-lists.

A default never fails on valid data: when the data allows fewer distinct cuts than the default --repeats,
as many as it allows are made, and the output and the sidecar say so. A number the user gave that the
data cannot meet is an error (exit 2).
"""

import argparse

from nossbench import UserError, add_verbose_flag, command_line
from nossbench.splits import audit, check, from_lists, intra_speaker, kfold, manifest, speaker_disjoint, trials

DEFAULT_REPEATS, DEFAULT_TEST_FRACTION = 5, 0.2


def _parser() -> argparse.ArgumentParser:
  parser = argparse.ArgumentParser(prog="prepare-splits", description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("task", nargs="?", help="<benchmark>/<task>, e.g. noss/crema_d")
  add_verbose_flag(parser)
  parser.add_argument("--data_dir", help="TFDS data_dir the task was built into (default: TFDS's)")
  parser.add_argument("--out", help="manifest root; files go to OUT/<benchmark>/<task>/")
  parser.add_argument("--check", metavar="M", help="re-verify every manifest under M instead; exit 2 on violations")
  parser.add_argument("--audit", metavar="M", help="list sessions, sentences, identical audio and near-duplicates "
                      "crossing the splits of every manifest under M (audio read from --data_dir); pairs in "
                      "M/<task>/audit.csv")
  parser.add_argument("--strict", action="store_true", help="--audit: exit 2 when anything crosses")
  parser.add_argument("--seed", type=int, default=0)
  parser.add_argument("--intra-speaker", action="store_true",
                      help="each speaker's own train/test cut, per repeat (NOSS intra-speaker protocol)")
  parser.add_argument("--speaker-disjoint", action="store_true",
                      help="random speaker-disjoint train/test splits, label-stratified, per repeat")
  parser.add_argument("--repeats", type=int, help=f"repeats of the two schemes above (default {DEFAULT_REPEATS})")
  parser.add_argument("--test-fraction", type=float,
                      help=f"test share of the two schemes above, in (0, 1) (default {DEFAULT_TEST_FRACTION})")
  parser.add_argument("--kfold", type=int, metavar="K", help="k folds (a dataset's own `fold` feature when it has one)")
  parser.add_argument("--group", help="--kfold: keep the examples sharing this feature in one fold: `speaker` "
                      "(default when the task has speaker ids), `none`, or another feature, e.g. src_file")
  parser.add_argument("--hash-assign", action="store_true", help="--speaker-disjoint/--kfold: place each speaker "
                      "or group by a hash of its id and the seed, so adding data never moves it (no stratification)")
  parser.add_argument("--from-lists", metavar="DIR", help="import split lists DIR/<split>.txt as the `lists` manifest")
  parser.add_argument("--unlisted-split", metavar="NAME", help="--from-lists: put examples in no list into NAME "
                      "(default: leave them out, listed in the sidecar)")
  return parser


def _validate(args) -> None:
  """Flag conflicts and ranges, before anything slow is imported."""
  schemes = {"--intra-speaker": args.intra_speaker, "--speaker-disjoint": args.speaker_disjoint,
             "--kfold": args.kfold is not None, "--from-lists": args.from_lists is not None}
  if args.strict and args.audit is None:
    raise UserError("--strict only applies to --audit; add --audit M or drop --strict.")
  if args.check is not None or args.audit is not None:
    mode = "--check re-verifies" if args.check is not None else "--audit audits"
    given = [flag for flag, on in schemes.items() if on] + (["TASK"] if args.task else []) + \
        (["--out"] if args.out else []) + (["--check"] if args.check is not None and args.audit is not None else [])
    if given:
      raise UserError(f"{mode} existing manifests and takes no {', '.join(given)}; run it alone.")
    return
  if not args.task or not args.out:
    raise UserError("give a task and --out (prepare-splits noss/crema_d --data_dir D --out M), or --check M.")
  repeated = args.intra_speaker or args.speaker_disjoint
  needs = [("--repeats", args.repeats is not None, repeated, "--intra-speaker or --speaker-disjoint"),
           ("--test-fraction", args.test_fraction is not None, repeated, "--intra-speaker or --speaker-disjoint"),
           ("--group", args.group is not None, args.kfold is not None, "--kfold"),
           ("--hash-assign", args.hash_assign, args.speaker_disjoint or args.kfold is not None,
            "--speaker-disjoint or --kfold"),
           ("--unlisted-split", args.unlisted_split is not None, args.from_lists is not None, "--from-lists")]
  for flag, given, allowed, partner in needs:
    if given and not allowed:
      raise UserError(f"{flag} only applies to {partner}; add one or drop {flag}.")
  args.repeats_given = args.repeats is not None
  args.repeats = DEFAULT_REPEATS if args.repeats is None else args.repeats
  args.test_fraction = DEFAULT_TEST_FRACTION if args.test_fraction is None else args.test_fraction
  if not 0 < args.test_fraction < 1:
    raise UserError(f"--test-fraction must be between 0 and 1 (exclusive), got {args.test_fraction}")
  if args.repeats < 1:
    raise UserError(f"--repeats must be at least 1, got {args.repeats}")
  if args.kfold is not None and args.kfold < 2:
    raise UserError(f"--kfold must be at least 2, got {args.kfold}")


@command_line
def main(argv):
  args = _parser().parse_args(argv)
  _validate(args)
  if args.check is not None:
    violations = check.check_folder(args.check)
    if violations:
      raise UserError(f"{len(violations)} violations in {args.check}:\n  " + "\n  ".join(violations))
    print(f"\n{args.check}: all manifests check out")
    return
  if args.audit is not None:
    return audit.audit_folder(args.audit, args.data_dir, args.strict)
  if args.from_lists is not None:
    from_lists.read_lists(args.from_lists)  # a wrong folder fails before TensorFlow loads
  from nossbench.builders import loading  # pylint: disable=import-outside-toplevel  (imports TensorFlow)
  from nossbench.splits import tfds_reader  # pylint: disable=import-outside-toplevel

  builder = loading.load_builder(args.task, args.data_dir)
  own_folds = args.kfold is not None and kfold.OWN_FOLDS in builder.info.features
  if own_folds and (args.group or args.hash_assign):
    raise UserError(f"{args.task} ships its own folds (feature `{kfold.OWN_FOLDS}`): --kfold uses them, so "
                    "--group and --hash-assign do not apply; drop them.")
  group = None if args.kfold is None or own_folds or args.group == "none" else (args.group or "speaker")
  group_column = "speaker_id" if group == "speaker" else group
  extras = [kfold.OWN_FOLDS] if own_folds else [group_column] if group_column not in (None, "speaker_id") else []
  table = tfds_reader.read_examples(builder, extras)
  base = table.drop(columns=extras)
  source = {"source": builder.info.full_name}

  # Every scheme is made before any file is written: an error leaves the folder as it was.
  planned = [("canonical", base, source | {"seed": None}, f"canonical: {len(base)} examples",
              [check.summary(base, ["split"])])]
  verification = tfds_reader.verification_trials(builder)
  if verification is not None:
    pairs = trials.trials_table(verification, base["example_id"], args.task)
    planned.append(("trials", pairs, source | {"seed": None},
                    f"trials: {len(pairs)} verification pairs ({int(pairs['target'].sum())} same-speaker)", []))
  if args.intra_speaker:
    planned.append(_intra_speaker(args, base, source))
  if args.speaker_disjoint:
    allowed = speaker_disjoint.allowed_repeats(base, args.test_fraction, args.repeats)
    repeats, note = _repeats(args, allowed, "speaker-disjoint splits")
    rows = speaker_disjoint.speaker_disjoint_splits(base, repeats, args.test_fraction, args.seed, args.hash_assign)
    params = source | {"repeats": repeats, "test_fraction": args.test_fraction, "seed": args.seed,
                       "hash_assign": args.hash_assign} | note
    planned.append(("speaker_disjoint", rows, params, f"speaker_disjoint: {repeats} repeats",
                    [check.summary(rows, ["repeat", "split"])] + [f"note: {n}" for n in note.values()]))
  if args.kfold is not None:
    if group == "speaker" and not (base["speaker_id"] != "").any():
      group_column = None  # the default grouping, on a task without speakers
    planned.append(_kfold(args, table, source, own_folds, group_column))
  if args.from_lists is not None:
    planned.append(_lists(args, base, source))

  for scheme, rows, params, headline, details in planned:
    path = manifest.write_manifest(args.out, args.task, scheme, rows, params)
    print("\n".join([f"{headline} -> {path}"] + details) + "\n")


def _repeats(args, allowed: int, what: str) -> tuple[int, dict]:
  """(repeats to make, {"repeats_note": why} when fewer than the default): the default --repeats lowered to
  what the data allows; an explicit --repeats the data cannot meet is an error. `allowed` 0: the scheme's
  own error (no speakers to cut) follows."""
  if allowed == 0 or allowed >= args.repeats:
    return args.repeats, {}
  if args.repeats_given:
    raise UserError(f"--repeats {args.repeats} asks for more {what} than the data allows ({allowed} distinct "
                    f"at --test-fraction {args.test_fraction}); lower --repeats to {allowed} or less.")
  return allowed, {"repeats_note": f"{allowed} repeats instead of the default {DEFAULT_REPEATS}: the data allows "
                                   f"only {allowed} distinct {what} at --test-fraction {args.test_fraction}"}


def _intra_speaker(args, base, source) -> tuple:
  allowed = intra_speaker.distinct_cuts(base, args.test_fraction, args.repeats)
  repeats, note = _repeats(args, allowed, "intra-speaker cuts (of its largest speaker)")
  cuts, skipped = intra_speaker.intra_speaker_splits(base, repeats, args.test_fraction, args.seed)
  coverage = intra_speaker.label_coverage(cuts)
  params = source | {"repeats": repeats, "test_fraction": args.test_fraction, "seed": args.seed,
                     "skipped_speakers": skipped, "label_coverage": coverage} | note
  details = [check.summary(cuts[cuts["repeat"] == 0], ["split"]) + "   (repeat 0)",
             f"label coverage: {coverage['cuts'] - coverage['cuts_missing_a_test_label_in_train']} of "
             f"{coverage['cuts']} speaker cuts have every test label in train"]
  if skipped:
    listed = ", ".join(f"{s or '(no speaker id)'} ({n})" for s, n in sorted(skipped.items()))
    details.append(f"skipped {len(skipped)} speakers with fewer than {intra_speaker.MIN_EXAMPLES} examples or "
                   f"no id: {listed}")
  details += [f"note: {n}" for n in note.values()]
  return ("intra_speaker", cuts, params,
          f"intra_speaker: {cuts['speaker_id'].nunique()} speakers x {repeats} repeats", details)


def _kfold(args, table, source, own_folds: bool, group_column: str | None) -> tuple:
  rows, notes = kfold.kfold_splits(table, args.kfold, args.seed, group_column, args.hash_assign, args.task)
  params = source | {"folds": args.kfold, "seed": None if own_folds else args.seed,
                     "folds_from": f"dataset feature {kfold.OWN_FOLDS}" if own_folds else "nossbench.splits.kfold",
                     "group": group_column, "hash_assign": args.hash_assign, "notes": notes}
  grouped = "the dataset's own folds" if own_folds else f"grouped by {group_column}" if group_column else "ungrouped"
  details = [check.summary(rows[rows["split"] == "test"], ["fold"]) + "   (test part of each fold)"]
  return "kfold", rows, params, f"kfold: {args.kfold} folds, {grouped}", details + [f"note: {n}" for n in notes]


def _lists(args, base, source) -> tuple:
  rows, report = from_lists.lists_split(base, args.from_lists, args.unlisted_split)
  details = [check.summary(rows, ["split"])]
  if report["ignored_files"]:
    details.append(f"ignored (not lists): {', '.join(report['ignored_files'])}")
  if report["unlisted"]:
    where = f"put into {args.unlisted_split}" if args.unlisted_split else "left out (listed in the sidecar)"
    details.append(f"{report['unlisted']} examples are in no list: {where}")
  return ("lists", rows, source | {"seed": None} | report,
          f"lists: {len(rows)} examples from {', '.join(report['lists'])}", details)

if __name__ == "__main__":
  raise SystemExit(main())
