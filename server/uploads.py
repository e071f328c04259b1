"""Receiving an upload: streamed to a server-chosen file under a size cap, unpacked if it is an archive of
per-task files, and checked with the scorer's own validator before anything is queued.

The client's file name is kept as a label only: files on disk are named by the server (the task and the
format's extension), so no name can reach outside the upload's folder.
"""

import pathlib
import zipfile

from nossbench import UserError
from nossbench.scoring import submission
from nossbench.scoring.problems import InvalidSubmission

FORMATS = (".npz", ".parquet", ".tfrecord")
ARCHIVE = ".zip"
CHUNK = 1 << 20


class TooLarge(Exception):
  """The upload, or what an archive unpacks to, is over the server's cap (HTTP 413)."""


def extension(filename: str) -> str:
  """The format a client's file name declares (.npz, .parquet, .tfrecord or .zip)."""
  name = filename.lower()
  if ".tfrecord" in name or name.endswith(".tfrec"):
    return ".tfrecord"
  for suffix in FORMATS + (ARCHIVE,):
    if name.endswith(suffix):
      return suffix
  raise UserError(f"{filename!r}: unknown submission format; upload an .npz, .parquet or .tfrecord file for "
                  "one task, or a .zip of such files named <benchmark>/<task>.<ext> for several")


def stored_name(task: str, ext: str) -> str:
  return task.replace("/", "__") + ext


async def receive(chunks, path: pathlib.Path, max_bytes: int) -> int:
  """Writes the streamed body to `path` (first as path.part); over `max_bytes` nothing is kept."""
  partial = path.with_name(path.name + ".part")
  size = 0
  try:
    with partial.open("wb") as out:
      async for chunk in chunks:
        size += len(chunk)
        if size > max_bytes:
          raise TooLarge(f"the upload is over the server's limit of {max_bytes} bytes")
        out.write(chunk)
    partial.rename(path)
  finally:
    partial.unlink(missing_ok=True)
  return size


def unpack(archive: pathlib.Path, folder: pathlib.Path, tasks: list[str], max_bytes: int) -> list[dict]:
  """Copies the archive's per-task files into `folder` under server names; refuses anything else.

  Bombs: the unpacked sizes the archive declares are summed before anything is copied, and the bytes
  actually copied are counted against the same cap.
  """
  try:
    with zipfile.ZipFile(archive) as zipped:
      members = [info for info in zipped.infolist() if not info.is_dir()]
      declared = sum(info.file_size for info in members)
      if declared > max_bytes:
        raise TooLarge(f"the archive unpacks to {declared} bytes, over the server's limit of {max_bytes}")
      files, problems, seen = [], [], {}
      for info in members:
        task, dot, _ = info.filename.rpartition(".")
        ext = "." + info.filename.rsplit(".", 1)[-1].lower() if dot else ""
        if task not in tasks or ext not in FORMATS:
          problems.append(info.filename)
        elif task in seen:
          raise UserError(f"the archive holds two files for {task}: {seen[task]!r} and {info.filename!r}")
        else:
          seen[task] = info.filename
      if problems:
        raise UserError(f"the archive holds files that are not <benchmark>/<task>.<ext> for a task served here "
                        f"({', '.join(map(repr, problems[:5]))}); tasks: {', '.join(tasks)}; formats: "
                        f"{', '.join(FORMATS)}")
      if not seen:
        raise UserError("the archive holds no files")
      copied = 0
      for task, member in sorted(seen.items()):
        target = folder / stored_name(task, "." + member.rsplit(".", 1)[-1].lower())
        with zipped.open(member) as source, target.open("wb") as out:
          for block in iter(lambda: source.read(CHUNK), b""):
            copied += len(block)
            if copied > max_bytes:
              raise TooLarge(f"the archive unpacks to more than the server's limit of {max_bytes} bytes")
            out.write(block)
        files.append({"task": task, "path": target.name, "filename": member})
      return files
  except (zipfile.BadZipFile, EOFError, NotImplementedError) as error:
    raise UserError(f"the upload is not a readable .zip archive ({error})") from error


def validate(folder: pathlib.Path, files: list[dict], manifests: dict, max_bytes: int) -> list[dict]:
  """Every problem of every task's file, as the scorer's validator states them (empty: valid)."""
  problems = []
  for file in files:
    path = folder / file["path"]
    label = {"task": file["task"], "file": file["filename"]}
    try:
      raw = submission.read([str(path)], max_bytes)
      submission.validate(file["filename"], raw, manifests[file["task"]])
    except InvalidSubmission as error:
      problems += [{**label, **p.as_dict()} for p in error.problems]
    except UserError as error:  # unreadable or too large: the reader's one paragraph, under the client's name
      problems.append({**label, "code": "unreadable", "message": str(error).replace(str(path), file["filename"]),
                       "count": None, "examples": []})
  return problems
