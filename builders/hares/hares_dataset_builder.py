"""`hares`: the Holistic Audio Representation Evaluation Suite (Wang et al., ICASSP 2022), one
BuilderConfig per task, built from each dataset's raw layout in manual_dir.

Every example holds `example_id`, `audio` (16 kHz mono int16, stored as raw bytes by
`generation.Int16Audio`), `label` (or `labels` for the multi-label tasks audioset and magnatagatune),
`speaker_id` (empty where the dataset has none) and the task's extras. The dataset metadata records
which split was used (`split_kind`: one of SPLIT_KINDS) and where it came from (`split_source`), the label vocabulary
(`labels`), the counts per split and label (`label_counts`: the clips handed to decoding where a reader
lists them, the examples built for speech_commands_*, sessions for voxforge in `session_counts`) and
whatever the reader or the build left out (`build_report_<split>`, `missing`, `unlisted`, ...).
"""

import collections
import dataclasses
import functools
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import tensorflow_datasets as tfds
from absl import logging
from etils import epath

from nossbench import UserError
from nossbench.builders import audio, generation
from nossbench.builders.hares import supplied_lists
from nossbench.builders.sources import (Clip, MemberClip, audioset, birdsong, esc50, fluent_speech_commands,
                                        magnatagatune, nsynth, speech_commands, tut18, voxceleb, voxforge)
from nossbench.splits import speaker_shuffle

SPLITS = ("train", "validation", "test")
AUDIO_NOTE = f" Audio: 16 kHz mono int16, downmixed and resampled with {audio.RESAMPLER} where needed."
# metadata `split_kind`: the split the dataset (or the TFDS builder HARES used) defines; the lists the user
# supplied for birdsong/tut18; or, without them, the documented fallback split of those two.
SPLIT_KINDS = ("official", "supplied lists", "fallback")


@dataclasses.dataclass
class HaresConfig(tfds.core.BuilderConfig):
  layout: str = "listed"  # which Builder._<layout>_splits reads the raw files
  labels: Sequence[str] = ()  # class names; empty when `vocabulary` reads them from the download
  vocabulary: Callable[[epath.Path], tuple[Sequence[str], Sequence[str]]] | None = None  # (names, display)
  num_classes: int = 0  # with `vocabulary`
  multi_label: bool = False  # a `labels` sequence instead of one `label`
  list_splits: Callable[[epath.Path], tuple[dict[str, list[Clip]], dict]] | None = None  # layout "listed"
  extras: Mapping[str, Any] = dataclasses.field(default_factory=dict)  # feature -> clip attribute of that name
  supplied_lists: bool = False  # HARES's split is a user-supplied list (hares_splits/); else the reader's fallback
  beam: bool = False  # generate through Apache Beam (datasets too large for one machine)
  manual_download_instructions: str = ""
  homepage: str = ""


AUDIOSET = HaresConfig(
    name="audioset",
    description=(
        "AudioSet tagging: 527 classes, multi-label (`labels`, mids of class_labels_indices.csv in its "
        "order; display names in the metadata). train = unbalanced_train_segments, validation = "
        "balanced_train_segments, test = eval_segments; listed segments whose clip was not downloaded are "
        "counted and listed in the metadata (`missing`), never fatal." + AUDIO_NOTE),
    vocabulary=audioset.read_vocabulary,
    num_classes=audioset.NUM_CLASSES, multi_label=True, list_splits=audioset.list_splits, beam=True,
    manual_download_instructions=audioset.MANUAL_DOWNLOAD_INSTRUCTIONS,
    homepage="https://research.google.com/audioset/")

BIRDSONG = HaresConfig(
    name="birdsong",
    description=(
        "Bird audio detection (2 classes: no_bird, bird) on the three DCASE2018 development sets "
        "(freefield1010, warblr, BirdVox-DCASE-20k; `source`). Split: the HARES lists of Tagliasacchi et al. "
        f"from <manual_dir>/{supplied_lists.FOLDER}/ when supplied, otherwise the fallback: "
        f"{birdsong.FALLBACK}. The metadata's `split_source` says which." + AUDIO_NOTE),
    labels=birdsong.LABELS, list_splits=birdsong.list_splits, extras={"source": tfds.features.Text()},
    supplied_lists=True, manual_download_instructions=birdsong.MANUAL_DOWNLOAD_INSTRUCTIONS,
    homepage="https://dcase.community/challenge2018/task-bird-audio-detection")

TUT18 = HaresConfig(
    name="tut18",
    description=(
        "Acoustic scene classification (10 scenes) on TUT Urban Acoustic Scenes 2018 development, 48 kHz "
        "stereo 24-bit input. Split: the HARES lists of Tagliasacchi et al. from "
        f"<manual_dir>/{supplied_lists.FOLDER}/ when supplied, otherwise the fallback: {tut18.FALLBACK}. "
        "Each example keeps its recording `location`; the metadata's `split_source` says which split was "
        "used." + AUDIO_NOTE),
    labels=tut18.LABELS, list_splits=tut18.list_splits, extras={"location": tfds.features.Text()},
    supplied_lists=True, manual_download_instructions=tut18.MANUAL_DOWNLOAD_INSTRUCTIONS,
    homepage="https://zenodo.org/record/1228142")

ESC50 = HaresConfig(
    name="esc50",
    description=(
        "ESC-50 environmental sound classification (50 classes). Canonical split from the official folds "
        "(1-3 train, 4 validation, 5 test); every example keeps its `fold` (1-5) for the official 5-fold "
        "cross-validation." + AUDIO_NOTE),
    labels=esc50.LABELS, list_splits=esc50.list_splits, extras={"fold": np.int32},
    manual_download_instructions=esc50.MANUAL_DOWNLOAD_INSTRUCTIONS,
    homepage="https://github.com/karolpiczak/ESC-50")

FLUENT_SPEECH_COMMANDS = HaresConfig(
    name="fluent_speech_commands",
    description=(
        "Fluent Speech Commands intent classification (31 intents, `<action>_<object>_<location>`), the "
        "official speaker-disjoint train/valid/test CSVs." + AUDIO_NOTE),
    labels=fluent_speech_commands.LABELS, list_splits=fluent_speech_commands.list_splits,
    manual_download_instructions=fluent_speech_commands.MANUAL_DOWNLOAD_INSTRUCTIONS,
    homepage="https://fluent.ai/fluent-speech-commands-a-dataset-for-spoken-language-understanding-research/")

NSYNTH_INSTRUMENT = HaresConfig(
    name="nsynth_instrument",
    description=(
        "NSynth instrument family classification (11 families), official instrument-disjoint "
        "nsynth-train/valid/test; each example keeps its `instrument`." + AUDIO_NOTE),
    labels=nsynth.FAMILIES, list_splits=functools.partial(nsynth.list_splits, target="instrument_family"),
    extras={"instrument": tfds.features.Text()}, beam=True,
    manual_download_instructions=nsynth.MANUAL_DOWNLOAD_INSTRUCTIONS,
    homepage="https://magenta.tensorflow.org/datasets/nsynth")

NSYNTH_PITCH = HaresConfig(
    name="nsynth_pitch",
    description=(
        "NSynth pitch classification (128 MIDI pitches, labels '0'..'127'), official instrument-disjoint "
        "nsynth-train/valid/test; each example keeps its `instrument`." + AUDIO_NOTE),
    labels=nsynth.PITCHES, list_splits=functools.partial(nsynth.list_splits, target="pitch"),
    extras={"instrument": tfds.features.Text()}, beam=True,
    manual_download_instructions=nsynth.MANUAL_DOWNLOAD_INSTRUCTIONS,
    homepage="https://magenta.tensorflow.org/datasets/nsynth")

MAGNATAGATUNE = HaresConfig(
    name="magnatagatune",
    description=(
        "MagnaTagATune music tagging: the 50 most frequent tags, multi-label (`labels`); folders 0-b "
        "train, c validation, d-f test. Clips with none of the 50 tags are kept with no labels and counted "
        "in the metadata." + AUDIO_NOTE),
    labels=magnatagatune.LABELS, multi_label=True, list_splits=magnatagatune.list_splits,
    manual_download_instructions=magnatagatune.MANUAL_DOWNLOAD_INSTRUCTIONS,
    homepage="https://mirg.city.ac.uk/codeapps/the-magnatagatune-dataset")


SPEECH_COMMANDS_V1 = HaresConfig(
    name="speech_commands_v1",
    description=(
        "Speech Commands keyword spotting, 12 classes (down go left no off on right stop up yes _silence_ "
        "_unknown_): the task and splits of TFDS's speech_commands and noss/speech_commands, read by the same "
        "reader from the v0.02 archives (its train + test, 90k clips, are the 90k HARES reports for this "
        "task): validation_list.txt plus running_tap windows, the separate test archive, the rest for train. "
        "Background noise is cut into 1 s windows every 0.5 s (`_silence_`). testing_list.txt files missing "
        "from the archive cost this task nothing and are listed in the metadata (`testing_list_absent`). "
        "Downloads the official archives when --manual_dir does not hold them." + AUDIO_NOTE),
    layout="speech_commands", labels=speech_commands.LABELS,
    manual_download_instructions=speech_commands.MANUAL_DOWNLOAD_INSTRUCTIONS,
    homepage="https://arxiv.org/abs/1804.03209")

SPEECH_COMMANDS_V2 = HaresConfig(
    name="speech_commands_v2",
    description=(
        "Speech Commands v0.02 keyword spotting over all 35 words (no _silence_ or _unknown_ class): "
        "validation_list.txt -> validation, testing_list.txt -> test, every other word clip -> train; "
        "_background_noise_ and the separate 12-class test archive are not used. A file either list names but "
        "the archive lacks stops the build (with skip_bad_audio=True: listed in build_report_<split>). "
        "Downloads the official archives when --manual_dir does not hold them." + AUDIO_NOTE),
    layout="speech_commands_words", labels=speech_commands.ALL_WORDS,
    manual_download_instructions=speech_commands.MANUAL_DOWNLOAD_INSTRUCTIONS,
    homepage="https://arxiv.org/abs/1804.03209")

VOXFORGE = HaresConfig(
    name="voxforge",
    description=(
        "VoxForge language identification (de en es fr it ru) with the splits of noss/voxforge: sessions "
        f"dated before {voxforge.CUTOFF.isoformat()}, archive speakers shuffled with RandomState(0) and cut "
        "0.7/0.1/0.2 as TFDS's voxforge does; example ids <language>/<session>/<wav name>. The metadata's "
        "`session_counts` gives sessions per split and language (their wav count is known only once read). "
        "Built with Apache Beam." + AUDIO_NOTE),
    layout="voxforge", labels=voxforge.LABELS, beam=True,
    manual_download_instructions=voxforge.MANUAL_DOWNLOAD_INSTRUCTIONS, homepage="http://www.voxforge.org/")

VOXCELEB = HaresConfig(
    name="voxceleb",
    description=(
        "VoxCeleb1 speaker identification (1,251 speakers, label = speaker id) with iden_split.txt's "
        "train/validation/test, read from both the dev and the test archive (as noss/voxceleb); each example "
        "keeps its `youtube_id`. Built with Apache Beam." + AUDIO_NOTE),
    layout="voxceleb", labels=voxceleb.SPEAKERS, extras={"youtube_id": tfds.features.Text()}, beam=True,
    manual_download_instructions=voxceleb.MANUAL_DOWNLOAD_INSTRUCTIONS, homepage=voxceleb.HOMEPAGE)


def label_counts(splits: Mapping[str, list[Clip]], multi_label: bool) -> dict[str, dict[str, int]]:
  """split -> label -> clips handed to decoding (positives per tag for multi-label tasks)."""
  counts = {}
  for split, clips in splits.items():
    counter = collections.Counter(tag for c in clips for tag in c.labels) if multi_label else \
        collections.Counter(c.label for c in clips)
    counts[split] = dict(sorted(counter.items()))
  return counts


def check_unique_ids(task: str, splits: Mapping[str, list[Clip]]) -> None:
  seen = {}
  for clips in splits.values():
    for clip in clips:
      if clip.example_id in seen and seen[clip.example_id] == clip.path:
        raise UserError(f"{task}: {clip.path} is listed twice in the dataset's metadata (example id "
                        f"{clip.example_id}); remove the repeated row or download the metadata again.")
      if clip.example_id in seen:
        raise UserError(f"{task}: example id {clip.example_id} comes from two files ({seen[clip.example_id]} and "
                        f"{clip.path}); keep one copy of the dataset in --manual_dir.")
      seen[clip.example_id] = clip.path


def as_word_item(item: generation.Item, task: str) -> generation.Item:
  """A Speech Commands item relabelled with its word folder, for the 35-word task."""
  word = item.member.split("/")[0]
  if word not in speech_commands.ALL_WORDS:
    raise UserError(f"{task}: {item.name} is in folder {word!r}, not one of the 35 words of Speech Commands "
                    f"v0.02 ({', '.join(speech_commands.ALL_WORDS)}); use the official v0.02 archive.")
  return dataclasses.replace(item, features=dict(item.features, label=word))


class Builder(generation.AudioBuilder):
  """HARES tasks built from the datasets' raw layouts in manual_dir."""

  name = "hares"
  VERSION = tfds.core.Version("1.1.0")
  RELEASE_NOTES = {
      "1.0.0": "The twelve HARES tasks.",
      "1.1.0": ("audio stored as raw int16 bytes (generation.Int16Audio, as noss) instead of TFDS's int64 varints; "
                "it reads back as the same int16 arrays. Metadata split_kind. speech_commands_*: absent "
                "testing_list.txt files are reported."),
  }
  BUILDER_CONFIGS = [AUDIOSET, BIRDSONG, TUT18, ESC50, SPEECH_COMMANDS_V1, SPEECH_COMMANDS_V2,
                     FLUENT_SPEECH_COMMANDS, VOXFORGE, VOXCELEB, NSYNTH_INSTRUMENT, NSYNTH_PITCH, MAGNATAGATUNE]
  BEAM_CONFIGS = frozenset(c.name for c in BUILDER_CONFIGS if c.beam)
  # TFDS would look for README.md etc. next to the top package; point it at this folder instead.
  pkg_dir_path = epath.Path(__file__).parent

  @property
  def MANUAL_DOWNLOAD_INSTRUCTIONS(self):  # pylint: disable=invalid-name
    return self.builder_config.manual_download_instructions

  @property
  def target(self) -> str:
    return "labels" if self.builder_config.multi_label else "label"

  @property
  def task(self) -> str:
    return f"{self.name}/{self.builder_config.name}"

  def _info(self) -> tfds.core.DatasetInfo:
    config = self.builder_config
    classes = tfds.features.ClassLabel(names=list(config.labels)) if config.labels else \
        tfds.features.ClassLabel(num_classes=config.num_classes)
    features = {
        "example_id": tfds.features.Text(),
        "audio": generation.Int16Audio(),
        self.target: tfds.features.Sequence(classes) if config.multi_label else classes,
        "speaker_id": tfds.features.Text(),
        **config.extras,
    }
    return self.dataset_info_from_configs(
        description=config.description,
        features=tfds.features.FeaturesDict(features),
        supervised_keys=("audio", self.target),
        homepage=config.homepage,
        metadata=self.new_metadata(),
    )

  def _split_generators(self, dl_manager: tfds.download.DownloadManager):
    self.info.metadata["labels"] = self._label_names(dl_manager)
    return getattr(self, f"_{self.builder_config.layout}_splits")(dl_manager)

  def _generate_examples(self, report: generation.Report, items=None, units=None, to_items=None):
    """A generator (items, decoded in a local pool) or, for Beam configs, a PTransform (units or items)."""
    if self.builder_config.beam:
      return self.beam_examples(items if units is None else units, report, to_items)
    return self.generate(items, report)

  def _label_names(self, dl_manager) -> list[str]:
    """The vocabulary; one read from the download (audioset) is set on the ClassLabel feature here."""
    config = self.builder_config
    if not config.vocabulary:
      return list(config.labels)
    names, display_names = map(list, config.vocabulary(dl_manager.manual_dir))
    feature = self.info.features[self.target]
    (feature.feature if config.multi_label else feature).names = names
    self.info.metadata["label_display_names"] = display_names
    return names

  def _items(self, clips: list[Clip]) -> list[generation.Item]:
    """The clips' Items: label (multi-label: class indices, valid in any Beam worker), speaker, extras."""
    config = self.builder_config
    index = {name: i for i, name in enumerate(self.info.metadata["labels"])}
    items = []
    for clip in clips:
      target = [index[tag] for tag in clip.labels] if config.multi_label else clip.label
      features = {self.target: target, "speaker_id": clip.speaker_id, **{n: getattr(clip, n) for n in config.extras}}
      items.append(generation.Item(clip.example_id, clip.path, features,
                                   member=clip.member if isinstance(clip, MemberClip) else None))
    return items

  def _clip_splits(self, splits: Mapping[str, list[Clip]], absent: Mapping[str, Iterable[str]], notes: dict):
    """Generators for listed clips; the notes, vocabulary and label counts go into the metadata."""
    check_unique_ids(self.task, splits)
    empty = [split for split in SPLITS if not splits[split]]
    if empty:
      raise UserError(f"{self.task}: the {' and '.join(empty)} split would be empty ({notes['split_source']}); "
                      "check that --manual_dir holds the whole dataset.")
    for key, value in dict(notes, label_counts=label_counts(splits, self.builder_config.multi_label)).items():
      self.info.metadata[key] = value
    generators = {}
    for split in SPLITS:
      report = self.report(split)
      report.absent(absent.get(split, []))
      generators[split] = self._generate_examples(report, items=self._items(splits[split]))
    return generators

  def _listed_splits(self, dl_manager):
    """Datasets whose reader lists every clip with its split: official, fallback or user-supplied lists."""
    config, manual_dir = self.builder_config, epath.Path(dl_manager.manual_dir)
    splits, notes = config.list_splits(manual_dir)
    absent = notes.pop("absent", {})
    folder = supplied_lists.find(manual_dir) if config.supplied_lists else None
    notes["split_kind"] = "supplied lists" if folder else "fallback" if config.supplied_lists else "official"
    if folder:
      clips = [c for split in SPLITS for c in splits[split]]
      splits, absent, notes["unlisted"] = supplied_lists.apply(self.task, folder, clips, absent)
      notes["split_source"] = f"supplied lists: {folder}/{{train,validation,test}}.txt"
    return self._clip_splits(splits, absent, notes)

  def _voxceleb_splits(self, dl_manager):
    data = voxceleb.read(dl_manager.manual_dir)
    if data.unlisted:
      logging.warning("%s: %d files in the archives are not in iden_split.txt and are not built: %s", self.task,
                      len(data.unlisted), ", ".join(data.unlisted[:10]))
    notes = {"split_kind": "official", "split_source": "official iden_split.txt (1 train, 2 validation, 3 test)",
             "unlisted": data.unlisted}
    return self._clip_splits(data.splits, data.absent, notes)

  def _assign_speakers(self, speakers) -> dict[str, str]:
    speaker_split = speaker_shuffle.assign_speakers(speakers)
    if set(speaker_split.values()) != set(SPLITS):
      raise UserError(f"{self.task}: {len(speaker_split)} speakers leave a split empty under TFDS's cut "
                      f"{list(speaker_shuffle.NOSS_FRACTIONS)}; the full dataset has enough.")
    return speaker_split

  def _voxforge_splits(self, dl_manager):
    data = voxforge.speaker_splits(dl_manager.manual_dir, self._assign_speakers)
    self.info.metadata.update(
        split_kind="official",
        split_source=("as noss/voxforge: speakers shuffled with RandomState(0), cut at "
                      f"{list(speaker_shuffle.NOSS_FRACTIONS)}"),
        session_counts={split: dict(collections.Counter(s.label for s in data.sessions[split])) for split in SPLITS},
        after_cutoff=data.after_cutoff)
    generators = {}
    for split in SPLITS:
      report = self.report(split)
      report.absent(data.absent[split])
      generators[split] = self._generate_examples(report, units=data.sessions[split], to_items=voxforge.session_items)
    return generators

  def _speech_commands_archives(self, dl_manager) -> dict[str, epath.Path]:
    try:
      manual_dir = dl_manager.manual_dir
    except AssertionError:  # no --manual_dir, or an empty one: download the official archives
      manual_dir = None
    return speech_commands.local_archives(manual_dir) or dl_manager.download(speech_commands.URLS)

  def _counted(self, split: str, examples):
    """Passes (key, example) pairs on, counting labels; the counts go into the metadata at the end."""
    counts = collections.Counter()
    for key, example in examples:
      counts[example["label"]] += 1
      yield key, example
    self.info.metadata.setdefault("label_counts", {})[split] = dict(sorted(counts.items()))

  def _speech_commands_splits(self, dl_manager):
    """The 12-class task, exactly as noss/speech_commands (and TFDS's speech_commands) builds it."""
    paths = self._speech_commands_archives(dl_manager)
    lists = speech_commands.read_official_lists(paths["train"])
    split_of = speech_commands.twelve_class_split(lists, paths["train"])
    self.info.metadata.update(
        split_kind="official",
        split_source=("official: validation_list.txt (+ running_tap windows), the test archive, the rest of the "
                      "main archive for train"),
        testing_list_absent=lists.absent["test"])  # not used here: the test archive is the test split
    reports = {split: self.report(split) for split in SPLITS}
    reports["validation"].absent(lists.absent["validation"])
    items = {
        "train": speech_commands.items(paths["train"], keep=lambda name: split_of.get(name) == "train"),
        "validation": speech_commands.items(paths["train"], keep=lambda name: split_of.get(name) == "validation"),
        "test": speech_commands.items(paths["test"]),
    }
    return {split: self._counted(split, self._generate_examples(reports[split], items=items[split]))
            for split in SPLITS}

  def _speech_commands_words_splits(self, dl_manager):
    """The 35-word task from the main v0.02 archive and its two lists; background noise is not used."""
    paths = self._speech_commands_archives(dl_manager)
    lists = speech_commands.read_official_lists(paths["train"])
    self.info.metadata.update(
        split_kind="official",
        split_source=("official lists: validation_list.txt, testing_list.txt, the rest of the main archive for "
                      "train"))
    is_word = lambda name: name.split("/")[0] != speech_commands.BACKGROUND_NOISE  # noqa: E731
    generators = {}
    for split in SPLITS:
      report = self.report(split)
      report.absent([name for name in lists.absent.get(split, []) if is_word(name)])
      keep = lambda name, split=split: is_word(name) and lists.split_of.get(name) == split  # noqa: E731
      items = (as_word_item(item, self.task) for item in speech_commands.items(paths["train"], keep=keep))
      generators[split] = self._counted(split, self._generate_examples(report, items=items))
    return generators
