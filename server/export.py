"""`nossbench-server export --out site/`: the leaderboard as a static site, for any static host or file://.

Writes, all addresses relative:

  site/index.html                          the leaderboard (scripts sort it, and filter it from the address:
                                           index.html?family=mfcc; without scripts it shows the best first)
  site/submissions/<id>.html               one page per published submission (+ <id>/report.png)
  site/compare/<benchmark>.html            every published submission of a benchmark side by side
  site/plots/<protocol>/<benchmark>/<task>.svg, site/plots/submissions/<id>.svg
  site/tables/<table>.json                 one file per leaderboard table (format below)
  site/static/                             the stylesheet and scripts

tables/<table>.json (`noss-canonical`, `noss-intra-speaker`, `hares-canonical`) is one object:
  benchmark, table, title: names; protocol: the scorer's protocol every cell comes from;
  tasks: the columns, `<benchmark>/<task>` in the paper's order; aggregate_definition: the rule, in words;
  rows: best aggregate first, each {submission (id), team, model, model_url, family,
    aggregate (mean of the row's scores over the tasks it covers, a fraction in [0, 1], or null),
    tasks_covered (how many of the columns have a score),
    cells: {task: null (not scored) or {metric ("accuracy" | "map"), score, low, high (95% interval,
      null when the report has none), std (spread over repeats or folds, or null)}}}.
Scores are fractions (0.678 is 67.8%). The same object is served live at /tables/<table>.json.

The site is written to a temporary folder beside `--out` and renamed into place, so an interrupted export
never leaves a half site; an existing `--out` is replaced only if an earlier export wrote it.
"""

import json
import pathlib
import shutil
import tempfile

from nossbench import UserError
from nossbench.server import db, leaderboard, leaderboard_plots, pages, pages_data
from nossbench.server.data import DataFolder

MARKER = ".nossbench-site"  # names a folder this command wrote, the only kind it replaces


def write_site(submissions: list[leaderboard.Submission], out) -> pathlib.Path:
  """Exports published submissions to `out`; returns the path of index.html."""
  out = pathlib.Path(out).resolve()
  if out.exists() and not (out / MARKER).is_file() and any(out.iterdir()):
    raise UserError(f"{out} exists and holds files an export did not write; give an empty or new folder "
                    "for --out (an earlier export's folder is replaced)")
  out.parent.mkdir(parents=True, exist_ok=True)
  staging = pathlib.Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
  try:
    _write(submissions, staging)
    (staging / MARKER).write_text("written by nossbench-server export\n")
    if out.exists():
      shutil.rmtree(out)
    staging.rename(out)
  finally:
    shutil.rmtree(staging, ignore_errors=True)
  return out / "index.html"


def _write(submissions: list[leaderboard.Submission], site: pathlib.Path) -> None:
  for folder in ("submissions", "compare", "plots/submissions", "tables"):
    (site / folder).mkdir(parents=True)
  shutil.copytree(pages.STATIC, site / "static")
  (site / "index.html").write_text(pages.leaderboard_page(submissions, pages.StaticUrls(0)))
  one_down = pages.StaticUrls(1)
  for submission in submissions:
    (site / "submissions" / f"{submission.id}.html").write_text(pages.submission_page(submission, one_down))
    if submission.report_png is not None:
      (site / "submissions" / submission.id).mkdir()
      shutil.copyfile(submission.report_png, site / "submissions" / submission.id / "report.png")
    (site / "plots/submissions" / f"{submission.id}.svg").write_bytes(
        leaderboard_plots.submission_plot(submission, submissions))
  for benchmark in leaderboard.BENCHMARKS:
    chosen = [s for s in submissions if benchmark in s.benchmarks]
    if chosen:
      (site / "compare" / f"{benchmark}.html").write_text(pages.compare_page(chosen, one_down))
  for table in leaderboard.tables(submissions):
    (site / "tables" / f"{table.spec.key}.json").write_text(json.dumps(table.as_json(), indent=1) + "\n")
    for task in table.scored_tasks:
      plot = site / "plots" / table.spec.protocol / f"{task}.svg"
      plot.parent.mkdir(parents=True, exist_ok=True)
      plot.write_bytes(leaderboard_plots.task_plot(task, table.spec.protocol, submissions))


def run(args) -> None:
  """`nossbench-server export` (options in cli.py)."""
  if bool(args.data) == bool(args.reports):
    raise UserError("export needs either --data (a server's data folder) or --reports (score-submission "
                    "output folders), not both and not neither")
  if args.reports:
    submissions = [pages_data.from_folder(folder) for folder in args.reports]
    duplicated = sorted({s.id for s in submissions if [t.id for t in submissions].count(s.id) > 1})
    if duplicated:
      raise UserError(f"--reports: several folders are named {', '.join(duplicated)}; a folder's name is its "
                      "submission's id, so give each a different name")
  else:
    data = DataFolder(args.data)
    engine = db.engine(args.db or db.default_url(data.root))
    db.require_current(engine)
    submissions = pages_data.published_jobs(engine, data.results, data.submissions)
  index = write_site(submissions, args.out)
  print(f"exported {len(submissions)} submissions; open {index}")
