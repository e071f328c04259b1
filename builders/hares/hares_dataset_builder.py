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
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import tensorflow_datasets as tfds
from etils import epath

from nossbench import UserError, speaker_shuffle
from nossbench.builders import audio, generation
from nossbench.builders.hares import supplied_lists
from nossbench.builders.items import Item
from nossbench.builders.sources import (SPLITS, Clip, Plan, audioset, birdsong, clip_item, esc50,
                                        fluent_speech_commands, magnatagatune, nsynth, speech_commands, tut18,
                                        voxceleb, voxforge)

AUDIO_NOTE = f" Audio: 16 kHz mono int16, downmixed and resampled with {audio.RESAMPLER} where needed."
# metadata `split_kind`: the split the dataset (or the TFDS builder HARES used) defines; the lists the user
# supplied for birdsong/tut18; or, without them, the documented fallback split of those two.
SPLIT_KINDS = ("official", "supplied lists", "fallback")
# A config whose stored data changed since sets its own version, with these notes and its own.
RELEASE_NOTES = {
    "1.0.0": "The twelve HARES tasks.",
    "1.1.0": ("audio stored as raw int16 bytes (generation.Int16Audio, as noss) instead of TFDS's int64 varints; "
              "it reads back as the same int16 arrays. Metadata split_kind. speech_commands_*: absent "
              "testing_list.txt files are reported."),
}


def listed_plan(list_splits: Callable[[epath.Path], tuple[dict[str, list[Clip]], dict]], user_lists: bool,
                dl_manager, task: str) -> Plan:
  """Datasets whose reader lists every clip with its split: official, fallback or user-supplied lists.

  `list_splits(manual_dir)` gives (clips per split, notes for the metadata, absent files under "absent");
  with `user_lists`, HARES's split is the user's hares_splits/ lists when given, else the reader's.
  """
  manual_dir = epath.Path(dl_manager.manual_dir)
  splits, notes = list_splits(manual_dir)
  absent = notes.pop("absent", {})
  folder = supplied_lists.find(manual_dir) if user_lists else None
  notes["split_kind"] = "supplied lists" if folder else "fallback" if user_lists else "official"
  if folder:
    clips = [c for split in SPLITS for c in splits[split]]
    splits, absent, notes["unlisted"] = supplied_lists.apply(task, folder, clips, absent)
    notes["split_source"] = f"supplied lists: {folder}/{{train,validation,test}}.txt"
  return Plan(clips=splits, absent=absent, metadata=notes)


def _listed(list_splits, user_lists=False):
  return functools.partial(listed_plan, list_splits, user_lists)


@dataclasses.dataclass
class HaresConfig(tfds.core.BuilderConfig):
  plan: Callable[..., Plan] | None = None  # plan(dl_manager, task): what each split is built from
  split_source: str = ""  # metadata split_source where the plan does not say (split_kind is then "official")
  labels: Sequence[str] = ()  # class names; empty when `vocabulary` reads them from the download
  vocabulary: Callable[[epath.Path], tuple[Sequence[str], Sequence[str]]] | None = None  # (names, display)
  num_classes: int = 0  # with `vocabulary`
  multi_label: bool = False  # a `labels` sequence instead of one `label`
  extras: Mapping[str, Any] = dataclasses.field(default_factory=dict)  # feature -> clip attribute of that name
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
    num_classes=audioset.NUM_CLASSES, multi_label=True, plan=_listed(audioset.list_splits), beam=True,
    manual_download_instructions=audioset.MANUAL_DOWNLOAD_INSTRUCTIONS,
    homepage="https://research.google.com/audioset/")

BIRDSONG = HaresConfig(
    name="birdsong",
    description=(
        "Bird audio detection (2 classes: no_bird, bird) on the three DCASE2018 development sets "
        "(freefield1010, warblr, BirdVox-DCASE-20k; `source`). Split: the HARES lists of Tagliasacchi et al. "
        f"from <manual_dir>/{supplied_lists.FOLDER}/ when supplied, otherwise the fallback: "
        f"{birdsong.FALLBACK}. The metadata's `split_source` says which." + AUDIO_NOTE),
    labels=birdsong.LABELS, plan=_listed(birdsong.list_splits, user_lists=True),
    extras={"source": tfds.features.Text()}, manual_download_instructions=birdsong.MANUAL_DOWNLOAD_INSTRUCTIONS,
    homepage="https://dcase.community/challenge2018/task-bird-audio-detection")

TUT18 = HaresConfig(
    name="tut18",
    description=(
        "Acoustic scene classification (10 scenes) on TUT Urban Acoustic Scenes 2018 development, 48 kHz "
        "stereo 24-bit input. Split: the HARES lists of Tagliasacchi et al. from "
        f"<manual_dir>/{supplied_lists.FOLDER}/ when supplied, otherwise the fallback: {tut18.FALLBACK}. "
        "Each example keeps its recording `location`; the metadata's `split_source` says which split was "
        "used." + AUDIO_NOTE),
    labels=tut18.LABELS, plan=_listed(tut18.list_splits, user_lists=True),
    extras={"location": tfds.features.Text()}, manual_download_instructions=tut18.MANUAL_DOWNLOAD_INSTRUCTIONS,
    homepage="https://zenodo.org/record/1228142")

ESC50 = HaresConfig(
    name="esc50",
    description=(
        "ESC-50 environmental sound classification (50 classes). Canonical split from the official folds "
        "(1-3 train, 4 validation, 5 test); every example keeps its `fold` (1-5) for the official 5-fold "
        "cross-validation." + AUDIO_NOTE),
    labels=esc50.LABELS, plan=_listed(esc50.list_splits), extras={"fold": np.int32},
    manual_download_instructions=esc50.MANUAL_DOWNLOAD_INSTRUCTIONS,
    homepage="https://github.com/karolpiczak/ESC-50")

FLUENT_SPEECH_COMMANDS = HaresConfig(
    name="fluent_speech_commands",
    description=(
        "Fluent Speech Commands intent classification (31 intents, `<action>_<object>_<location>`), the "
        "official speaker-disjoint train/valid/test CSVs." + AUDIO_NOTE),
    labels=fluent_speech_commands.LABELS, plan=_listed(fluent_speech_commands.list_splits),
    manual_download_instructions=fluent_speech_commands.MANUAL_DOWNLOAD_INSTRUCTIONS,
    homepage="https://fluent.ai/fluent-speech-commands-a-dataset-for-spoken-language-understanding-research/")

NSYNTH_INSTRUMENT = HaresConfig(
    name="nsynth_instrument",
    description=(
        "NSynth instrument family classification (11 families), official instrument-disjoint "
        "nsynth-train/valid/test; each example keeps its `instrument`." + AUDIO_NOTE),
    labels=nsynth.FAMILIES, plan=_listed(functools.partial(nsynth.list_splits, target="instrument_family")),
    extras={"instrument": tfds.features.Text()}, beam=True,
    manual_download_instructions=nsynth.MANUAL_DOWNLOAD_INSTRUCTIONS,
    homepage="https://magenta.tensorflow.org/datasets/nsynth")

NSYNTH_PITCH = HaresConfig(
    name="nsynth_pitch",
    description=(
        "NSynth pitch classification (128 MIDI pitches, labels '0'..'127'), official instrument-disjoint "
        "nsynth-train/valid/test; each example keeps its `instrument`." + AUDIO_NOTE),
    labels=nsynth.PITCHES, plan=_listed(functools.partial(nsynth.list_splits, target="pitch")),
    extras={"instrument": tfds.features.Text()}, beam=True,
    manual_download_instructions=nsynth.MANUAL_DOWNLOAD_INSTRUCTIONS,
    homepage="https://magenta.tensorflow.org/datasets/nsynth")

MAGNATAGATUNE = HaresConfig(
    name="magnatagatune",
    description=(
        "MagnaTagATune music tagging: the 50 most frequent tags, multi-label (`labels`); folders 0-b "
        "train, c validation, d-f test. Clips with none of the 50 tags are kept with no labels and counted "
        "in the metadata." + AUDIO_NOTE),
    labels=magnatagatune.LABELS, multi_label=True, plan=_listed(magnatagatune.list_splits),
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
    plan=speech_commands.plan, labels=speech_commands.LABELS,
    split_source=("official: validation_list.txt (+ running_tap windows), the test archive, the rest of the main "
                  "archive for train"),
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
    plan=speech_commands.words_plan, labels=speech_commands.ALL_WORDS,
    split_source="official lists: validation_list.txt, testing_list.txt, the rest of the main archive for train",
    manual_download_instructions=speech_commands.MANUAL_DOWNLOAD_INSTRUCTIONS,
    homepage="https://arxiv.org/abs/1804.03209")

VOXFORGE = HaresConfig(
    name="voxforge",
    description=(
        "VoxForge language identification (de en es fr it ru) with the splits of noss/voxforge: sessions "
        f"dated before {voxforge.CUTOFF.isoformat()}, archive speakers shuffled with RandomState(0) and cut "
        "0.7/0.1/0.2 as TFDS's voxforge does; example ids <language>/<session>/<wav name>. The metadata's "
        "`session_counts` gives sessions per split and language (their wav count is known only once read); "
        "`voxforge_after_cutoff` and `voxforge_undated` list the sessions left out and those kept undated. "
        "Built with Apache Beam." + AUDIO_NOTE),
    plan=voxforge.plan, labels=voxforge.LABELS, beam=True,
    split_source=("as noss/voxforge: speakers shuffled with RandomState(0), cut at "
                  f"{list(speaker_shuffle.NOSS_FRACTIONS)}"),
    version="1.2.0",
    release_notes=RELEASE_NOTES | {"1.2.0": ("Metadata after_cutoff renamed voxforge_after_cutoff (as noss/voxforge); "
                                             "voxforge_undated added. Examples unchanged.")},
    manual_download_instructions=voxforge.MANUAL_DOWNLOAD_INSTRUCTIONS, homepage="http://www.voxforge.org/")

VOXCELEB = HaresConfig(
    name="voxceleb",
    description=(
        "VoxCeleb1 speaker identification (1,251 speakers, label = speaker id) with iden_split.txt's "
        "train/validation/test, read from both the dev and the test archive (as noss/voxceleb); each example "
        "keeps its `youtube_id`. Files in the archives that iden_split.txt does not list are not built and are "
        "listed in the metadata (`voxceleb_unlisted`). Built with Apache Beam." + AUDIO_NOTE),
    plan=voxceleb.plan, labels=voxceleb.SPEAKERS, extras={"youtube_id": tfds.features.Text()}, beam=True,
    split_source="official iden_split.txt (1 train, 2 validation, 3 test)",
    version="1.2.0",
    release_notes=RELEASE_NOTES | {"1.2.0": ("Metadata unlisted renamed voxceleb_unlisted (as noss/voxceleb). "
                                             "Examples unchanged.")},
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


class Builder(generation.AudioBuilder):
  """HARES tasks built from the datasets' raw layouts in manual_dir."""

  name = "hares"
  VERSION = tfds.core.Version("1.1.0")
  RELEASE_NOTES = RELEASE_NOTES
  BUILDER_CONFIGS = [AUDIOSET, BIRDSONG, TUT18, ESC50, SPEECH_COMMANDS_V1, SPEECH_COMMANDS_V2,
                     FLUENT_SPEECH_COMMANDS, VOXFORGE, VOXCELEB, NSYNTH_INSTRUMENT, NSYNTH_PITCH, MAGNATAGATUNE]
  BEAM_CONFIGS = frozenset(c.name for c in BUILDER_CONFIGS if c.beam)
  # TFDS would look for README.md etc. next to the top package; point it at this folder instead.
  pkg_dir_path = epath.Path(__file__).parent

  @property
  def target(self) -> str:
    return "labels" if self.builder_config.multi_label else "label"

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
    config = self.builder_config
    self.info.metadata["labels"] = self._label_names(dl_manager)
    plan = config.plan(dl_manager, self.task)
    notes = {"split_kind": "official", "split_source": config.split_source} | plan.metadata
    if plan.clips is not None:
      check_unique_ids(self.task, plan.clips)
      empty = [split for split in SPLITS if not plan.clips[split]]
      if empty:
        raise UserError(f"{self.task}: the {' and '.join(empty)} split would be empty ({notes['split_source']}); "
                        "check that --manual_dir holds the whole dataset.")
      notes["label_counts"] = label_counts(plan.clips, config.multi_label)
    elif plan.to_items:  # work units (VoxForge's sessions): their files are known only once read
      notes["session_counts"] = {split: dict(collections.Counter(u.label for u in plan.units[split]))
                                 for split in SPLITS}
    self.info.metadata.update(notes)
    generators = {}
    for split in SPLITS:
      report = self.report(split)
      report.absent(plan.absent.get(split, []))
      if plan.clips is not None:
        generators[split] = self._generate_examples(report, self._items(plan.clips[split]))
      elif plan.to_items:
        generators[split] = self._generate_examples(report, plan.units[split], plan.to_items)
      else:  # Items read as they are generated (Speech Commands): counted as they pass
        generators[split] = self._counted(split, self._generate_examples(report, plan.units[split]))
    return generators

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

  def _items(self, clips: list[Clip]) -> list[Item]:
    """The clips' Items: label (multi-label: class indices, valid in any Beam worker), speaker, extras."""
    config = self.builder_config
    index = {name: i for i, name in enumerate(self.info.metadata["labels"])}
    return [clip_item(clip, {self.target: [index[tag] for tag in clip.labels] if config.multi_label else clip.label,
                             "speaker_id": clip.speaker_id, **{n: getattr(clip, n) for n in config.extras}})
            for clip in clips]

  def _counted(self, split: str, examples):
    """Passes (key, example) pairs on, counting labels; the counts go into the metadata at the end."""
    counts = collections.Counter()
    for key, example in examples:
      counts[example["label"]] += 1
      yield key, example
    self.info.metadata.setdefault("label_counts", {})[split] = dict(sorted(counts.items()))
