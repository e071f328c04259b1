"""Raw-layout readers, one module per source dataset, shared by the `noss` and `hares` builders.

A reader turns a user's download (manual_dir) into a sorted list of `Clip`s without decoding audio.
"""

import dataclasses


@dataclasses.dataclass(frozen=True)
class Clip:
  example_id: str  # stable, derived from the file's path inside the dataset
  path: str  # where to read the audio from
  label: str
  speaker_id: str


@dataclasses.dataclass(frozen=True)
class MemberClip(Clip):
  member: str  # the file's name inside the zip archive at `path`
