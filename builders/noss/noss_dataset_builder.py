"""`noss`: the Non-Semantic Speech benchmark's datasets, one BuilderConfig per task.

Every example holds `example_id`, `audio` (16 kHz mono int16), `label` and `speaker_id` (voxceleb adds
`youtube_id`). Train, validation and test hold exactly the examples TFDS's own builder of each dataset
puts there, except where a config's description names a defect of that builder that is fixed here.
voxforge and voxceleb generate through Apache Beam (`--beam_pipeline_options` sends them to Dataflow);
the rest decode in a local process pool. Bad audio and the report in `info.metadata`: see
`nossbench.builders.generation`.
"""

import dataclasses
import functools
from collections.abc import Callable, Sequence

import tensorflow_datasets as tfds
from absl import logging
from etils import epath

from nossbench import UserError
from nossbench.builders import audio, generation
from nossbench.builders.sources import Clip, MemberClip, crema_d, dementiabank, savee, speech_commands, voxceleb, voxforge
from nossbench.splits import speaker_shuffle

SPLITS = ("train", "validation", "test")
AUDIO_NOTE = f"Audio is stored as 16 kHz mono int16, resampled with {audio.RESAMPLER} where needed."
SKIP_NOTE = ("An undecodable or missing file stops the build unless the builder option skip_bad_audio=True "
             "is given; skipped files are listed in the metadata (build_report_<split>).")


@dataclasses.dataclass
class NossConfig(tfds.core.BuilderConfig):
  labels: Sequence[str] = ()
  layout: str = "speaker_shuffle"  # which Builder._<layout>_splits reads the raw files
  list_clips: Callable[[epath.Path], list[Clip]] | None = None  # for layout speaker_shuffle
  split_fractions: Sequence[tuple[str, float]] = speaker_shuffle.NOSS_FRACTIONS
  text_features: Sequence[str] = ()  # task extras, stored as text
  manual_download_instructions: str = ""
  homepage: str = ""


def _describe(*sentences: str) -> str:
  return " ".join(sentences + (AUDIO_NOTE, SKIP_NOTE))


CREMA_D = NossConfig(
    name="crema_d",
    description=_describe(
        "CREMA-D emotion recognition (6 classes: NEU HAP SAD ANG FEA DIS), speaker-disjoint splits "
        "identical to TFDS's crema_d (sorted actor ids shuffled with RandomState(0), cut 0.7/0.1/0.2).",
        "Unlike TFDS's builder, every wav in AudioWAV/ is kept, including the four clips TFDS leaves "
        "out because they were missing from its mirror; all-zero clips (the dataset has one) are kept "
        "and counted in the metadata (build_report_<split>.silent)."),
    labels=crema_d.LABELS,
    list_clips=crema_d.list_clips,
    manual_download_instructions=crema_d.MANUAL_DOWNLOAD_INSTRUCTIONS,
    homepage="https://github.com/CheyneyComputerScience/CREMA-D",
)

SAVEE = NossConfig(
    name="savee",
    description=_describe(
        "SAVEE emotion recognition (7 classes: anger disgust fear happiness neutral sadness surprise), 4 "
        "speakers, speaker-disjoint splits identical to TFDS's savee (sorted speakers shuffled with "
        "RandomState(0), cut 0.6/0.2/0.2). Read from AudioData.zip without extracting it; example ids are "
        "<speaker>/<file name> (TFDS: <speaker>_<file name>). Unlike TFDS, upper-case .WAV names count too."),
    labels=savee.LABELS,
    list_clips=savee.list_clips,
    split_fractions=speaker_shuffle.SAVEE_FRACTIONS,
    manual_download_instructions=savee.MANUAL_DOWNLOAD_INSTRUCTIONS,
    homepage="http://kahlan.eps.surrey.ac.uk/savee/",
)

DEMENTIABANK = NossConfig(
    name="dementiabank",
    description=_describe(
        "DementiaBank (Pitt, cookie theft) dementia vs. control from speech (classes: dementia control), "
        "speaker-disjoint splits identical to TFDS's dementiabank (participants shuffled with RandomState(0), "
        "cut 0.7/0.1/0.2). Example ids are <Control|Dementia>/<file name> (TFDS: the file name), so equal "
        "names in both folders stay distinct. Unlike TFDS, upper-case .MP3 names count too."),
    labels=dementiabank.LABELS,
    list_clips=dementiabank.list_clips,
    manual_download_instructions=dementiabank.MANUAL_DOWNLOAD_INSTRUCTIONS,
    homepage="https://dementia.talkbank.org/",
)

VOXFORGE = NossConfig(
    name="voxforge",
    description=_describe(
        "VoxForge language identification (de en es fr it ru), speaker-disjoint splits as TFDS's voxforge "
        "(archive speakers shuffled with RandomState(0), cut 0.7/0.1/0.2). TFDS describes a cut-off at "
        f"{voxforge.CUTOFF.isoformat()} but never applies it; here sessions dated on or after it are left out "
        "before the shuffle (listed in the metadata, voxforge_after_cutoff). Example ids are "
        "<language>/<session>/<wav name>. Built with Apache Beam."),
    labels=voxforge.LABELS,
    layout="voxforge",
    manual_download_instructions=voxforge.MANUAL_DOWNLOAD_INSTRUCTIONS,
    homepage="http://www.voxforge.org/",
)

VOXCELEB = NossConfig(
    name="voxceleb",
    description=_describe(
        "VoxCeleb1 speaker identification (1,251 speakers, label = speaker id; TFDS numbers the same "
        "speakers 1-1251, here 0-1250) with iden_split.txt's train/validation/test. TFDS's builder reads only "
        "the dev archive, so the iden_split.txt files of the 40 test-archive speakers vanish from its splits; "
        "here both archives are read and a listed file that is still absent is an error (or, with "
        "skip_bad_audio=True, listed in build_report_<split>.absent). The verification trials of "
        "veri_test.txt are in the metadata, verification_trials: [target, enrol example id, test example id]; "
        "with skip_bad_audio=True, trials naming a file that is absent or undecodable are left out and listed in "
        "verification_trials_dropped: [veri_test.txt line, reason]. "
        "Example ids are <speaker>/<YouTube id>/<n>. Built with Apache Beam."),
    labels=voxceleb.SPEAKERS,
    layout="voxceleb",
    text_features=("youtube_id",),
    manual_download_instructions=voxceleb.MANUAL_DOWNLOAD_INSTRUCTIONS,
    homepage=voxceleb.HOMEPAGE,
)

SPEECH_COMMANDS = NossConfig(
    name="speech_commands",
    description=_describe(
        "Speech Commands v0.02 keyword spotting, 12 classes (down go left no off on right stop up yes "
        "_silence_ _unknown_), TFDS's speech_commands splits: validation_list.txt plus the windows of "
        "_background_noise_/running_tap.wav, the separate test archive, the rest for train. Background noise "
        "is cut into 1 s windows every 0.5 s, ids <file>#<start sample>; TFDS drops the last window when it "
        "ends exactly at the end of the file, here it is kept. speaker_id is the hash before _nohash_ "
        "(empty for noise and test _silence_ clips). TFDS skips undecodable clips silently; here the "
        "bad-audio policy applies."),
    labels=speech_commands.LABELS,
    layout="speech_commands",
    manual_download_instructions=speech_commands.MANUAL_DOWNLOAD_INSTRUCTIONS,
    homepage="https://arxiv.org/abs/1804.03209",
)


def _clip_item(clip: Clip, *extras: str) -> generation.Item:
  features = {"label": clip.label, "speaker_id": clip.speaker_id} | {name: getattr(clip, name) for name in extras}
  return generation.Item(clip.example_id, clip.path, features,
                         member=clip.member if isinstance(clip, MemberClip) else None)


class Builder(generation.AudioBuilder):
  """NOSS tasks built from the datasets' raw layouts in manual_dir."""

  name = "noss"
  VERSION = tfds.core.Version("1.1.0")
  RELEASE_NOTES = {"1.0.0": "crema_d.", "1.1.0": "savee, dementiabank, voxforge, voxceleb, speech_commands."}
  BUILDER_CONFIGS = [CREMA_D, SAVEE, DEMENTIABANK, VOXFORGE, VOXCELEB, SPEECH_COMMANDS]
  BEAM_CONFIGS = frozenset({"voxforge", "voxceleb"})
  # TFDS would look for README.md etc. next to the top package; point it at this folder instead.
  pkg_dir_path = epath.Path(__file__).parent

  @property
  def MANUAL_DOWNLOAD_INSTRUCTIONS(self):  # pylint: disable=invalid-name
    return self.builder_config.manual_download_instructions

  def _info(self) -> tfds.core.DatasetInfo:
    config = self.builder_config
    return self.dataset_info_from_configs(
        description=config.description,
        features=tfds.features.FeaturesDict({
            "example_id": tfds.features.Text(),
            "audio": generation.Int16Audio(),
            "label": tfds.features.ClassLabel(names=list(config.labels)),
            "speaker_id": tfds.features.Text(),
        } | {name: tfds.features.Text() for name in config.text_features}),
        supervised_keys=("audio", "label"),
        homepage=config.homepage,
        metadata=self.new_metadata(),
    )

  def _split_generators(self, dl_manager: tfds.download.DownloadManager):
    return getattr(self, f"_{self.builder_config.layout}_splits")(dl_manager)

  def _generate_examples(self, report: generation.Report, items=None, units=None, to_items=None):
    """A generator (items, decoded in a local pool) or a Beam PTransform (units)."""
    if units is not None:
      return self.beam_examples(units, report, to_items)
    return self.generate(items, report)

  def _assign_speakers(self, speakers) -> dict[str, str]:
    config = self.builder_config
    speaker_split = speaker_shuffle.assign_speakers(speakers, config.split_fractions)
    empty = [name for name, _ in config.split_fractions if name not in speaker_split.values()]
    if empty:
      raise UserError(
          f"noss/{config.name}: {len(speaker_split)} speakers leave the {' and '.join(empty)} split empty "
          f"under TFDS's cut at cumulative fractions {list(config.split_fractions)} (e.g. 10 speakers cut "
          "at int(0.7999999999999999 * 10) = 7 give validation none); the full dataset has enough.")
    return speaker_split

  def _speaker_shuffle_splits(self, dl_manager):
    clips = self.builder_config.list_clips(dl_manager.manual_dir)
    speaker_split = self._assign_speakers(c.speaker_id for c in clips)
    return {split: self._generate_examples(
        self.report(split), items=[_clip_item(c) for c in clips if speaker_split[c.speaker_id] == split])
            for split in SPLITS}

  def _voxforge_splits(self, dl_manager):
    data = voxforge.speaker_splits(dl_manager.manual_dir, self._assign_speakers)
    self.info.metadata.update(voxforge_after_cutoff=data.after_cutoff, voxforge_undated=data.undated)
    splits = {}
    for split in SPLITS:
      report = self.report(split)
      report.absent(data.absent[split])
      splits[split] = self._generate_examples(report, units=data.sessions[split], to_items=voxforge.session_items)
    return splits

  def _voxceleb_splits(self, dl_manager):
    data = voxceleb.read(dl_manager.manual_dir)
    if data.unlisted:
      logging.warning("voxceleb: %d files in the archives are not in iden_split.txt and are not built: %s",
                      len(data.unlisted), ", ".join(data.unlisted[:10]))
    splits = {}
    for split in SPLITS:
      report = self.report(split)
      report.absent(data.absent[split])
      splits[split] = self._generate_examples(report, units=[_clip_item(c, "youtube_id") for c in data.splits[split]])
    unbuilt = voxceleb.verification_trials(data.trials, data.unbuilt, {})["verification_trials_dropped"]
    if unbuilt and not self.skip_bad_audio:
      raise UserError(
          f"noss/voxceleb: {len(unbuilt)} verification trials of veri_test.txt name files that are not built, "
          f"e.g. {unbuilt[0][0]!r} ({unbuilt[0][1]}). Put the files back or rebuild with "
          "`tfds build noss/voxceleb/skip_bad_audio=True ...` to drop those trials; they are then listed in "
          "the metadata under 'verification_trials_dropped'.")
    # Which trials stay is known once the pipeline has skipped any undecodable file (skip_bad_audio=True).
    self.after_splits(SPLITS, ("verification_trials", "verification_trials_dropped"),
                      functools.partial(voxceleb.verification_trials, data.trials, data.unbuilt))
    self.info.metadata["voxceleb_unlisted"] = data.unlisted
    return splits

  def _speech_commands_splits(self, dl_manager):
    try:
      manual_dir = dl_manager.manual_dir
    except AssertionError:  # no --manual_dir, or an empty one: download the official archives
      manual_dir = None
    paths = speech_commands.local_archives(manual_dir) or dl_manager.download(speech_commands.URLS)
    split_of, absent = speech_commands.read_lists(paths["train"])
    reports = {split: self.report(split) for split in SPLITS}
    reports["validation"].absent(absent)
    return {
        "train": self._generate_examples(reports["train"], items=speech_commands.items(
            paths["train"], keep=lambda name: split_of.get(name) == "train")),
        "validation": self._generate_examples(reports["validation"], items=speech_commands.items(
            paths["train"], keep=lambda name: split_of.get(name) == "validation")),
        "test": self._generate_examples(reports["test"], items=speech_commands.items(paths["test"])),
    }
