"""The leaderboard's tables, pages and static export from score-submission's own report folders (no browser:
test_pages_browser.py drives the pages in Chromium)."""

import json
import shutil
import subprocess
import sys
from xml.etree import ElementTree

import numpy as np
import pytest

import scoring_helpers as helpers
from nossbench import UserError
from nossbench.scoring import cli
from nossbench.server import cli as server_cli
from nossbench.server import leaderboard, leaderboard_plots, pages, pages_data

CREMA, SAVEE = "noss/crema_d", "noss/savee"
HOSTILE = '<script>alert("x")</script> & co'


def intra(rows):
  return rows.assign(split=np.where(np.arange(len(rows)) % 5 == 0, "test", "train"), repeat=0)


@pytest.fixture(scope="module")
def reports(tmp_path_factory):
  """Two submissions scored by score-submission: `strong` on CREMA-D and SAVEE (canonical and intra-speaker),
  `weak` on CREMA-D only, with a hostile team and model name and a javascript: model link."""
  root = tmp_path_factory.mktemp("reports")
  tables = {CREMA: helpers.table(speakers=8), SAVEE: helpers.table(speakers=6, per_speaker=10, labels=("x", "y"))}
  for task, rows in tables.items():
    helpers.write(root / "splits", task, "canonical", rows)
    helpers.write(root / "splits", task, "intra_speaker", intra(rows))
  for name, signal, tasks in (("strong", 3.0, (CREMA, SAVEE)), ("weak", 0.0, (CREMA,))):
    inputs = []
    for task in tasks:
      rows = tables[task]
      path = root / f"{name}-{task.split('/')[1]}.npz"
      np.savez(path, example_id=rows["example_id"].to_numpy().astype(str),
               embedding=helpers.embeddings(rows, signal=signal, seed=3))
      inputs.append(f"{task}={path}")
    assert cli.main([*inputs, "--splits", str(root / "splits"), "--out", str(root / name), "--models", "logreg",
                     "--name", name]) == 0
  (root / "weak" / "submission.json").write_text(json.dumps(
      {"team": HOSTILE, "model": f"mfcc13 {HOSTILE}", "model_url": "javascript:alert(1)", "family": "mfcc"}))
  return root


def test_tables_follow_the_paper_layout_and_average_what_each_row_covers(reports):
  strong, weak = (pages_data.from_folder(reports / name) for name in ("strong", "weak"))
  canonical, intra_table, hares = leaderboard.tables([weak, strong])
  assert canonical.tasks == tuple(f"noss/{t}" for t in leaderboard.NOSS_TASKS) and len(hares.tasks) == 12
  assert [r.submission.id for r in canonical.rows] == ["strong", "weak"] and not hares.rows
  top = canonical.rows[0]
  crema, savee = top.cells[CREMA].score, top.cells[SAVEE].score
  assert top.covered == 2 and top.aggregate == pytest.approx((crema + savee) / 2)
  assert strong.report["tasks"][0]["results"][0]["accuracy"] == crema
  assert canonical.rows[1].covered == 1 and canonical.rows[1].cells[SAVEE] is None
  assert [r.submission.id for r in intra_table.rows] == ["strong", "weak"]
  assert weak.family == "mfcc" and strong.family == "strong"  # declared, else the name's leading letters
  rows = leaderboard.sort_rows(canonical.rows, SAVEE, descending=False)
  assert [r.submission.id for r in rows] == ["strong", "weak"]  # rows without the column sort last either way


def test_cells_show_the_reports_interval_when_it_has_one(reports):
  strong = pages_data.from_folder(reports / "strong")
  result = strong.result(CREMA, "canonical")
  score = f'<span class="value">{100 * result["accuracy"]:.1f}</span>'

  def crema_cell() -> str:
    page = pages.leaderboard_page([strong], pages.ServerUrls())
    cell = page[page.index(f'href="/submissions/strong#{CREMA}">'):]
    return cell[cell.index(">") + 1:cell.index("</a>")]

  result.pop("accuracy_ci")  # the scorer writes a 95% interval; a report from before it has none
  assert crema_cell() == score  # no interval in the report: the score alone
  result["accuracy_ci"] = [0.41, 0.795]
  assert crema_cell() == score + '<span class="interval">[41.0, 79.5]</span>'
  assert leaderboard.table(leaderboard.TABLES[0], [strong]).as_json()["rows"][0]["cells"][CREMA]["low"] == 0.41
  result["accuracy_ci"] = [None, None]  # an undefined interval (strict JSON's NaN) is no interval
  assert crema_cell() == score


def test_user_text_is_escaped_and_only_http_links_are_links(reports):
  weak = pages_data.from_folder(reports / "weak")
  urls = pages.ServerUrls()
  for html in (pages.leaderboard_page([weak], urls), pages.submission_page(weak, urls), pages.compare_page([weak], urls)):
    assert "<script>alert" not in html and "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; co" in html
    assert "javascript:" not in html
  svg = leaderboard_plots.task_plot(CREMA, "canonical", [weak])
  tags = {element.tag.rpartition("}")[2] for element in ElementTree.fromstring(svg).iter()}
  assert "script" not in tags and b"<script" not in svg and "text" not in tags  # names drawn as paths


def test_static_export_writes_pages_plots_and_tables(reports, tmp_path):
  site = tmp_path / "site"
  done = subprocess.run([sys.executable, "-m", "nossbench.server.cli", "export", "--out", str(site),
                         "--reports", str(reports / "strong"), str(reports / "weak")], capture_output=True, text=True)
  assert done.returncode == 0, done.stderr
  assert done.stdout == f"exported 2 submissions; open {site / 'index.html'}\n"
  written = sorted(str(p.relative_to(site)) for p in site.rglob("*") if p.is_file())
  assert {"index.html", "submissions/strong.html", "submissions/weak.html", "submissions/strong/report.png",
          "compare/noss.html", "plots/canonical/noss/crema_d.svg", "plots/canonical/noss/savee.svg",
          "plots/intra_speaker/noss/crema_d.svg", "plots/submissions/weak.svg", "tables/noss-canonical.json",
          "tables/noss-intra-speaker.json", "tables/hares-canonical.json", "static/style.css",
          "static/leaderboard.js"} <= set(written)
  assert "compare/hares.html" not in written  # no HARES submission
  table = json.loads((site / "tables/noss-canonical.json").read_text())
  assert [r["submission"] for r in table["rows"]] == ["strong", "weak"]
  assert table["rows"][1]["team"] == HOSTILE and table["rows"][1]["tasks_covered"] == 1
  assert table["rows"][1]["cells"][SAVEE] is None
  assert set(table["rows"][0]["cells"][CREMA]) == {"metric", "score", "low", "high", "std"}
  index = (site / "index.html").read_text()
  assert 'href="submissions/weak.html"' in index and 'href="static/style.css"' in index and 'href="/' not in index
  assert 'src="../plots/submissions/strong.svg"' in (site / "submissions/strong.html").read_text()

  # A rerun replaces its own export; a folder of anything else is refused and left alone.
  assert server_cli.main(["export", "--out", str(site), "--reports", str(reports / "weak")]) == 0
  assert not (site / "submissions/strong.html").exists()
  (tmp_path / "mine").mkdir()
  (tmp_path / "mine" / "notes.txt").write_text("keep")
  assert server_cli.main(["export", "--out", str(tmp_path / "mine"), "--reports", str(reports / "weak")]) == 2
  assert (tmp_path / "mine" / "notes.txt").read_text() == "keep"
  assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no staging folder left behind


def test_export_arguments_are_checked(reports, tmp_path, capsys):
  assert server_cli.main(["export", "--out", str(tmp_path / "s")]) == 2
  assert "either --data (a server's data folder) or --reports" in capsys.readouterr().err
  (tmp_path / "bad name").mkdir()
  (tmp_path / "bad name" / "report.json").write_text((reports / "weak" / "report.json").read_text())
  assert server_cli.main(["export", "--out", str(tmp_path / "s"), "--reports", str(tmp_path / "bad name")]) == 2
  assert "bad name: a report folder's name is its submission id" in capsys.readouterr().err
  twice = [str(reports / "weak"), str(reports / "weak")]
  assert server_cli.main(["export", "--out", str(tmp_path / "s"), "--reports", *twice]) == 2
  assert "several folders are named weak" in capsys.readouterr().err
  assert not (tmp_path / "s").exists()
  with pytest.raises(UserError, match="no report.json"):
    pages_data.from_folder(tmp_path)


def test_submission_page_shows_each_results_protocol_card(reports, tmp_path):
  assert "carries no protocol card" not in pages.submission_page(pages_data.from_folder(reports / "strong"),
                                                                 pages.ServerUrls())  # the scorer writes cards
  folder = tmp_path / "carded"
  shutil.copytree(reports / "strong", folder)
  report = json.loads((folder / "report.json").read_text())
  for task in report["tasks"]:  # as a report written before protocol cards existed
    for result in task["results"]:
      result.pop("protocol_card", None)
  (folder / "report.json").write_text(json.dumps(report))
  assert "carries no protocol card" in pages.submission_page(pages_data.from_folder(folder), pages.ServerUrls())
  report["tasks"][0]["results"][0]["protocol_card"] = {  # as the scorer writes them, one per result
      "task": CREMA, "build": {"split_examples": {"test": 20}}, "probe": {"grid": ["logreg/none"]}}
  (folder / "report.json").write_text(json.dumps(report))
  page = pages.submission_page(pages_data.from_folder(folder), pages.ServerUrls())
  assert f"<summary>{CREMA}, canonical</summary>" in page
  assert "<tr><th>build.split_examples.test</th><td><code>20</code></td></tr>" in page
  assert "<tr><th>probe.grid</th><td><code>[&#34;logreg/none&#34;]</code></td></tr>" in page


def test_compare_shows_differences_only_between_results_of_one_protocol(reports, tmp_path):
  strong, weak = (pages_data.from_folder(reports / name) for name in ("strong", "weak"))
  canonical = leaderboard.compare([strong, weak])[0]
  assert canonical.protocol == "canonical" and canonical.tasks == [CREMA, SAVEE]
  difference = canonical.rows[1][1][CREMA]
  expected = weak.result(CREMA, "canonical")["accuracy"] - strong.result(CREMA, "canonical")["accuracy"]
  assert difference.difference == pytest.approx(expected) and expected < 0
  assert canonical.rows[1][1][SAVEE].cell is None and canonical.rows[1][1][SAVEE].difference is None
  assert f'<span class="diff down">{100 * expected:+.1f}</span>' in pages.compare_page([strong, weak], pages.ServerUrls())
  paired = canonical.rows[1][1][CREMA].paired  # the scorer's paired test on the kept predictions
  assert paired["task"] == CREMA and paired["difference"] == pytest.approx(-expected)
  assert 0 < paired["p_holm"] <= 1 and paired["significant"] == (paired["p_holm"] < 0.05)
  assert f"p = {paired['p_holm']:.3f}" in pages.compare_page([strong, weak], pages.ServerUrls())
  older = tmp_path / "weak"  # a report from before predictions were kept: plain differences only
  shutil.copytree(reports / "weak", older)
  shutil.rmtree(older / "predictions")
  plain = leaderboard.compare([strong, pages_data.from_folder(older)])[0].rows[1][1][CREMA]
  assert plain.paired is None and plain.difference == pytest.approx(expected)
  strong.result(CREMA, "canonical")["protocol_id"] = "a" * 64
  weak.result(CREMA, "canonical")["protocol_id"] = "b" * 64
  marked = leaderboard.compare([strong, weak])[0].rows[1][1][CREMA]
  assert marked.other_protocol and marked.difference is None
  assert '<span class="diff other">other protocol</span>' in pages.compare_page([strong, weak], pages.ServerUrls())
