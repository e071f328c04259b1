"""The scoring worker: claims jobs, runs `score-submission` on each in a child process with time and memory
limits, heartbeats while it runs, and records the result.

The child is the scorer's own command (`python -m nossbench.scoring.cli`), with the server's settings: the
submitter chooses no splits, probes or seeds. It writes into a folder per job and attempt; only the
attempt that still holds the claim when it finishes is recorded. The child dies with its worker (Linux
parent-death signal), so a killed worker leaves no scoring behind it, and its job is reclaimed by the next
worker once its heartbeat is `stale_after` seconds old.
"""

import ctypes
import dataclasses
import os
import pathlib
import resource
import shutil
import signal
import socket
import subprocess
import sys
import time

import sqlalchemy as sa

from nossbench.server import jobs
from nossbench.server.data import DataFolder

PR_SET_PDEATHSIG = 1
REASON_CHARS = 4000
# What running out of address space (RLIMIT_AS) looks like, from Python, numpy and the dynamic loader.
OUT_OF_MEMORY = ("MemoryError", "Unable to allocate", "Cannot allocate memory", "failed to map segment",
                 "std::bad_alloc")


@dataclasses.dataclass
class Settings:
  data: DataFolder
  engine: sa.Engine
  models: str | None = None  # probe models, comma-separated (default: the scorer's full grid)
  seed: int = 0
  time_limit: float = 3600.0  # seconds of wall time per job (CPU time is capped at the same)
  memory_limit: int = 16 << 30  # bytes of address space for the scoring process
  heartbeat: float = 2.0
  stale_after: float = 30.0
  max_attempts: int = 3
  poll: float = 1.0
  name: str = dataclasses.field(default_factory=lambda: f"{socket.gethostname()}:{os.getpid()}")


class Stop(Exception):
  """SIGTERM or SIGINT: give the current job back and stop."""


def _limits(settings: Settings):
  """Runs in the child before exec: dies with the worker, and cannot outgrow its CPU time or memory."""
  cpu = int(settings.time_limit) + 1

  def apply():
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 5))
    resource.setrlimit(resource.RLIMIT_AS, (settings.memory_limit, settings.memory_limit))

  return apply


def command(settings: Settings, job: dict, out: pathlib.Path) -> list[str]:
  folder = settings.data.submissions / job["submission_dir"]
  inputs = [f"{f['task']}={folder / f['path']}" for f in job["files"]]
  models = ["--models", settings.models] if settings.models else []
  return [sys.executable, "-m", "nossbench.scoring.cli", *inputs, "--splits", str(settings.data.splits),
          "--out", str(out), f"--name={job['name']}", "--seed", str(settings.seed), "--jobs", "1", *models]


def _reason(code: int, log: pathlib.Path, settings: Settings) -> str:
  text = log.read_text(errors="replace")[-REASON_CHARS:].strip()
  if code == -signal.SIGKILL or any(sign in text for sign in OUT_OF_MEMORY):
    return f"scoring ran out of memory (limit {settings.memory_limit} bytes)"
  if code == -signal.SIGXCPU:
    return f"scoring used more than its {settings.time_limit:g} s of CPU time"
  if code == 2:  # the scorer's own one-paragraph error
    return text.rpartition("error: ")[2] or text
  return f"scoring failed (exit code {code}): {text.splitlines()[-1] if text else 'no output'}"


def run_job(settings: Settings, job: dict) -> str:
  """Scores one claimed job; returns what became of it (done, failed, or lost: cancelled or reclaimed)."""
  out = settings.data.results / str(job["id"]) / f"attempt-{job['attempts']}"
  shutil.rmtree(out, ignore_errors=True)
  out.mkdir(parents=True)
  log = out.parent / f"attempt-{job['attempts']}.log"
  started = time.monotonic()
  with log.open("wb") as output:
    child = subprocess.Popen(command(settings, job, out), stdin=subprocess.DEVNULL, stdout=output,
                             stderr=subprocess.STDOUT, preexec_fn=_limits(settings))
  try:
    while True:
      try:
        code = child.wait(timeout=settings.heartbeat)
        break
      except subprocess.TimeoutExpired:
        if not jobs.heartbeat(settings.engine, job):
          return "lost"
        if time.monotonic() - started > settings.time_limit:
          child.kill()
          child.wait()
          ok = jobs.finish(settings.engine, job, "failed", f"scoring took longer than {settings.time_limit:g} s")
          return "failed" if ok else "lost"
  finally:
    if child.poll() is None:
      child.kill()
      child.wait()
  if code == 0:
    ok = jobs.finish(settings.engine, job, "done", result_dir=str(out.relative_to(settings.data.results)))
    return "done" if ok else "lost"
  ok = jobs.finish(settings.engine, job, "failed", _reason(code, log, settings))
  return "failed" if ok else "lost"


def _stop(signum, frame):
  raise Stop()


def serve(settings: Settings, once: bool = False) -> int:
  """Claims and scores jobs until stopped (or, with `once`, until the queue is empty); returns jobs run."""
  signal.signal(signal.SIGTERM, _stop)
  signal.signal(signal.SIGINT, _stop)
  ran = 0
  job = None
  try:
    while True:
      job = jobs.claim(settings.engine, settings.name, settings.stale_after, settings.max_attempts)
      if job is None:
        if once:
          return ran
        time.sleep(settings.poll)
        continue
      print(f"job {job['id']} ({', '.join(sorted({f['task'] for f in job['files']}))}), attempt {job['attempts']}: "
            "scoring", flush=True)
      outcome = run_job(settings, job)
      print(f"job {job['id']}: {outcome}", flush=True)
      job = None
      ran += 1
  except Stop:
    if job is not None:
      jobs.release(settings.engine, job)
      print(f"job {job['id']}: given back to the queue", flush=True)
    return ran
