"""The leaderboard pages in a real browser: Debian's headless Chromium driven by Selenium, against real server
and worker processes on 127.0.0.1, then the static export opened from disk.

Screenshots of every page land in test-artifacts/pages/ (NOSSBENCH_ARTIFACTS overrides). After `make demo`,
the demo's static leaderboard is checked the same way; with NOSSBENCH_README_SCREENSHOT=1 its screenshot
replaces docs/leaderboard.png, the README's picture.
"""

import json
import os
import pathlib
import shutil
import subprocess
import tempfile
import urllib.parse

import httpx
import numpy as np
import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import Select, WebDriverWait

import scoring_helpers
import server_helpers as sh

REPO = pathlib.Path(__file__).resolve().parents[1]
DEMO_SITE = pathlib.Path(os.environ.get("NOSSBENCH_DEMO", REPO / "demo")) / "site" / "index.html"
ARTIFACTS = pathlib.Path(os.environ.get("NOSSBENCH_ARTIFACTS", REPO / "test-artifacts")) / "pages"
CHROMIUM, CHROMEDRIVER = shutil.which("chromium"), shutil.which("chromedriver")
# Team names a page must show verbatim: markup and quotes in them stay text.
HOSTILE_TEAM = 'Lab <i>"α"</i> & Co'
pytestmark = pytest.mark.skipif(not (CHROMIUM and CHROMEDRIVER),
                                reason="needs Debian's chromium and chromium-driver (make install adds them)")


@pytest.fixture(scope="module")
def browser():
  options = webdriver.ChromeOptions()
  options.binary_location = CHROMIUM
  profile = tempfile.mkdtemp(prefix="chromium-profile-")
  # No sync, updates, background fetches or first-run pages: the test machine has no network.
  for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
               "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
               f"--user-data-dir={profile}", "--window-size=1400,1000"):
    options.add_argument(flag)
  options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
  driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
  yield driver
  driver.quit()
  shutil.rmtree(profile, ignore_errors=True)


def embeddings_file(folder: pathlib.Path, rows, signal: float, seed: int) -> pathlib.Path:
  path = folder / f"signal{signal}.npz"
  path.write_bytes(sh.npz_bytes(rows["example_id"].tolist(), scoring_helpers.embeddings(rows, signal=signal,
                                                                                        seed=seed)))
  return path


@pytest.fixture(scope="module")
def site(tmp_path_factory):
  """A server and worker scoring noss/crema_d (canonical and intra-speaker), with two published
  submissions from two teams uploaded through the API; the third comes through the form in the tests."""
  root = tmp_path_factory.mktemp("pages")
  data = root / "data"
  rows = sh.make_data(data)
  scoring_helpers.write(data / "splits", sh.TASK, "intra_speaker", rows.assign(
      split=np.where(np.arange(len(rows)) % 5 == 0, "test", "train"), repeat=0))
  db = f"sqlite:///{root / 'server.sqlite'}"
  server = sh.Server(data, db)
  worker = sh.Worker(data, db, "--heartbeat", "0.5")
  tokens = {name: sh.create_team(data, db, name) for name in (HOSTILE_TEAM, "Plain team")}
  published = {}
  for (model, signal, team) in (("mfcc13", 3.0, HOSTILE_TEAM), ("random_resnetish", 0.0, "Plain team")):
    with server.client(tokens[team]) as client:
      answer = sh.upload(client, f"{model}.npz", embeddings_file(root, rows, signal, seed=len(model)).read_bytes(),
                         name=model)
      assert answer.status_code == 202, answer.text
      job = sh.wait_for_state(client, answer.json()["id"], {"done", "failed"})
      assert job["state"] == "done", job
    sh.admin(data, db, "publish", job["id"])
    published[model] = str(job["id"])
  yield {"root": root, "data": data, "db": db, "server": server, "tokens": tokens, "rows": rows,
         "published": published}
  worker.stop()
  server.stop()


def screenshot(driver, name: str) -> pathlib.Path:
  """The whole page (the window grown to its height), saved as a test artifact."""
  ARTIFACTS.mkdir(parents=True, exist_ok=True)
  WebDriverWait(driver, 30).until(lambda d: d.execute_script("return Array.from(document.images).every(i => i.complete)"))
  height = driver.execute_script("return document.documentElement.scrollHeight")
  driver.set_window_size(1400, min(max(height, 600), 4000))
  path = ARTIFACTS / f"{name}.png"
  driver.save_screenshot(str(path))
  driver.set_window_size(1400, 1000)
  return path


def addresses(driver) -> set[str]:
  """Every address the page links to or loads: a[href], img[src], link[href], script[src], form[action]."""
  found = driver.execute_script("""
    const out = [];
    document.querySelectorAll('a[href], link[href]').forEach(e => out.push(e.href));
    document.querySelectorAll('img[src], script[src]').forEach(e => out.push(e.src));
    return out;""")
  return {a.split("#")[0] for a in found}


def check_page(driver, name: str, base: str | None = None) -> pathlib.Path:
  """No console errors; every local address answers 200 (server) or exists (file://); returns a screenshot."""
  errors = [entry for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]
  assert not errors, f"{name}: console errors {errors}"
  links = addresses(driver)
  for link in sorted(links):
    parts = urllib.parse.urlsplit(link)
    if parts.scheme == "file":
      assert pathlib.Path(urllib.parse.unquote(parts.path)).is_file(), f"{name}: broken link {link}"
    elif base and link.startswith(base):
      assert httpx.get(link, timeout=60).status_code == 200, f"{name}: broken link {link}"
  return screenshot(driver, name)


def rows_of(driver, table: str) -> list:
  return driver.find_elements(By.CSS_SELECTOR, f"table[data-table='{table}'] tbody tr")


def column_values(driver, table: str, column: str) -> list[float | None]:
  index = driver.execute_script(
      f"return document.querySelector(\"table[data-table='{table}'] th[data-column='{column}']\").cellIndex")
  values = [row.find_elements(By.TAG_NAME, "td")[index].get_attribute("data-value") for row in rows_of(driver, table)]
  return [float(v) if v else None for v in values]


@pytest.fixture(scope="module")
def uploaded(site, browser):
  """logmel uploaded through the form by the plain team; the page followed the job to its end."""
  server = site["server"]
  path = embeddings_file(site["root"], site["rows"], 1.0, seed=6)
  logmel = path.with_name("logmel.npz")
  path.rename(logmel)
  browser.get(f"{server.url}/upload")
  browser.find_element(By.ID, "token").send_keys(site["tokens"]["Plain team"])
  Select(browser.find_element(By.ID, "task")).select_by_value(sh.TASK)
  browser.find_element(By.ID, "name").send_keys("logmel")
  browser.find_element(By.ID, "file").send_keys(str(logmel))
  browser.find_element(By.ID, "send").click()
  WebDriverWait(browser, 120).until(
      lambda d: d.find_element(By.ID, "job-state").text in ("done", "failed", "cancelled"))
  job_id = browser.find_element(By.ID, "job-id").text
  WebDriverWait(browser, 30).until(expected_conditions.presence_of_element_located((By.CSS_SELECTOR, "#job-scores td")))
  return {"job": job_id, "state": browser.find_element(By.ID, "job-state").text,
          "scores": [td.text for td in browser.find_elements(By.CSS_SELECTOR, "#job-scores td")],
          "history": [li.text for li in browser.find_elements(By.CSS_SELECTOR, "#job-history li")]}


def test_upload_form_follows_the_job_to_done(site, browser, uploaded):
  assert uploaded["state"] == "done", uploaded
  assert uploaded["scores"][:2] == [sh.TASK, "canonical"] and "intra_speaker" in uploaded["scores"]
  assert [line.split(" ")[1] for line in uploaded["history"]][:1] == ["queued"]
  assert any(" done" in line for line in uploaded["history"])
  check_page(browser, "upload", site["server"].url)


def test_leaderboard_shows_the_row_and_sorts(site, browser, uploaded):
  server = site["server"]
  plot = f"{server.url}/plots/canonical/{sh.TASK}.svg"
  before = httpx.get(plot, timeout=60).content
  assert httpx.get(plot, timeout=60).content == before
  sh.admin(site["data"], site["db"], "publish", uploaded["job"])
  assert httpx.get(plot, timeout=60).content != before  # redrawn once the published results change
  browser.get(f"{server.url}/leaderboard")
  ids = [r.get_attribute("data-submission") for r in rows_of(browser, "noss-canonical")]
  assert sorted(ids) == sorted([*site["published"].values(), uploaded["job"]])
  row = browser.find_element(By.CSS_SELECTOR, f"table[data-table='noss-canonical'] tr[data-submission='{uploaded['job']}']")
  assert row.find_element(By.CSS_SELECTOR, "td a").text == "logmel"
  assert "Plain team" in row.text
  teams = [r.find_elements(By.TAG_NAME, "td")[3].text for r in rows_of(browser, "noss-canonical")]
  assert HOSTILE_TEAM in teams  # shown verbatim, not as markup
  assert not browser.find_elements(By.CSS_SELECTOR, "table.leaderboard i")
  assert len(rows_of(browser, "noss-intra-speaker")) == 3 and not rows_of(browser, "hares-canonical")

  header = f"table[data-table='noss-canonical'] th[data-column='{sh.TASK}'] a"
  browser.find_element(By.CSS_SELECTOR, header).click()
  scores = column_values(browser, "noss-canonical", sh.TASK)
  assert scores == sorted(scores, reverse=True) and len(set(scores)) > 1, scores
  browser.find_element(By.CSS_SELECTOR, header).click()
  assert column_values(browser, "noss-canonical", sh.TASK) == sorted(scores)
  ranks = [r.find_element(By.CSS_SELECTOR, "td.rank").text for r in rows_of(browser, "noss-canonical")]
  assert ranks == ["1", "2", "3"]
  check_page(browser, "leaderboard", server.url)

  # Without scripts the same heading is a link the server sorts by.
  page = httpx.get(f"{server.url}/leaderboard", params={"sort": sh.TASK, "order": "asc"}).text
  canonical = page[page.index('data-table="noss-canonical"'):page.index('data-table="noss-intra-speaker"')]
  order = sorted(ids, key=lambda i: canonical.index(f'data-submission="{i}"'))
  by_score = dict(zip([r.get_attribute("data-submission") for r in rows_of(browser, "noss-canonical")],
                      column_values(browser, "noss-canonical", sh.TASK)))
  assert [by_score[i] for i in order] == sorted(by_score.values())


def test_filter_by_model_family(site, browser, uploaded):
  browser.get(f"{site['server'].url}/leaderboard")
  Select(browser.find_element(By.ID, "filter-family")).select_by_value("mfcc")
  shown = [r.get_attribute("data-submission") for r in rows_of(browser, "noss-canonical") if r.is_displayed()]
  assert shown == [site["published"]["mfcc13"]]
  assert "family=mfcc" in browser.current_url
  Select(browser.find_element(By.ID, "filter-benchmark")).select_by_value("hares")
  assert not browser.find_element(By.ID, "noss-canonical").is_displayed()
  assert browser.find_element(By.ID, "hares-canonical").is_displayed()
  # The same filter without scripts: the server hides the other rows.
  page = httpx.get(f"{site['server'].url}/leaderboard", params={"family": "random"}).text
  assert page.count("hidden>") >= 2 and f'data-submission="{site["published"]["random_resnetish"]}">' in page


def test_submission_and_compare_pages(site, browser, uploaded):
  server = site["server"]
  mfcc = site["published"]["mfcc13"]
  browser.get(f"{server.url}/leaderboard")
  browser.find_element(By.CSS_SELECTOR, f"table[data-table='noss-canonical'] tr[data-submission='{mfcc}'] td a").click()
  assert browser.current_url == f"{server.url}/submissions/{mfcc}"
  assert browser.find_element(By.TAG_NAME, "h1").text == "mfcc13"
  facts = browser.find_element(By.CSS_SELECTOR, "dl.facts").text
  assert HOSTILE_TEAM in facts
  files = browser.find_element(By.CSS_SELECTOR, "table.files tbody").text
  assert "mfcc13.npz" in files and len(browser.find_element(By.CSS_SELECTOR, "table.files code").text) == 64
  history = [td.text for td in browser.find_elements(By.CSS_SELECTOR, "table.history td span.state")]
  assert history[0] == "queued" and "done" in history
  assert browser.find_element(By.CSS_SELECTOR, ".report table") is not None  # report.md's tables
  images = [img for img in browser.find_elements(By.CSS_SELECTOR, "img")]
  assert len(images) == 2 and all(browser.execute_script("return arguments[0].naturalWidth", i) > 0 for i in images)
  check_page(browser, "submission", server.url)

  browser.get(f"{server.url}/leaderboard")
  for model in ("mfcc13", "random_resnetish"):
    browser.find_element(By.CSS_SELECTOR, f"table[data-table='noss-canonical'] tr[data-submission='{site['published'][model]}'] "
                                          "input[type=checkbox]").click()
  browser.find_element(By.CSS_SELECTOR, "#noss-canonical .compare-form button").click()
  WebDriverWait(browser, 60).until(expected_conditions.url_contains("/compare"))  # not the leaving page's h1
  WebDriverWait(browser, 60).until(expected_conditions.presence_of_element_located((By.CSS_SELECTOR, "table.compare")))
  assert browser.find_element(By.TAG_NAME, "h1").text == "2 submissions side by side"
  first, second = browser.find_elements(By.CSS_SELECTOR, "table.compare")[0].find_elements(By.CSS_SELECTOR, "tbody tr")
  difference = second.find_element(By.CSS_SELECTOR, ".diff").text
  first_score, second_score = (float(r.find_element(By.CSS_SELECTOR, ".value").text) for r in (first, second))
  assert float(difference) == pytest.approx(second_score - first_score, abs=0.11)
  check_page(browser, "compare", server.url)


def test_static_export_opens_from_disk(site, browser, uploaded):
  out = site["root"] / "site"
  done = subprocess.run([sh.executable(), "export", "--data", str(site["data"]), "--db", site["db"], "--out", str(out)],
                        capture_output=True, text=True, check=True)
  assert done.stdout.strip() == f"exported 3 submissions; open {out / 'index.html'}"
  browser.get((out / "index.html").as_uri())
  assert len(rows_of(browser, "noss-canonical")) == 3
  browser.find_element(By.CSS_SELECTOR, "table[data-table='noss-canonical'] th[data-column='aggregate'] a").click()
  aggregates = column_values(browser, "noss-canonical", "aggregate")
  assert aggregates == sorted(aggregates, reverse=True)
  check_page(browser, "static-leaderboard")
  browser.find_element(By.CSS_SELECTOR, f"tr[data-submission='{uploaded['job']}'] td a").click()
  assert browser.find_element(By.TAG_NAME, "h1").text == "logmel"
  check_page(browser, "static-submission")
  browser.find_element(By.PARTIAL_LINK_TEXT, "Compare with every NOSS submission").click()
  assert browser.find_element(By.TAG_NAME, "h1").text == "3 submissions side by side"
  check_page(browser, "static-compare")
  table = json.loads((out / "tables" / "noss-canonical.json").read_text())
  assert [r["submission"] for r in table["rows"]][0] == site["published"]["mfcc13"]
  assert table["tasks"][3] == sh.TASK and table["rows"][0]["cells"][sh.TASK]["metric"] == "accuracy"


@pytest.mark.skipif(not DEMO_SITE.is_file(), reason=f"no {DEMO_SITE}: `make demo` writes it")
def test_demo_static_leaderboard(browser):
  """The demo's site (make demo: logmel and two zoo baselines on the synthesized CREMA-D) from disk."""
  browser.get(f"{DEMO_SITE.as_uri()}?benchmark=noss")
  models = [r.find_element(By.CSS_SELECTOR, "td a").text for r in rows_of(browser, "noss-canonical")]
  assert sorted(models) == ["logmel", "mfcc13", "random_resnetish"]
  assert column_values(browser, "noss-canonical", "aggregate") == sorted(
      column_values(browser, "noss-canonical", "aggregate"), reverse=True)
  assert not browser.find_element(By.ID, "hares-canonical").is_displayed()
  shot = check_page(browser, "demo-leaderboard")
  if os.environ.get("NOSSBENCH_README_SCREENSHOT"):
    shutil.copyfile(shot, REPO / "docs" / "leaderboard.png")
