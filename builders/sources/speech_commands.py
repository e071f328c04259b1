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
from nossbench.builders import archives, audio, tfds_compat
from nossbench.builders.items import Item
from nossbench.builders.sources import SPLITS, Plan

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


def items(archive, keep=lambda name: True):
  """Items for the archive's wavs that `keep` accepts; background noise is cut into 1 s windows."""
  for name, data in archives.iter_tar(archive, wanted=lambda n: n.lower().endswith(".wav") and keep(n)):
    if data is None:
      continue
    example_id = name.rsplit(".", 1)[0]
    window = WINDOW if name.split("/")[0] == BACKGROUND_NOISE else None
    yield Item(example_id, str(archive), {"label": label_of(name), "speaker_id": speaker_of(name)},
                          member=name, data=data, window=window)


def _archives(dl_manager) -> dict[str, epath.Path]:
  """Both archives from --manual_dir, or downloaded when it is not given or holds neither."""
  return local_archives(tfds_compat.manual_dir_or_none(dl_manager)) or dl_manager.download(URLS)


def plan(dl_manager, task: str) -> Plan:  # pylint: disable=unused-argument  (every plan is named by its task)
  """The 12-class task of TFDS's speech_commands; testing_list.txt files absent from the main archive cost
  it nothing (its test split is the test archive) and are recorded (metadata `testing_list_absent`)."""
  paths = _archives(dl_manager)
  lists = read_official_lists(paths["train"])
  split_of = twelve_class_split(lists, paths["train"])
  return Plan(
      units={"train": items(paths["train"], keep=lambda name: split_of.get(name) == "train"),
             "validation": items(paths["train"], keep=lambda name: split_of.get(name) == "validation"),
             "test": items(paths["test"])},
      absent={"validation": lists.absent["validation"]},
      metadata={"testing_list_absent": lists.absent["test"]})


def as_word_item(item: Item, task: str) -> Item:
  """A Speech Commands item relabelled with its word folder, for the 35-word task."""
  word = item.member.split("/")[0]
  if word not in ALL_WORDS:
    raise UserError(f"{task}: {item.name} is in folder {word!r}, not one of the 35 words of Speech Commands "
                    f"v0.02 ({', '.join(ALL_WORDS)}); use the official v0.02 archive.")
  return dataclasses.replace(item, features=dict(item.features, label=word))


def words_plan(dl_manager, task: str) -> Plan:
  """The 35-word task (hares/speech_commands_v2): validation_list.txt, testing_list.txt and the rest of the
  main archive's word folders; background noise is not used."""
  paths = _archives(dl_manager)
  lists = read_official_lists(paths["train"])
  is_word = lambda name: name.split("/")[0] != BACKGROUND_NOISE  # noqa: E731

  def split_items(split):
    keep = lambda name: is_word(name) and lists.split_of.get(name) == split  # noqa: E731
    return (as_word_item(item, task) for item in items(paths["train"], keep=keep))

  return Plan(units={split: split_items(split) for split in SPLITS},
              absent={split: [name for name in lists.absent.get(split, []) if is_word(name)] for split in SPLITS})
