"""`nossbench-server`: the submission server's three roles.

  nossbench-server serve  --data DATA [--db URL] [--port 8000]     the HTTP API (OpenAPI page at /docs)
  nossbench-server worker --data DATA [--db URL]                   scores queued jobs
  nossbench-server admin  --data DATA [--db URL] create-team NAME | teams | jobs | cancel ID | publish ID | upgrade
  nossbench-server export --data DATA [--db URL] --out SITE        the leaderboard as a static site
  nossbench-server export --reports FOLDER... --out SITE           the same from score-submission reports

DATA holds the manifests to score against in DATA/splits (prepare-splits --out DATA/splits), and the
uploads and results. The database is DATA/server.sqlite unless --db gives a SQLAlchemy URL
(postgresql+psycopg://user:password@host/db).
"""

import argparse
import json
import sys

from nossbench import UserError, command_line
from nossbench.server import accounts, db, jobs
from nossbench.server.data import DataFolder

MB = 1 << 20


def _parser():
  parser = argparse.ArgumentParser(prog="nossbench-server", description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
  common = argparse.ArgumentParser(add_help=False)
  common.add_argument("--data", required=True, help="the server's data folder (manifests in DATA/splits)")
  common.add_argument("--db", help="SQLAlchemy database URL (default: sqlite in DATA/server.sqlite)")
  roles = parser.add_subparsers(dest="role", required=True)

  serve = roles.add_parser("serve", parents=[common], help="the HTTP API")
  serve.add_argument("--host", default="127.0.0.1")
  serve.add_argument("--port", type=int, default=8000)
  serve.add_argument("--max-upload-mb", type=float, default=1024, help="largest upload accepted (1024)")
  serve.add_argument("--max-unpacked-mb", type=float, default=4096,
                     help="largest embeddings an upload may unpack to (4096)")
  serve.add_argument("--rate-per-minute", type=int, default=jobs.Limits.per_minute,
                     help=f"submissions a team may make in any minute ({jobs.Limits.per_minute})")
  serve.add_argument("--max-queued", type=int, default=jobs.Limits.max_queued,
                     help=f"jobs a team may have waiting at once ({jobs.Limits.max_queued})")

  worker = roles.add_parser("worker", parents=[common], help="scores queued jobs")
  worker.add_argument("--models", help="probe models the scorer chooses among (default: its full grid)")
  worker.add_argument("--seed", type=int, default=0)
  worker.add_argument("--time-limit", type=float, default=3600, help="seconds per job (3600)")
  worker.add_argument("--memory-limit-mb", type=float, default=16384, help="address space per job (16384)")
  worker.add_argument("--heartbeat", type=float, default=2.0, help="seconds between heartbeats (2)")
  worker.add_argument("--stale-after", type=float, default=30.0,
                      help="reclaim a running job whose heartbeat is this many seconds old (30)")
  worker.add_argument("--once", action="store_true", help="stop when the queue is empty")

  admin = roles.add_parser("admin", parents=[common], help="teams, jobs, publishing")
  actions = admin.add_subparsers(dest="action", required=True)
  actions.add_parser("create-team", help="creates a team and prints its token (shown only this once)") \
      .add_argument("name")
  actions.add_parser("teams", help="lists the teams")
  listed = actions.add_parser("jobs", help="lists jobs as JSON lines")
  listed.add_argument("--state", choices=db.STATES)
  actions.add_parser("cancel", help="cancels a queued or running job").add_argument("job", type=int)
  publish = actions.add_parser("publish", help="makes a done job's result public")
  publish.add_argument("job", type=int)
  publish.add_argument("--unpublish", action="store_true", help="makes it private again")
  actions.add_parser("upgrade", help="brings the database schema up to date (keeps the data)")

  export = roles.add_parser("export", help="writes the leaderboard as a static site (server/export.py)")
  export.add_argument("--out", required=True, help="folder to write the site to (replaced if an export wrote it)")
  export.add_argument("--data", help="a server's data folder: export its published results")
  export.add_argument("--db", help="that server's database URL (default: sqlite in DATA/server.sqlite)")
  export.add_argument("--reports", nargs="+", metavar="FOLDER",
                      help="instead of a server: report folders score-submission wrote, each a submission named "
                           "by its folder (an optional submission.json gives team, model, model_url, family)")
  return parser


def _serve(args, data: DataFolder, engine):
  import uvicorn  # pylint: disable=import-outside-toplevel

  from nossbench.server import app  # pylint: disable=import-outside-toplevel

  tasks = data.verify()
  db.upgrade(engine)
  data.prepare()
  settings = app.Settings(data, engine, tasks, jobs.Limits(args.rate_per_minute, args.max_queued),
                          int(args.max_upload_mb * MB), int(args.max_unpacked_mb * MB))
  print(f"serving {len(tasks)} tasks ({', '.join(tasks)}) on http://{args.host}:{args.port} "
        f"(API docs at /docs)", flush=True)
  uvicorn.run(app.create_app(settings), host=args.host, port=args.port, log_level="warning", access_log=False)


def _worker(args, data: DataFolder, engine):
  from nossbench.server import worker  # pylint: disable=import-outside-toplevel

  data.verify()
  db.require_current(engine)
  settings = worker.Settings(data, engine, args.models, args.seed, args.time_limit,
                             int(args.memory_limit_mb * MB), args.heartbeat, args.stale_after)
  print(f"worker {settings.name}: scoring jobs from {engine.url.render_as_string(hide_password=True)}", flush=True)
  ran = worker.serve(settings, once=args.once)
  print(f"worker {settings.name}: stopped after {ran} jobs", flush=True)


def _admin(args, engine):
  if args.action == "upgrade":
    db.upgrade(engine)
    print("database schema up to date")
    return
  db.require_current(engine)
  if args.action == "create-team":
    team_id, token = accounts.create_team(engine, args.name)
    print(f"team {team_id} created; its token (shown only now, store it safely):", file=sys.stderr)
    print(token)
  elif args.action == "teams":
    for team in accounts.list_teams(engine):
      print(json.dumps({**team, "created_at": team["created_at"].isoformat()}))
  elif args.action == "jobs":
    for job in jobs.listing(engine, state=args.state):
      print(json.dumps({k: job[k] for k in ("id", "team", "name", "state", "reason", "attempts", "published")}))
  elif args.action == "cancel":
    state = jobs.cancel(engine, args.job)
    if state != "cancelled":
      raise UserError(f"job {args.job} " + ("does not exist" if state is None else f"is {state}; not cancelled"))
    print(f"job {args.job} cancelled")
  elif args.action == "publish":
    state = jobs.publish(engine, args.job, not args.unpublish)
    if state != "done":
      raise UserError(f"job {args.job} " + ("does not exist" if state is None else
                                            f"is {state}; only a done job's result can be published"))
    print(f"job {args.job} {'unpublished' if args.unpublish else 'published'}")


@command_line(quiet=False)
def main(argv):
  args = _parser().parse_args(argv)
  if args.role == "export":
    from nossbench.server import export  # pylint: disable=import-outside-toplevel

    return export.run(args)
  data = DataFolder(args.data)
  engine = db.engine(args.db or db.default_url(data.root))
  if args.role == "serve":
    _serve(args, data, engine)
  elif args.role == "worker":
    _worker(args, data, engine)
  else:
    _admin(args, engine)


if __name__ == "__main__":
  raise SystemExit(main())
