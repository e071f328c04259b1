"""The HTTP API (FastAPI; its OpenAPI page is /docs). Pages for people can be added as another router.

Teams authenticate with `Authorization: Bearer <token>`. A team sees its own jobs and results; published
results are visible to everyone; anything else answers 404, as if it did not exist.
"""

import asyncio
import dataclasses
import pathlib
import shutil
import uuid

import sqlalchemy as sa
from fastapi import APIRouter, FastAPI, HTTPException, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, JSONResponse
from starlette.requests import ClientDisconnect

import nossbench
from nossbench import UserError
from nossbench.server import accounts, jobs, pages, uploads
from nossbench.server.data import DataFolder
from nossbench.splits import manifest

PREFIX = "/api/v1"


@dataclasses.dataclass
class Settings:
  data: DataFolder
  engine: sa.Engine
  tasks: list[str]
  limits: jobs.Limits = jobs.Limits()
  max_upload_bytes: int = 1 << 30
  max_unpacked_bytes: int = 4 << 30  # embeddings in memory while validating one upload
  validations: int = 2  # uploads validated at once (each holds its embeddings in memory)


def _unauthorized(message: str):
  return HTTPException(401, message, headers={"WWW-Authenticate": "Bearer"})


def _token(request: Request) -> str | None:
  scheme, _, token = request.headers.get("authorization", "").partition(" ")
  return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def _team(settings: Settings, request: Request, required: bool = True) -> dict | None:
  token = _token(request)
  if token is None:
    if required:
      raise _unauthorized("give your team's token: Authorization: Bearer <token>")
    return None
  team = accounts.team_for_token(settings.engine, token)
  if team is None:
    raise _unauthorized("this token belongs to no team; check it, or ask the server's operator for one")
  return team


def _iso(value) -> str | None:
  return None if value is None else value.isoformat(timespec="seconds") + "Z"


def job_json(job: dict) -> dict:
  shown = {
      "id": job["id"], "url": f"{PREFIX}/jobs/{job['id']}", "team": job["team"], "name": job["name"],
      "state": job["state"], "reason": job["reason"], "published": job["published"],
      "tasks": sorted({f["task"] for f in job["files"]}),
      "files": [{"task": f["task"], "filename": f["filename"]} for f in job["files"]],
      "attempts": job["attempts"], "created_at": _iso(job["created_at"]), "started_at": _iso(job["started_at"]),
      "finished_at": _iso(job["finished_at"]),
      "results_url": f"{PREFIX}/jobs/{job['id']}/files" if job["state"] == "done" else None,
  }
  if "history" in job:
    shown["history"] = [{"at": _iso(e["at"]), "state": e["state"], "detail": e["detail"]} for e in job["history"]]
  return shown


def result_files(settings: Settings, job: dict) -> dict[str, pathlib.Path]:
  """{name: path} of what the scorer wrote for a done job (report.json, report.md, report.png, ...)."""
  if job["state"] != "done" or not job["result_dir"]:
    return {}
  folder = settings.data.results / job["result_dir"]
  return {p.name: p for p in sorted(folder.iterdir()) if p.is_file()} if folder.is_dir() else {}


def api(settings: Settings) -> APIRouter:
  router = APIRouter(prefix=PREFIX)
  manifests = {}
  validation_slots = asyncio.Semaphore(settings.validations)

  def visible_job(request: Request, job_id: int) -> dict:
    team = _team(settings, request, required=False)
    job = jobs.get(settings.engine, job_id)
    if job is None or not (job["published"] or (team and team["id"] == job["team_id"])):
      raise HTTPException(404, f"no job {job_id} that you can see")
    return job

  def canonical(task: str):
    if task not in manifests:
      manifests[task] = manifest.read_manifest(settings.data.splits, task, "canonical")[0]
    return manifests[task]

  @router.get("/health")
  def health() -> dict:
    return {"ok": True, "version": nossbench.__version__, "tasks": settings.tasks}

  @router.get("/tasks")
  def tasks() -> list[str]:
    """The tasks submissions may be for, as prepare-splits wrote their manifests on this server."""
    return settings.tasks

  @router.post("/submissions", status_code=202, openapi_extra={"requestBody": {
      "required": True, "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}}})
  async def submit(request: Request,
                   filename: str = Query(..., description="your file's name: its extension gives the format"),
                   task: str | None = Query(None, description="<benchmark>/<task>; not for a .zip of several"),
                   name: str | None = Query(None, description="the submission's name (default: the file name)")):
    """Uploads one task's file (.npz, .parquet, .tfrecord) or a .zip of `<benchmark>/<task>.<ext>` files.

    The body is the file itself. 202: queued (its URL in `url`); 422: every problem the validator found;
    413: over the size limit; 429: over the team's rate limit or queued-jobs cap.
    """
    team = await run_in_threadpool(_team, settings, request)
    try:
      ext = uploads.extension(filename)
    except UserError as error:
      return JSONResponse({"valid": False, "problems": [{"code": "format", "message": str(error)}]}, 422)
    archive = ext == uploads.ARCHIVE
    if not archive and task not in settings.tasks:
      message = (f"task {task!r} is not served here" if task else "give the task= this file is for") + \
                f"; tasks: {', '.join(settings.tasks)}"
      return JSONResponse({"valid": False, "problems": [{"code": "task", "message": message}]}, 422)
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > settings.max_upload_bytes:
      raise HTTPException(413, f"the upload is over the server's limit of {settings.max_upload_bytes} bytes")
    try:
      await run_in_threadpool(jobs.check_limits, settings.engine, team["id"], settings.limits)
    except jobs.TooMany as error:
      raise HTTPException(429, str(error)) from error

    folder = settings.data.incoming / uuid.uuid4().hex
    folder.mkdir()
    try:
      path = folder / ("upload.zip" if archive else uploads.stored_name(task, ext))
      await uploads.receive(request.stream(), path, settings.max_upload_bytes)
      if archive:
        files = await run_in_threadpool(uploads.unpack, path, folder, settings.tasks, settings.max_unpacked_bytes)
        path.unlink()
      else:
        files = [{"task": task, "path": path.name, "filename": filename}]
      async with validation_slots:
        for f in files:
          await run_in_threadpool(canonical, f["task"])
        problems = await run_in_threadpool(uploads.validate, folder, files, manifests, settings.max_unpacked_bytes)
      if problems:
        return JSONResponse({"valid": False, "problems": problems}, 422)
      stored = settings.data.submissions / folder.name
      folder.rename(stored)
      try:
        job_id = await run_in_threadpool(jobs.enqueue, settings.engine, team["id"], filename if name is None else name,
                                         files, folder.name, settings.limits)
      except BaseException:
        shutil.rmtree(stored, ignore_errors=True)
        raise
    except uploads.TooLarge as error:
      raise HTTPException(413, str(error)) from error
    except jobs.TooMany as error:
      raise HTTPException(429, str(error)) from error
    except UserError as error:
      return JSONResponse({"valid": False, "problems": [{"code": "unreadable", "message": str(error)}]}, 422)
    except ClientDisconnect:
      return JSONResponse({"detail": "the upload was interrupted; nothing was kept"}, 400)
    finally:
      shutil.rmtree(folder, ignore_errors=True)
    return {"id": job_id, "state": "queued", "url": f"{PREFIX}/jobs/{job_id}"}

  @router.get("/jobs")
  def team_jobs(request: Request, state: str | None = None) -> list[dict]:
    """Your team's jobs, oldest first."""
    team = _team(settings, request)
    return [job_json(j) for j in jobs.listing(settings.engine, team_id=team["id"], state=state)]

  @router.get("/jobs/{job_id}")
  def job(request: Request, job_id: int) -> dict:
    """A job's state and history: yours, or any published one."""
    return job_json(visible_job(request, job_id))

  @router.post("/jobs/{job_id}/cancel")
  def cancel(request: Request, job_id: int) -> dict:
    """Cancels your queued or running job; a finished job stays as it is (409)."""
    team = _team(settings, request)
    state = jobs.cancel(settings.engine, job_id, team_id=team["id"])
    if state is None:
      raise HTTPException(404, f"no job {job_id} that you can see")
    if state != "cancelled":
      raise HTTPException(409, f"job {job_id} is {state} already; only queued or running jobs can be cancelled")
    return job_json(jobs.get(settings.engine, job_id))

  @router.get("/jobs/{job_id}/files")
  def files(request: Request, job_id: int) -> dict:
    """The files of a done job's result: report.json, report.md, report.png (and what else the scorer wrote)."""
    found = result_files(settings, visible_job(request, job_id))
    return {"files": [{"name": n, "url": f"{PREFIX}/jobs/{job_id}/files/{n}"} for n in found]}

  @router.get("/jobs/{job_id}/files/{name}")
  def file(request: Request, job_id: int, name: str):
    found = result_files(settings, visible_job(request, job_id))
    if name not in found:
      raise HTTPException(404, f"job {job_id} has no result file {name!r}")
    return FileResponse(found[name])

  @router.get("/results")
  def results() -> list[dict]:
    """Every published result, oldest first."""
    return [job_json(j) for j in jobs.listing(settings.engine, state="done", published=True)]

  return router


def create_app(settings: Settings) -> FastAPI:
  app = FastAPI(title="nossbench submission server", version=nossbench.__version__,
                description="Upload embeddings; the server scores them against its own splits.")
  app.include_router(api(settings))
  app.include_router(pages.router(settings.engine, settings.data.results, settings.data.submissions, settings.tasks, PREFIX))
  return app
