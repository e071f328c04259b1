"""How long the leaderboard pages take to render and export as published submissions grow.

Scores one small synthetic submission on the six NOSS tasks (canonical and intra-speaker) with the real
scorer, then copies its report folder N times with shifted scores, as N published submissions. Times, in
this process: reading the N report folders (the baseline: the I/O every page request needs), rendering the
leaderboard page, one submission page, one per-task plot, and the whole static export.

  .venv/bin/python benchmarks/pages_render.py --submissions 10 100 300
"""

import argparse
import contextlib
import io
import json
import pathlib
import shutil
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "tests"))
import scoring_helpers  # noqa: E402  pylint: disable=wrong-import-position

from nossbench.scoring import cli  # noqa: E402  pylint: disable=wrong-import-position
from nossbench.server import export, leaderboard, leaderboard_plots, pages, pages_data  # noqa: E402  pylint: disable=wrong-import-position


def one_report(root: pathlib.Path) -> pathlib.Path:
  inputs = []
  for task in leaderboard.NOSS_TASKS:
    rows = scoring_helpers.table(speakers=6, per_speaker=20)
    name = f"noss/{task}"
    scoring_helpers.write(root / "splits", name, "canonical", rows)
    scoring_helpers.write(root / "splits", name, "intra_speaker", rows.assign(
        split=np.where(np.arange(len(rows)) % 5 == 0, "test", "train"), repeat=0))
    path = root / f"{task}.npz"
    np.savez(path, example_id=rows["example_id"].to_numpy().astype(str), embedding=scoring_helpers.embeddings(rows))
    inputs.append(f"{name}={path}")
  with contextlib.redirect_stdout(io.StringIO()):
    assert cli.main([*inputs, "--splits", str(root / "splits"), "--out", str(root / "base"), "--models", "logreg"]) == 0
  return root / "base"


def copies(base: pathlib.Path, root: pathlib.Path, n: int) -> list[pathlib.Path]:
  report = json.loads((base / "report.json").read_text())
  rng = np.random.RandomState(0)
  folders = []
  for i in range(n):
    folder = root / f"s{i:04d}"
    shutil.copytree(base, folder)
    for record in report["tasks"]:
      for result in record["results"]:
        result["accuracy"] = float(rng.uniform(0.3, 0.95))
    (folder / "report.json").write_text(json.dumps(report))
    (folder / "submission.json").write_text(json.dumps({"team": f"team {i % 7}", "model": f"model{i}"}))
    folders.append(folder)
  return folders


def timed(function, repeat: int = 3) -> float:
  best = float("inf")
  for _ in range(repeat):
    start = time.perf_counter()
    function()
    best = min(best, time.perf_counter() - start)
  return best


def main():
  parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("--submissions", type=int, nargs="+", default=[10, 100, 300])
  args = parser.parse_args()
  with tempfile.TemporaryDirectory() as tmp:
    root = pathlib.Path(tmp)
    base = one_report(root)
    print("| submissions | read folders s | leaderboard page s | submission page s | task plot s | export s | "
          "export MB |")
    print("|---|---|---|---|---|---|---|")
    for n in args.submissions:
      folders = copies(base, root / f"n{n}", n)
      read = timed(lambda: [pages_data.from_folder(f) for f in folders])
      submissions = [pages_data.from_folder(f) for f in folders]
      urls = pages.ServerUrls()
      board = timed(lambda: pages.leaderboard_page(submissions, urls))
      page = timed(lambda: pages.submission_page(submissions[0], urls))
      plot = timed(lambda: leaderboard_plots.task_plot("noss/crema_d", "canonical", submissions))
      site = root / f"site{n}"
      whole = timed(lambda: export.write_site(submissions, site), repeat=1)
      size = sum(p.stat().st_size for p in site.rglob("*") if p.is_file()) / 2**20
      print(f"| {n} | {read:.3f} | {board:.3f} | {page:.3f} | {plot:.3f} | {whole:.1f} | {size:.1f} |", flush=True)


if __name__ == "__main__":
  main()
