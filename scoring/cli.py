"""`score-submission`: validates embedding submissions and scores them with the NOSS protocol.

  score-submission SUB [SUB ...] --task noss/crema_d --splits M      one task (parts are concatenated)
  score-submission noss/crema_d=a.npz noss/savee=b.parquet --splits M    several tasks, one report
  score-submission CACHE_FOLDER --splits M     every task whose cache entries lie below the folder
  score-submission --compare A B ... [--task T] --splits M     submissions or earlier reports side by side

A submission is an .npz (`example_id` [N] str, `embedding` [N, D] float, or [N, T, D] frames), a
.parquet (`example_id` string, `embedding` list of floats, or list of frames), TFRecord files, or
compute-embeddings cache entry folders; frame-level input is mean-pooled. Every scheme prepare-splits
wrote for the task is scored: canonical, lists, speaker_disjoint, kfold, intra_speaker, trials
(verification).
Exit code 2 lists every problem of an invalid submission (--json: as JSON on stdout). Interrupted
(Ctrl-C, SIGTERM), it stops its worker processes and exits 130 / 143 without writing report.json,
which is always written last and whole (temporary name, then rename).
"""

import argparse
import hashlib
import json
import re
import signal
import sys
import threading

import numpy as np
from etils import epath

import nossbench
from nossbench import UserError, add_verbose_flag, command_line, tasks
from nossbench.scoring import (compare, grid, linear_probe, models, plot, predictions, problems, protocol_card, protocols,
                               report, submission, verification)
from nossbench.scoring.problems import InvalidSubmission
from nossbench.splits import manifest

MAX_REPORT_BYTES = 256 * 2**20


def _parser():
  parser = argparse.ArgumentParser(prog="score-submission", description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("inputs", nargs="*", metavar="SUBMISSION", help="file or folder, or TASK=PATH")
  add_verbose_flag(parser)
  parser.add_argument("--task", help="<benchmark>/<task> of plain SUBMISSION paths, e.g. noss/crema_d")
  parser.add_argument("--splits", help="manifest root written by prepare-splits")
  parser.add_argument("--out", default="report", help="folder for report.json, report.md, report.png (./report)")
  parser.add_argument("--name", help="the submission's name in reports (default: its file name)")
  parser.add_argument("--compare", nargs="+", metavar="A",
                      help="submissions (scored now, with --task/--splits) or report folders/report.json to "
                           "put side by side")
  parser.add_argument("--alpha", type=float, default=0.05,
                      help="--compare: significance level of the paired tests, Holm-corrected (0.05)")
  parser.add_argument("--allow-mixed-protocols", action="store_true",
                      help="--compare: show results whose protocol ids differ in one column, marked, untested")
  parser.add_argument("--seed", type=int, default=0, help="seeds forests and held-out validation (0)")
  parser.add_argument("--jobs", type=int, default=-1, help="worker processes (-1: all cores); never changes a score")
  parser.add_argument("--models", default=",".join(models.MODELS),
                      help=f"probe models to choose among (default: all of {','.join(models.MODELS)})")
  parser.add_argument("--probe", choices=("auto", "grid", linear_probe.NAME), default="auto",
                      help="grid: the NOSS probe grid; linear: one minibatch-trained linear layer (PyTorch, the "
                           "HARES protocol's probe); auto (default): linear for non-NOSS tasks over --linear-above "
                           "examples")
  parser.add_argument("--linear-above", type=int, default=linear_probe.AUTO_ABOVE,
                      help=f"examples above which --probe auto picks the linear probe ({linear_probe.AUTO_ABOVE:,})")
  parser.add_argument("--select-by", choices=protocols.SELECT_METRICS,
                      help="validation metric that chooses the configuration (accuracy; mAP for multi-label)")
  parser.add_argument("--max-bytes", type=int, default=submission.DEFAULT_MAX_BYTES,
                      help="refuse submissions whose embeddings are larger than this, unpacked")
  parser.add_argument("--max-dims", type=int, default=problems.DEFAULT_MAX_DIMS,
                      help=f"refuse embeddings with more dimensions than this ({problems.DEFAULT_MAX_DIMS:,}): no "
                           "embedding model gives more, and probes on a wider array run for hours; raise it only "
                           "for a real embedding that wide")
  parser.add_argument("--json", action="store_true", help="print the report (or the problem list) as JSON")
  return parser


def _group(inputs: list[str], task: str | None) -> dict[str, list[str]]:
  """{task: paths} from plain paths (with --task), TASK=PATH items, or cache folders (tasks read from them)."""
  grouped = {}
  for item in inputs:
    name, _, path = item.partition("=")
    if path and tasks.NAME.match(name) and not epath.Path(item).exists():
      grouped.setdefault(name, []).append(path)
    elif task:
      grouped.setdefault(task, []).append(item)
    elif epath.Path(item).is_dir():
      found = submission.tasks_in(item)
      if not found:
        raise UserError(f"{item}: no complete cache entry below it, so no task to score; give --task")
      for name, entries in found.items():
        grouped.setdefault(name, []).extend(map(str, entries))
    else:
      raise UserError(f"{item}: which task is it for? Give --task, or write it as TASK=PATH "
                      "(e.g. noss/crema_d=embeddings.npz)")
  return grouped


def _sha256(paths: list[str]) -> str:
  """Of every file making up the submission, in sorted order (folders: every file below them)."""
  digest = hashlib.sha256()
  files = sorted((f for p in map(epath.Path, paths) for f in ([p] if p.is_file() else submission.files_below(p))),
                 key=str)
  for f in files:
    with f.open("rb") as stream:
      for block in iter(lambda: stream.read(1 << 20), b""):
        digest.update(block)
  return digest.hexdigest()


def _scheme_exists(root, task: str, scheme: str) -> bool:
  folder = tasks.manifest_folder(root, task)
  return folder.exists() and any(p.name.split(".")[0] == scheme for p in folder.iterdir())


def _score_task(name: str, table, x: np.ndarray, args, paths: list[str], raw) -> dict:
  probe, why = linear_probe.choose(name, len(table), args.probe, args.linear_above)
  task = protocols.Task(name, table, x, seed=args.seed, jobs=args.jobs, model_names=args.model_list,
                        select_by=args.select_by, probe=probe)
  task.notes.append(f"probe: {models.DESCRIPTIONS[probe] if probe in models.DESCRIPTIONS else 'the NOSS grid'} "
                    f"({why})")
  results = []
  with grid.Variants(x, task.speakers, task.normalizations) as variants:
    canonical = protocols.canonical(task, variants)
    results.append(canonical)
    for scheme, protocol in (("lists", protocols.lists), ("speaker_disjoint", protocols.speaker_disjoint),
                             ("kfold", protocols.kfold)):
      if _scheme_exists(args.splits, name, scheme):
        results.append(protocol(task, variants, _read_manifest(args.splits, name, scheme)[0]))
    if _scheme_exists(args.splits, name, "intra_speaker") and (task.multilabel or probe != "grid"):
      task.notes.append("intra_speaker manifest not scored: the protocol is for single-label tasks scored "
                        "with the NOSS grid")
    elif _scheme_exists(args.splits, name, "intra_speaker"):
      cuts = _read_manifest(args.splits, name, "intra_speaker")[0]
      config = protocols.intra_speaker_config(canonical, task.select_by)
      results.append(protocols.intra_speaker(task, variants, cuts, config))
  if _scheme_exists(args.splits, name, "trials"):
    trials = _read_manifest(args.splits, name, "trials")[0]
    results.append(verification.score(name, x, task.positions, trials, args.seed,
                                      task.table["speaker_id"].to_numpy(str)))
  record = {
      "task": name, "submission": " ".join(paths), "submission_sha256": _sha256(paths),
      "n_examples": int(x.shape[0]), "dims": int(x.shape[1]), "seed": args.seed,
      "nossbench_version": nossbench.__version__, "classes": [str(c) for c in task.classes],
      "input_notes": raw.notes, "notes": task.notes, "warnings": submission.warnings_for(x), "results": results,
  }
  protocol_card.attach(record, task, args.splits, raw.frames)
  return record


class InvalidTasks(UserError):
  """The invalid submissions of one run, each task's problems listed."""

  def __init__(self, invalid: list[tuple[str, InvalidSubmission]]):
    self.invalid = invalid
    super().__init__(str(invalid[0][1]) if len(invalid) == 1 else "\n".join(f"{t}: {e}" for t, e in invalid))

  def as_json(self) -> list[dict]:
    return [{"task": t, "source": e.path, **p.as_dict()} for t, e in self.invalid for p in e.problems]


def score(args, grouped: dict[str, list[str]], name: str) -> dict:
  """Validates every task's submission first (all problems of all tasks at once), then scores them."""
  if not args.splits:
    raise UserError("--splits is required to score a submission: the manifest root written by prepare-splits")
  checked, invalid = [], []
  for task, paths in sorted(grouped.items()):
    table, _ = _read_manifest(args.splits, task, "canonical")
    _check_canonical(args.splits, task, table)
    raw = submission.read(paths, args.max_bytes, args.max_dims)
    try:
      checked.append((task, paths, table, submission.validate(" + ".join(paths), raw, table, args.max_dims), raw))
      raw.embedding = None  # validate returned the copy that is scored: the file's array is not held twice
    except InvalidSubmission as error:
      invalid.append((task, error))
  if invalid:
    raise InvalidTasks(invalid)
  tasks = [_score_task(task, table, x, args, paths, raw) for task, paths, table, x, raw in checked]
  if len(tasks) == 1:
    return {"name": name, **tasks[0]}
  return {"name": name, "submission": name, "nossbench_version": nossbench.__version__, "seed": args.seed,
          "tasks": tasks}


def _read_manifest(root, task: str, scheme: str):
  try:
    return manifest.read_manifest(root, task, scheme)
  except OSError as error:  # a folder or an unreadable file where the table or its sidecar should be
    raise UserError(f"the {scheme} manifest of {task} under {root} cannot be read ({error}); write it again "
                    "with prepare-splits") from error


def _check_canonical(root, task: str, table) -> None:
  """The columns and unique ids scoring relies on; a manifest edited together with its sidecar can lack them."""
  label = tasks.label_column(table)
  missing = [c for c in ("example_id", label, "speaker_id", "split") if c not in table.columns]
  repeated = table["example_id"][table["example_id"].duplicated()].tolist() if "example_id" in table.columns else []
  if missing or repeated:
    what = f"lacks the columns {missing}" if missing else f"lists example ids more than once ({repeated[:3]})"
    raise UserError(f"the canonical manifest of {task} under {root} {what}; write it again with prepare-splits")


def _load_report(item: str) -> dict | None:
  path = epath.Path(item)
  path = path / "report.json" if path.is_dir() and (path / "report.json").exists() else path
  if path.is_file() and path.name.endswith(".json"):
    try:
      if path.stat().length > MAX_REPORT_BYTES:
        raise ValueError(f"{path.stat().length:,} bytes, where a report takes kB to a few MB")
      loaded = json.loads(path.read_text())
      if not isinstance(loaded, dict) or not all(isinstance(t, dict) and isinstance(t.get("results"), list)
                                                 for t in report.tasks_of(loaded)):
        raise ValueError("no task results in it")
    except (OSError, ValueError) as error:
      raise UserError(f"{path}: not a readable report.json ({error}); give a report folder written by "
                      "score-submission") from error
    return loaded
  return None


def _report_folder(item: str) -> epath.Path:
  path = epath.Path(item)
  return path if path.is_dir() else path.parent


def _keep_predictions(scored: dict, folder: epath.Path) -> None:
  for task in report.tasks_of(scored):
    predictions.write(task, folder)


def _name(paths: list[str]) -> str:
  return ", ".join(epath.Path(p.rstrip("/")).name for p in paths)


class Interrupted(KeyboardInterrupt):
  """SIGINT or SIGTERM: a KeyboardInterrupt, so that joblib stops (kills) its workers as for Ctrl-C."""

  def __init__(self, signum: int):
    super().__init__(signum)
    self.signum = signum


def _interrupt(signum, _frame):
  raise Interrupted(signum)


@command_line
def main(argv):
  args = _parser().parse_args(argv)
  in_main_thread = threading.current_thread() is threading.main_thread()  # where signals can be handled
  previous = {s: signal.signal(s, _interrupt) for s in (signal.SIGINT, signal.SIGTERM)} if in_main_thread else {}
  try:
    _main(args)
  except Interrupted as stop:
    print(f"score-submission: stopped by {signal.Signals(stop.signum).name}; worker processes stopped, no report "
          f"written to {args.out}", file=sys.stderr)
    return 128 + stop.signum
  except UserError as error:
    if args.json:  # the same problems, for programs, on stdout
      listed = error.as_json() if isinstance(error, InvalidTasks) else [{"code": "error", "message": str(error)}]
      print(json.dumps({"valid": False, "problems": listed}, indent=2))
    raise
  finally:
    for number, handler in previous.items():
      signal.signal(number, handler)
  return 0


def _main(args):
  args.model_list = tuple(m.strip() for m in args.models.split(",") if m.strip())
  unknown = [m for m in args.model_list if m not in models.MODELS]
  if unknown or not args.model_list:
    raise UserError(f"--models: unknown {unknown or 'empty list'}; choose among {', '.join(models.MODELS)}")
  for name, value, least in (("--jobs", args.jobs, None), ("--seed", args.seed, 0), ("--max-bytes", args.max_bytes, 1),
                             ("--max-dims", args.max_dims, 1)):
    if (value == 0 and least is None) or (least is not None and value < least):
      raise UserError(f"{name} {value}: give " + ("a number of workers (or -1 for all cores)" if least is None else
                                                  f"a number of at least {least}"))
  out = epath.Path(args.out)
  if out.exists() and not out.is_dir():
    raise UserError(f"--out {out} is a file; give a folder for report.json, report.md and report.png")

  if not 0 < args.alpha < 1:
    raise UserError(f"--alpha must be between 0 and 1 (exclusive), got {args.alpha}")
  if args.compare:
    reports, folders, files = [], [], []
    for item in args.compare:
      loaded, folder = _load_report(item), _report_folder(item)
      if loaded is None:
        grouped = _group([item], args.task)
        loaded = score(args, grouped, args.name if len(args.compare) == 1 and args.name else _name([item]))
        folder = out / _name([item]).replace(" ", "_")
        _keep_predictions(loaded, folder)
        report.write(loaded, folder, report.markdown(loaded))
      else:
        files.append(item)
      reports.append(loaded)
      folders.append(folder)
    try:
      comparisons = compare.compare(reports, folders, args.alpha, args.allow_mixed_protocols)
      combined = {"compare": reports, "comparisons": comparisons}
      text = report.compare_markdown(reports, comparisons)
    except (KeyError, TypeError, ValueError, AttributeError) as error:
      if not files:
        raise
      raise UserError(f"{', '.join(files)}: not a report.json written by score-submission (no {error}); "
                      "score the submission again or give its report folder") from error
  else:
    if not args.inputs:
      raise UserError("give a submission to score (or --compare A B ...); see score-submission --help")
    grouped = _group(args.inputs, args.task)
    combined = score(args, grouped, args.name or _name(args.inputs))
    _keep_predictions(combined, out)
    reports, text = [combined], report.markdown(combined)

  try:
    out.mkdir(parents=True, exist_ok=True)
    plot.write(reports, out / "report.png")  # before report.json, which report.write writes last
    json_path, md_path = report.write(combined, out, text)
  except OSError as error:
    raise UserError(f"cannot write the report to {out} ({error.strerror or error}); choose another --out") from error
  unscored = [f"{t['task']} intra-speaker" for r in reports for t in report.tasks_of(r) for x in t["results"]
              if x["protocol"] == "intra_speaker" and not x["accuracy"] >= 0]  # NaN, or null from a report
  if unscored:
    raise UserError(f"{', '.join(unscored)}: no speaker could be scored (every train cut holds a single class); "
                    f"the rest is in {json_path}")
  if args.json:
    print(report.to_json(combined))
  else:
    print(text)
    print(f"wrote {json_path}, {md_path} and {out / 'report.png'}", file=sys.stderr)


if __name__ == "__main__":
  raise SystemExit(main())
