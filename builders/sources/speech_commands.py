"""Speech Commands (Warden 2018): `speech_commands_v0.02.tar.gz` holding `<word>/<speaker>_nohash_<n>.wav`
(1 s, 16 kHz), `validation_list.txt`, `testing_list.txt` and `_background_noise_/*.wav`, and the separate
test archive `speech_commands_test_set_v0.02.tar.gz` holding `<label>/*.wav` for the 12 labels.

TFDS's canonical split, reproduced: validation = validation_list.txt plus the windows of
`_background_noise_/running_tap.wav`; test = the whole test archive; train = every other wav of the main
archive (testing_list.txt files are left out: the test archive holds them). Background-noise files are cut
into 1 s windows every 0.5 s labelled `_silence_`; words outside the 10 commands are `_unknown_`.
The 35-word task (hares/speech_commands_v2) takes validation_list.txt, testing_list.txt and the rest of the
main archive's word folders instead. A list entry naming a file that is not in the archive is never
dropped silently: `read_official_lists` returns them per split.
"""

import dataclasses
import os
import re

from absl import logging
from etils import epath

from nossbench import UserError
from nossbench.builders import archives, audio, generation

WORDS = ("down", "go", "left", "no", "off", "on", "right", "stop", "up", "yes")
SILENCE, UNKNOWN, BACKGROUND_NOISE = "_silence_", "_unknown_", "_background_noise_"
LABELS = WORDS + (SILENCE, UNKNOWN)  # TFDS's speech_commands order
# The 35 word folders of v0.02: the label set of the 35-class task.
ALL_WORDS = (
    "backward", "bed", "bird", "cat", "dog", "down", "eight", "five", "follow", "forward", "four", "go", "happy",
    "house", "learn", "left", "marvin", "nine", "no", "off", "on", "one", "right", "seven", "sheila", "six",
    "stop", "three", "tree", "two", "up", "visual", "wow", "yes", "zero")
VALIDATION_NOISE = f"{BACKGROUND_NOISE}/running_tap.wav"  # TFDS adds it to validation
WINDOW = (audio.TARGET_SAMPLE_RATE, audio.TARGET_SAMPLE_RATE // 2)  # 1 s windows, 0.5 s hop
URLS = {
    "train": "http://download.tensorflow.org/data/speech_commands_v0.02.tar.gz",
    "test": "http://download.tensorflow.org/data/speech_commands_test_set_v0.02.tar.gz",
}
ARCHIVES = {split: url.rsplit("/", 1)[1] for split, url in URLS.items()}
_SPEAKER = re.compile(r"([0-9a-f]{8})_nohash_")

MANUAL_DOWNLOAD_INSTRUCTIONS = f"""\
Speech Commands v0.02 downloads itself ({URLS['train']} and {URLS['test']}, 2.5 GB) when --manual_dir is
not given or does not hold them. To use a local copy, put both archives, unextracted, in --manual_dir:
`<manual_dir>/{ARCHIVES['train']}` and `<manual_dir>/{ARCHIVES['test']}`."""


def local_archives(manual_dir) -> dict[str, epath.Path] | None:
  """Both archives from manual_dir, None when it holds neither (download then), an error for just one."""
  paths = {split: epath.Path(manual_dir) / name for split, name in ARCHIVES.items()} if manual_dir else {}
  present = {split: path for split, path in paths.items() if path.exists()}
  if present and len(present) < len(ARCHIVES):
    missing = [str(path) for split, path in paths.items() if split not in present]
    raise UserError(f"Speech Commands: {', '.join(missing)} is missing beside {', '.join(map(str, present.values()))}. "
                    f"{MANUAL_DOWNLOAD_INSTRUCTIONS}")
  return present or None


def label_of(path: str) -> str:
  word = path.split("/")[-2] if "/" in path else ""
  if word in WORDS:
    return word
  return SILENCE if word in (SILENCE, BACKGROUND_NOISE) else UNKNOWN


def speaker_of(path: str) -> str:
  match = _SPEAKER.search(os.path.basename(path))
  return match[1] if match else ""


@dataclasses.dataclass(frozen=True)
class OfficialLists:
  split_of: dict[str, str]  # every wav of the main archive -> train, validation or test (testing_list.txt)
  absent: dict[str, list[str]]  # validation / test -> files a list names that the archive lacks, sorted


def read_official_lists(main_archive) -> OfficialLists:
  """One pass over the main archive: its wavs by split and the listed files that are absent.

  validation = validation_list.txt plus running_tap.wav (as TFDS), test = testing_list.txt, train = the rest.
  """
  lists, wavs = {}, []
  for name, data in archives.iter_tar(main_archive, wanted=lambda n: n in ("validation_list.txt", "testing_list.txt")):
    if data is not None:
      try:
        lists[name] = [line.strip() for line in data.decode("utf-8").splitlines() if line.strip()]
      except UnicodeDecodeError as error:
        raise UserError(f"Speech Commands: {main_archive}:{name} is not UTF-8 text ({error}); download "
                        f"{URLS['train']} again.") from error
    elif name.lower().endswith(".wav"):
      wavs.append(name)
  for name in ("validation_list.txt", "testing_list.txt"):
    if name not in lists:
      raise UserError(f"Speech Commands: {main_archive} has no {name}; download {URLS['train']} again.")
  listed = {"validation": set(lists["validation_list.txt"]) | {VALIDATION_NOISE},
            "test": set(lists["testing_list.txt"])}
  split_of = {wav: "test" if wav in listed["test"] else "validation" if wav in listed["validation"] else "train"
              for wav in wavs}
  return OfficialLists(split_of, {split: sorted(names - set(wavs)) for split, names in listed.items()})


def twelve_class_split(lists: OfficialLists, main_archive) -> dict[str, str]:
  """TFDS's 12-class view of the main archive: {wav: 'train' or 'validation'}.

  testing_list.txt files are left out (the test archive replaces them), so an absent one costs this task
  nothing; it is still logged, never dropped silently.
  """
  if lists.absent["test"]:
    logging.warning("Speech Commands: %d file(s) of testing_list.txt are not in %s (unused by the 12-class "
                    "task, whose test split is the test archive): %s", len(lists.absent["test"]), main_archive,
                    ", ".join(lists.absent["test"][:10]))
  return {wav: split for wav, split in lists.split_of.items() if split != "test"}


def read_lists(main_archive) -> tuple[dict[str, str], list[str]]:
  """The 12-class view (`twelve_class_split`) and the validation files that are absent."""
  lists = read_official_lists(main_archive)
  return twelve_class_split(lists, main_archive), lists.absent["validation"]


def items(archive, keep=lambda name: True):
  """Items for the archive's wavs that `keep` accepts; background noise is cut into 1 s windows."""
  for name, data in archives.iter_tar(archive, wanted=lambda n: n.lower().endswith(".wav") and keep(n)):
    if data is None:
      continue
    example_id = name.rsplit(".", 1)[0]
    window = WINDOW if name.split("/")[0] == BACKGROUND_NOISE else None
    yield generation.Item(example_id, str(archive), {"label": label_of(name), "speaker_id": speaker_of(name)},
                          member=name, data=data, window=window)
