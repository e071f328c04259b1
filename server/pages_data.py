"""Where the pages get their submissions: the server's database and results folder, or report folders on disk.

Both return `leaderboard.Submission`s, so the pages, plots and static export never see the storage.
"""

import json
import pathlib
import re

from nossbench import UserError
from nossbench.scoring import report as report_module
from nossbench.server import jobs, leaderboard

SAFE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}")
# Beside report.json in a report folder on disk: who submitted it (all keys optional).
SUBMISSION_JSON = "submission.json"


def _read_json(path: pathlib.Path):
  try:
    return json.loads(path.read_text())
  except (OSError, ValueError) as error:
    raise UserError(f"{path}: not readable as JSON ({error}); rescore the submission or remove the folder") from error


def _protocol_cards(report: dict) -> dict[str, dict]:
  """{"<task>, <protocol>": card} of every result that carries the scorer's protocol card."""
  return {f"{t['task']}, {r['protocol']}": r["protocol_card"] for t in report_module.tasks_of(report)
          for r in t["results"] if isinstance(r.get("protocol_card"), dict)}


def _report_files(folder: pathlib.Path) -> dict:
  report = _read_json(folder / "report.json")
  return {"report": report,
          "report_md": (folder / "report.md").read_text() if (folder / "report.md").is_file() else "",
          "report_png": folder / "report.png" if (folder / "report.png").is_file() else None,
          "protocol_cards": _protocol_cards(report), "folder": folder}


def _checksums(report: dict) -> dict[str, str]:
  return {t["task"]: t.get("submission_sha256", "") for t in report_module.tasks_of(report)}


def _iso(value) -> str:
  return "" if value is None else value.isoformat(sep=" ", timespec="seconds")


def from_job(job: dict, results: pathlib.Path, submissions: pathlib.Path) -> leaderboard.Submission | None:
  """A done job of the server (jobs.get/listing's dict); None when its result folder is gone."""
  folder = results / job["result_dir"] if job.get("result_dir") else None
  if folder is None or not (folder / "report.json").is_file():
    return None
  found = _report_files(folder)
  sums = _checksums(found["report"])
  files = []
  for f in job["files"]:
    stored = submissions / job["submission_dir"] / f["path"]
    files.append({"task": f["task"], "name": f["filename"], "sha256": sums.get(f["task"], ""),
                  "bytes": stored.stat().st_size if stored.is_file() else None})
  return leaderboard.Submission(
      id=str(job["id"]), team=job["team"], model_name=job["name"], model_url=job.get("model_url") or "",
      family=job.get("family") or "", published=bool(job["published"]), created=_iso(job["created_at"]),
      files=files, history=[{"at": _iso(e["at"]), "state": e["state"], "detail": e["detail"]}
                            for e in job.get("history", [])], **found)


def published_jobs(engine, results: pathlib.Path, submissions: pathlib.Path) -> list[leaderboard.Submission]:
  found = [from_job(j, results, submissions) for j in jobs.listing(engine, state="done", published=True)]
  return [s for s in found if s is not None]


def published_state(engine) -> tuple:
  """What the published leaderboard depends on, without reading any report: (job id, result folder) pairs."""
  return tuple((j["id"], j["result_dir"]) for j in jobs.listing(engine, state="done", published=True))


def published_job(engine, results: pathlib.Path, submissions: pathlib.Path,
                  submission_id: str) -> leaderboard.Submission | None:
  if not submission_id.isdigit():
    return None
  job = jobs.get(engine, int(submission_id))
  if job is None or job["state"] != "done" or not job["published"]:
    return None
  return from_job(job, results, submissions)


def from_folder(folder) -> leaderboard.Submission:
  """A report folder written by score-submission (report.json, report.md, report.png), its name the id.
  An optional submission.json gives `team`, `model`, `model_url`, `family`, `created`."""
  folder = pathlib.Path(folder)
  if not (folder / "report.json").is_file():
    raise UserError(f"{folder}: no report.json; give folders that score-submission --out wrote")
  if not SAFE_ID.fullmatch(folder.name):
    raise UserError(f"{folder}: a report folder's name is its submission id in page addresses; rename it to "
                    "letters, digits, '.', '_' and '-' (at most 100, starting with a letter or digit)")
  found = _report_files(folder)
  meta = _read_json(folder / SUBMISSION_JSON) if (folder / SUBMISSION_JSON).is_file() else {}
  report = found["report"]
  return leaderboard.Submission(
      id=folder.name, team=str(meta.get("team", "")), model_name=str(meta.get("model", report_module.label_of(report))),
      model_url=str(meta.get("model_url", "")), family=str(meta.get("family", "")),
      created=str(meta.get("created", "")),
      files=[{"task": t["task"], "name": pathlib.PurePath(str(t.get("submission", ""))).name,
              "sha256": t.get("submission_sha256", ""), "bytes": None} for t in report_module.tasks_of(report)],
      **found)
