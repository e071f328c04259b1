"""Submission server under load: concurrent clients upload to a real server while real workers score.

  .venv/bin/python benchmarks/server_load.py [--clients 20] [--uploads 10] [--teams 10] [--workers 2]

Starts `nossbench-server serve` on 127.0.0.1 (SQLite, its default; or --db URL) on a synthetic task
(--examples clips, 3 labels, float32 embeddings of --dims), creates --teams teams, and has --clients
threads (clients spread over the teams) each make --uploads uploads, one after another, as fast as the
server answers. Every --oversized-th upload of a client is over the server's size cap. The server's
per-team rate limit (--rate-per-minute) makes part of the rest a 429. --workers `nossbench-server worker`
processes score meanwhile, for at most --score-seconds after the last upload.

Checks (exit 1 when one fails): every upload answered 202, 413 or 429; the accepted job ids are exactly
the jobs the teams list afterwards (none lost, none extra); every job scored so far is done with a
report. Prints upload latency percentiles and jobs scored per minute as Markdown.
"""

import argparse
import concurrent.futures
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile
import time

import httpx
import numpy as np
import pandas as pd

from nossbench.splits import manifest

TASK = "noss/crema_d"
API = "/api/v1"


def executable() -> str:
  return shutil.which("nossbench-server", path=str(pathlib.Path(sys.executable).parent)) or "nossbench-server"


def synthetic_task(root: pathlib.Path, examples: int, dims: int) -> bytes:
  """A canonical manifest (speakers in train/validation/test) and a valid .npz submission for it."""
  rng = np.random.RandomState(0)
  speakers = [f"spk{i % 20}" for i in range(examples)]
  split = {f"spk{s}": ("train",) * 14 + ("validation",) * 3 + ("test",) * 3 for s in range(20)}
  rows = pd.DataFrame({"example_id": [f"clip{i:05d}" for i in range(examples)],
                       "label": [("a", "b", "c")[i % 3] for i in range(examples)], "speaker_id": speakers,
                       "split": [split[s][int(s[3:])] for s in speakers]})
  manifest.write_manifest(root / "splits", TASK, "canonical", rows, {"seed": 0})
  centres = rng.randn(3, dims) * 2
  x = (centres[np.arange(examples) % 3] + rng.randn(examples, dims)).astype(np.float32)
  path = root / "submission.npz"
  np.savez(path, example_id=rows["example_id"].to_numpy().astype(str), embedding=x)
  return path.read_bytes()


def percentile(values, q) -> float:
  return float(np.percentile(values, q)) if values else float("nan")


def main():
  parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("--clients", type=int, default=20)
  parser.add_argument("--uploads", type=int, default=10, help="per client")
  parser.add_argument("--teams", type=int, default=10)
  parser.add_argument("--workers", type=int, default=2)
  parser.add_argument("--examples", type=int, default=600)
  parser.add_argument("--dims", type=int, default=64)
  parser.add_argument("--oversized", type=int, default=5, help="every Nth upload of a client is too large")
  parser.add_argument("--rate-per-minute", type=int, default=5)
  parser.add_argument("--score-seconds", type=float, default=180)
  parser.add_argument("--db", help="database URL (default: SQLite in the data folder)")
  args = parser.parse_args()

  root = pathlib.Path(tempfile.mkdtemp(prefix="server_load_"))
  data = root / "data"
  body = synthetic_task(data, args.examples, args.dims)
  cap_mb = 2 * len(body) / 2**20
  oversized = b"\0" * (3 * len(body))
  db = args.db or f"sqlite:///{data / 'server.sqlite'}"
  port = 18000 + os.getpid() % 1000
  base = ["--data", str(data), "--db", db]
  processes = []
  try:
    server = subprocess.Popen([executable(), "serve", *base, "--port", str(port), "--max-upload-mb", str(cap_mb),
                               "--rate-per-minute", str(args.rate_per_minute), "--max-queued", "1000"],
                              stdout=subprocess.DEVNULL)
    processes.append(server)
    url = f"http://127.0.0.1:{port}{API}"
    for _ in range(600):
      try:
        if httpx.get(f"{url}/health").status_code == 200:
          break
      except httpx.TransportError:
        time.sleep(0.1)
    tokens = [subprocess.run([executable(), "admin", *base, "create-team", f"team {t}"], capture_output=True,
                             text=True, check=True).stdout.strip() for t in range(args.teams)]
    for _ in range(args.workers):
      processes.append(subprocess.Popen([executable(), "worker", *base, "--models", "logreg"],
                                        stdout=subprocess.DEVNULL))
    load_before = os.getloadavg()[0]

    def client(index: int) -> list[tuple[int, float, int | None]]:
      """(status, seconds, job id) per upload."""
      answers = []
      with httpx.Client(base_url=url, timeout=120,
                        headers={"Authorization": f"Bearer {tokens[index % args.teams]}"}) as http:
        for n in range(args.uploads):
          content = oversized if (n + 1) % args.oversized == 0 else body
          started = time.perf_counter()
          response = http.post("/submissions", params={"task": TASK, "filename": f"c{index}_{n}.npz"}, content=content)
          answers.append((response.status_code, time.perf_counter() - started,
                          response.json().get("id") if response.status_code == 202 else None))
      return answers

    started = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(args.clients) as pool:
      answers = [a for result in pool.map(client, range(args.clients)) for a in result]
    upload_seconds = time.monotonic() - started

    accepted = {job for status, _, job in answers if status == 202}
    deadline = time.monotonic() + args.score_seconds
    while True:
      listed = {}
      for token in tokens:
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}) as http:
          listed.update({j["id"]: j for j in http.get("/jobs").json()})
      done = [j for j in listed.values() if j["state"] in ("done", "failed")]
      if len(done) == len(listed) or time.monotonic() > deadline:
        break
      time.sleep(1)
    scoring_seconds = time.monotonic() - started
    load_after = os.getloadavg()[0]
  finally:
    for process in processes:
      process.terminate()
    for process in processes:
      process.wait()

  statuses = pd.Series([s for s, _, _ in answers]).value_counts().sort_index().to_dict()
  failures = []
  if set(statuses) - {202, 413, 429}:
    failures.append(f"unexpected answers: {statuses}")
  if set(listed) != accepted:
    failures.append(f"accepted {len(accepted)} jobs but the teams list {len(listed)}: lost "
                    f"{sorted(accepted - set(listed))}, extra {sorted(set(listed) - accepted)}")
  failed = [j for j in done if j["state"] != "done"]
  if failed:
    failures.append(f"{len(failed)} jobs failed: {failed[0]['reason']}")
  finished = [pd.Timestamp(j["finished_at"]) for j in done]
  first = min(pd.Timestamp(j["created_at"]) for j in listed.values())
  minutes = (max(finished) - first).total_seconds() / 60 if finished else float("nan")
  latencies = {"all": [t for _, t, _ in answers], "202": [t for s, t, _ in answers if s == 202]}

  print(f"| uploads | 202 | 413 | 429 | other | upload phase s | p50 / p95 s (all) | p50 / p95 s (202) | "
        f"scored | jobs/min | workers | load avg before/after |")
  print("|---|---|---|---|---|---|---|---|---|---|---|---|")
  print(f"| {len(answers)} | {statuses.get(202, 0)} | {statuses.get(413, 0)} | {statuses.get(429, 0)} | "
        f"{sum(v for k, v in statuses.items() if k not in (202, 413, 429))} | {upload_seconds:.1f} | "
        f"{percentile(latencies['all'], 50):.3f} / {percentile(latencies['all'], 95):.3f} | "
        f"{percentile(latencies['202'], 50):.3f} / {percentile(latencies['202'], 95):.3f} | "
        f"{len(done)} of {len(listed)} in {scoring_seconds:.0f} s | {len(done) / minutes:.1f} | {args.workers} | "
        f"{load_before:.1f} / {load_after:.1f} |")
  shutil.rmtree(root, ignore_errors=True)
  if failures:
    print("FAILED: " + "; ".join(failures), file=sys.stderr)
    return 1
  return 0


if __name__ == "__main__":
  sys.exit(main())
