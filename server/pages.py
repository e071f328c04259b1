"""The pages people read: leaderboard, submission, compare, upload, and their plots.

The same render functions serve the live server (`router`) and the static export (`export.py`); only the
addresses differ (`ServerUrls`, `StaticUrls`). Jinja2 escapes every value it prints, so team and model
names from users are shown verbatim and never run. Scripts in static/ only enhance: every page reads
and works (sorting and filtering through the query string) without them.
"""

import functools
import json
import pathlib
import urllib.parse

import jinja2
import markdown_it
import markupsafe
from fastapi import APIRouter, HTTPException, Query
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse, Response

import nossbench
from nossbench.scoring import report as report_module
from nossbench.server import leaderboard, leaderboard_plots, pages_data

HERE = pathlib.Path(__file__).parent
STATIC = HERE / "static"
ENVIRONMENT = jinja2.Environment(loader=jinja2.FileSystemLoader(HERE / "templates"), autoescape=True,
                                 undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
# report.md is the scorer's Markdown; html=False shows any raw HTML in it (a submission's name) as text.
MARKDOWN = markdown_it.MarkdownIt("commonmark", {"html": False}).enable("table")
PROTOCOLS = (*report_module.TABLE2, "intra_speaker")


class ServerUrls:
  """Addresses on the live server."""
  static = False

  def leaderboard(self, **query) -> str:
    shown = {k: v for k, v in query.items() if v}
    return "/leaderboard" + ("?" + urllib.parse.urlencode(shown) if shown else "")

  def submission(self, submission_id: str) -> str:
    return f"/submissions/{urllib.parse.quote(submission_id)}"

  def report_png(self, submission_id: str) -> str:
    return f"/submissions/{urllib.parse.quote(submission_id)}/report.png"

  def compare_form(self) -> str:
    return "/compare"

  def compare_all(self, benchmark: str) -> str:
    return f"/compare?benchmark={urllib.parse.quote(benchmark)}"

  def task_plot(self, task: str, protocol: str) -> str:
    return f"/plots/{protocol}/{task}.svg"

  def submission_plot(self, submission_id: str) -> str:
    return f"/plots/submissions/{urllib.parse.quote(submission_id)}.svg"

  def table_json(self, key: str) -> str:
    return f"/tables/{key}.json"

  def asset(self, name: str) -> str:
    return f"/static/{name}"

  def upload(self) -> str:
    return "/upload"

  def api_docs(self) -> str:
    return "/docs"


class StaticUrls:
  """Relative addresses inside an exported site, from a page `depth` folders below its root, so the site
  opens from disk (file://) and from any static host."""
  static = True

  def __init__(self, depth: int = 0):
    self.up = "../" * depth

  def leaderboard(self, **query) -> str:
    shown = {k: v for k, v in query.items() if v and k != "order" and k != "sort"}
    return self.up + "index.html" + ("?" + urllib.parse.urlencode(shown) if shown else "")

  def submission(self, submission_id: str) -> str:
    return f"{self.up}submissions/{submission_id}.html"

  def report_png(self, submission_id: str) -> str:
    return f"{self.up}submissions/{submission_id}/report.png"

  def compare_form(self) -> None:
    return None

  def compare_all(self, benchmark: str) -> str:
    return f"{self.up}compare/{benchmark}.html"

  def task_plot(self, task: str, protocol: str) -> str:
    return f"{self.up}plots/{protocol}/{task}.svg"

  def submission_plot(self, submission_id: str) -> str:
    return f"{self.up}plots/submissions/{submission_id}.svg"

  def table_json(self, key: str) -> str:
    return f"{self.up}tables/{key}.json"

  def asset(self, name: str) -> str:
    return f"{self.up}static/{name}"

  def upload(self) -> None:
    return None

  def api_docs(self) -> None:
    return None


def _render(template: str, urls, **context) -> str:
  return ENVIRONMENT.get_template(template).render(urls=urls, static=urls.static, version=nossbench.__version__,
                                                   protocol_names=report_module.PROTOCOL_NAMES, **context)


def leaderboard_page(submissions: list[leaderboard.Submission], urls, benchmark: str = "", family: str = "",
                     sort: str = "", descending: bool = True) -> str:
  tables = leaderboard.tables(submissions)  # filtered rows are hidden, so scripts can show them again
  if sort:
    for table in tables:
      table.rows = leaderboard.sort_rows(table.rows, sort, descending)
  return _render("leaderboard.html", urls, tables=tables, benchmarks=leaderboard.BENCHMARKS,
                 families=leaderboard.families(submissions), benchmark=benchmark, family=family, sort=sort,
                 descending=descending, aggregate_definition=leaderboard.AGGREGATE)


def _linkable(url: str) -> str:
  """Only http(s) addresses become links: a declared `javascript:` URL stays text."""
  return url if urllib.parse.urlsplit(url).scheme in ("http", "https") else ""


def _flat(value, prefix: str = "") -> list[tuple[str, str]]:
  """A protocol card as (dotted field, value) rows, the way --compare names the fields that differ."""
  if isinstance(value, dict) and value:
    return [row for key, item in value.items() for row in _flat(item, f"{prefix}{key}.")]
  return [(prefix.rstrip("."), value if isinstance(value, str) else json.dumps(value))]


def submission_page(submission: leaderboard.Submission, urls) -> str:
  cells = {t: {p: leaderboard.cell_of(submission.result(t, p)) for p in PROTOCOLS} for t in submission.tasks}
  protocols = [p for p in PROTOCOLS if any(cells[t][p] is not None for t in submission.tasks)]
  # The page's own heading names the submission: the report's title line is left out.
  body = submission.report_md.split("\n", 1)[1] if submission.report_md.startswith("# ") else submission.report_md
  report_html = MARKDOWN.render(body) if body else ""
  cards = {title: _flat(card) for title, card in submission.protocol_cards.items()}
  return _render("submission.html", urls, submission=submission, cells=cells, protocols=protocols, cards=cards,
                 model_url=_linkable(submission.model_url), report_html=markupsafe.Markup(report_html))


def compare_page(submissions: list[leaderboard.Submission], urls) -> str:
  return _render("compare.html", urls, submissions=submissions, comparisons=leaderboard.compare(submissions))


def upload_page(urls, tasks: list[str], api: str) -> str:
  return _render("upload.html", urls, tasks=tasks, api=api)


def _svg(content: bytes) -> Response:
  return Response(content, media_type="image/svg+xml")


def router(engine, results: pathlib.Path, submissions: pathlib.Path, tasks: list[str], api: str) -> APIRouter:
  """The pages of a live server, reading published jobs from its database and results folder."""
  pages = APIRouter(include_in_schema=False)
  urls = ServerUrls()
  assets = {p.name: p for p in STATIC.iterdir() if p.is_file()}

  def published() -> list[leaderboard.Submission]:
    return pages_data.published_jobs(engine, results, submissions)

  def one(submission_id: str) -> leaderboard.Submission:
    found = pages_data.published_job(engine, results, submissions, submission_id)
    if found is None:
      raise HTTPException(404, f"no published submission {submission_id}")
    return found

  @pages.get("/")
  def home():
    return RedirectResponse("/leaderboard")

  @pages.get("/leaderboard", response_class=HTMLResponse)
  def leaderboard_(benchmark: str = "", family: str = "", sort: str = "", order: str = "desc"):
    if benchmark and benchmark not in leaderboard.BENCHMARKS:
      raise HTTPException(404, f"no benchmark {benchmark!r}; benchmarks: {', '.join(leaderboard.BENCHMARKS)}")
    return leaderboard_page(published(), urls, benchmark, family, sort, order != "asc")

  @pages.get("/submissions/{submission_id}", response_class=HTMLResponse)
  def submission_(submission_id: str):
    return submission_page(one(submission_id), urls)

  @pages.get("/submissions/{submission_id}/report.png")
  def report_png(submission_id: str):
    found = one(submission_id)
    if found.report_png is None:
      raise HTTPException(404, f"submission {submission_id} has no report.png")
    return FileResponse(found.report_png, media_type="image/png")

  @pages.get("/compare", response_class=HTMLResponse)
  def compare_(ids: list[str] = Query([]), benchmark: str = ""):
    chosen = [one(i) for i in dict.fromkeys(ids)] if ids else \
        [s for s in published() if benchmark in s.benchmarks]
    if not chosen:
      raise HTTPException(404, "nothing to compare: tick submissions on the leaderboard, or give ?benchmark=")
    return compare_page(chosen, urls)

  @pages.get("/upload", response_class=HTMLResponse)
  def upload():
    return upload_page(urls, tasks, api)

  @functools.lru_cache(maxsize=256)
  def plot(kind: str, name: str, protocol: str, state: tuple) -> bytes:
    """Drawn once per state of the published results (matplotlib takes a while for many submissions)."""
    del state  # the cache key: a plot changes only when what is published does
    if kind == "submission":
      return leaderboard_plots.submission_plot(one(name), published())
    return leaderboard_plots.task_plot(name, protocol, published())

  @pages.get("/plots/submissions/{submission_id}.svg")
  def submission_plot(submission_id: str):
    return _svg(plot("submission", submission_id, "", pages_data.published_state(engine)))

  @pages.get("/plots/{protocol}/{benchmark}/{task}.svg")
  def task_plot(protocol: str, benchmark: str, task: str):
    if protocol not in PROTOCOLS:
      raise HTTPException(404, f"no protocol {protocol!r}")
    return _svg(plot("task", f"{benchmark}/{task}", protocol, pages_data.published_state(engine)))

  @pages.get("/tables/{key}.json")
  def table_json(key: str):
    spec = next((s for s in leaderboard.TABLES if s.key == key), None)
    if spec is None:
      raise HTTPException(404, f"no table {key!r}")
    return JSONResponse(leaderboard.table(spec, published()).as_json())

  @pages.get("/static/{name}")
  def asset(name: str):
    if name not in assets:
      raise HTTPException(404, f"no asset {name!r}")
    return FileResponse(assets[name])

  return pages
