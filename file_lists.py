"""The one grammar of split list files: `prepare-splits --from-lists` and the HARES Birdsong/TUT18 lists a
user supplies (`builders/hares/supplied_lists.py`) both read it, so a list that works for one works for
the other.

One entry per line: the whole line, or the first field of a table row (fields separated by tabs, commas,
semicolons or spaces; a field may be double-quoted, e.g. a path with spaces). A first line whose first
field is a usual column name (HEADER_FIELDS) is a header; blank lines and `#` comments are skipped.
Entries name a clip by example id or file path: backslashes become slashes and an audio extension is
dropped (`ff1010bird/64486`, `64486.wav`, `C:\\data\\wav\\64486.wav`). A line from which no entry can be
read (starting with a separator, an unbalanced quote) is an error naming the file and line."""

import re

from nossbench import UserError

FORMATS = ("one clip per line, or a table whose first field (up to a tab, comma, semicolon or space; may be "
           "double-quoted) names the clip by example id or file path; an optional header line; blank lines and "
           "# comments")
HEADER_FIELDS = frozenset({"itemid", "item_id", "filename", "file_name", "file", "path", "example_id", "id", "name",
                           "clip"})
AUDIO_EXTENSION = re.compile(r"\.(wav|flac|mp3|ogg|opus|m4a|aiff?)$", re.IGNORECASE)
_ENTRY = re.compile(r'\s*(?:"(?P<quoted>[^"]+)"|(?P<plain>[^\s,;"]+))\s*(?:[,;\s].*)?')


def entries(text: str, path) -> list[tuple[int, str]]:
  """(line number, entry) of every entry in one list file's text; `path` names the file in errors."""
  found = []
  for number, line in enumerate(text.splitlines(), start=1):
    if not line.strip() or line.lstrip().startswith("#"):
      continue
    match = _ENTRY.fullmatch(line)
    if not match:
      raise UserError(f"{path} line {number}: cannot read a clip name from {line!r}. Accepted: {FORMATS}.")
    name = (match["quoted"] or match["plain"]).strip()
    if not found and name.lower() in HEADER_FIELDS:
      continue  # a header
    found.append((number, AUDIO_EXTENSION.sub("", name.replace("\\", "/"))))
  return found
