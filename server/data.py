"""The server's data folder: the manifests it scores against, and where uploads and results live.

  DATA/splits/        prepare-splits --out (the tasks served are those with a canonical manifest)
  DATA/incoming/      uploads being received or validated; emptied when the server starts
  DATA/submissions/   one folder per accepted upload (server-chosen names), referenced by its job
  DATA/results/       one folder per job and attempt, written by the worker's scoring process
  DATA/server.sqlite  the database, unless --db names another
"""

import contextlib
import io
import pathlib
import shutil

from nossbench import UserError


class DataFolder:
  def __init__(self, root):
    self.root = pathlib.Path(root).resolve()
    self.splits = self.root / "splits"
    self.incoming = self.root / "incoming"
    self.submissions = self.root / "submissions"
    self.results = self.root / "results"

  def tasks(self) -> list[str]:
    """Tasks with a canonical manifest: the ones submissions may be for."""
    from nossbench.splits import manifest  # pylint: disable=import-outside-toplevel  (pandas: not for admin)

    if not self.splits.is_dir():
      return []
    return sorted(task for task, scheme in manifest.find_manifests(self.splits) if scheme == "canonical")

  def verify(self) -> list[str]:
    """Refuses to serve a folder whose manifests `prepare-splits --check` would reject; returns the tasks."""
    from nossbench.splits import check  # pylint: disable=import-outside-toplevel  (pandas: not for admin)

    if not self.splits.is_dir():
      raise UserError(f"{self.splits}: no manifests to score against. Prepare the data folder first: "
                      f"tfds build ... then prepare-splits TASK --data_dir ... --out {self.splits}")
    with contextlib.redirect_stdout(io.StringIO()):  # the per-manifest summaries are for the command line
      violations = check.check_folder(self.splits)
    if violations:
      raise UserError(f"{self.splits} fails prepare-splits --check ({len(violations)} violations), so nothing is "
                      "served until it is fixed:\n  " + "\n  ".join(violations))
    tasks = self.tasks()
    if not tasks:
      raise UserError(f"{self.splits}: no canonical manifest, so no task to score; run prepare-splits for a task")
    return tasks

  def prepare(self) -> None:
    """Creates the folders; uploads an earlier server left half-received are removed (never a submission)."""
    shutil.rmtree(self.incoming, ignore_errors=True)
    for folder in (self.incoming, self.submissions, self.results):
      folder.mkdir(parents=True, exist_ok=True)
