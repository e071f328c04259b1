"""`noss`: the Non-Semantic Speech benchmark's datasets, one BuilderConfig per task.

Every example holds `example_id`, `audio` (16 kHz mono int16), `label` and `speaker_id` (voxceleb adds
`youtube_id`). Train, validation and test hold exactly the examples TFDS's own builder of each dataset
puts there, except where a config's description names a defect of that builder that is fixed here.
voxforge and voxceleb generate through Apache Beam (`--beam_pipeline_options` sends them to Dataflow);
the rest decode in a local process pool. Bad audio and the report in `info.metadata`: see
`nossbench.builders.bad_audio`.
"""

import dataclasses
import functools
from collections.abc import Callable, Sequence

import tensorflow_datasets as tfds
from etils import epath

from nossbench import UserError, speaker_shuffle
from nossbench.builders import audio, generation
from nossbench.builders.sources import (SPLITS, Clip, Plan, assign_speakers, clip_item, crema_d, dementiabank, savee,
                                        speech_commands, voxceleb, voxforge)

AUDIO_NOTE = f"Audio is stored as 16 kHz mono int16, resampled with {audio.RESAMPLER} where needed."
SKIP_NOTE = ("An undecodable or missing file stops the build unless the builder option skip_bad_audio=True "
             "is given; skipped files are listed in the metadata (build_report_<split>).")
# A config whose stored data changed since sets its own version, with these notes and its own.
RELEASE_NOTES = {"1.0.0": "crema_d.", "1.1.0": "savee, dementiabank, voxforge, voxceleb, speech_commands."}


def speaker_shuffle_plan(list_clips: Callable[[epath.Path], list[Clip]], fractions: Sequence[tuple[str, float]],
                         dl_manager, task: str) -> Plan:
  """The split of TFDS's crema_d, savee and dementiabank: the clips' speakers shuffled and cut."""
  clips = list_clips(dl_manager.manual_dir)
  speaker_split = assign_speakers(task, (c.speaker_id for c in clips), fractions)
  return Plan(clips={split: [c for c in clips if speaker_split[c.speaker_id] == split] for split in SPLITS})


def _shuffled(list_clips, fractions=speaker_shuffle.NOSS_FRACTIONS):
  return functools.partial(speaker_shuffle_plan, list_clips, fractions)


@dataclasses.dataclass
class NossConfig(tfds.core.BuilderConfig):
  labels: Sequence[str] = ()
  plan: Callable[..., Plan] | None = None  # plan(dl_manager, task): what each split is built from
  extras: Sequence[str] = ()  # task extras: clip attributes of these names, stored as text
  verification_trials: bool = False  # metadata verification_trials from the plan's (VoxCeleb's) trials
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
    plan=_shuffled(crema_d.list_clips),
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
    plan=_shuffled(savee.list_clips, speaker_shuffle.SAVEE_FRACTIONS),
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
    plan=_shuffled(dementiabank.list_clips),
    manual_download_instructions=dementiabank.MANUAL_DOWNLOAD_INSTRUCTIONS,
    homepage="https://dementia.talkbank.org/",
)

VOXFORGE = NossConfig(
    name="voxforge",
    description=_describe(
        "VoxForge language identification (de en es fr it ru), speaker-disjoint splits as TFDS's voxforge "
        "(archive speakers shuffled with RandomState(0), cut 0.7/0.1/0.2). TFDS describes a cut-off at "
        f"{voxforge.CUTOFF.isoformat()} but never applies it; here sessions dated on or after it are left out "
        "before the shuffle (listed in the metadata, voxforge_after_cutoff; sessions whose archive name carries "
        "no date are kept, as TFDS keeps them, and listed in voxforge_undated). Example ids are "
        "<language>/<session>/<wav name>. Built with Apache Beam."),
    labels=voxforge.LABELS,
    plan=voxforge.plan,
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
    plan=voxceleb.plan,
    extras=("youtube_id",),
    verification_trials=True,
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
        "bad-audio policy applies. testing_list.txt files missing from the main archive cost this task nothing "
        "(the test archive is its test split) and are listed in the metadata (testing_list_absent)."),
    labels=speech_commands.LABELS,
    plan=speech_commands.plan,
    version="1.2.0",
    release_notes=RELEASE_NOTES | {"1.2.0": "Metadata testing_list_absent, as hares/speech_commands_v1. "
                                            "Examples unchanged."},
    manual_download_instructions=speech_commands.MANUAL_DOWNLOAD_INSTRUCTIONS,
    homepage="https://arxiv.org/abs/1804.03209",
)


class Builder(generation.AudioBuilder):
  """NOSS tasks built from the datasets' raw layouts in manual_dir."""

  name = "noss"
  VERSION = tfds.core.Version("1.1.0")
  RELEASE_NOTES = RELEASE_NOTES
  BUILDER_CONFIGS = [CREMA_D, SAVEE, DEMENTIABANK, VOXFORGE, VOXCELEB, SPEECH_COMMANDS]
  BEAM_CONFIGS = frozenset({"voxforge", "voxceleb"})
  # TFDS would look for README.md etc. next to the top package; point it at this folder instead.
  pkg_dir_path = epath.Path(__file__).parent

  def _info(self) -> tfds.core.DatasetInfo:
    config = self.builder_config
    return self.dataset_info_from_configs(
        description=config.description,
        features=tfds.features.FeaturesDict({
            "example_id": tfds.features.Text(),
            "audio": generation.Int16Audio(),
            "label": tfds.features.ClassLabel(names=list(config.labels)),
            "speaker_id": tfds.features.Text(),
        } | {name: tfds.features.Text() for name in config.extras}),
        supervised_keys=("audio", "label"),
        homepage=config.homepage,
        metadata=self.new_metadata(),
    )

  def _split_generators(self, dl_manager: tfds.download.DownloadManager):
    config = self.builder_config
    plan = config.plan(dl_manager, self.task)
    self.info.metadata.update(plan.metadata)
    splits = {}
    for split in SPLITS:
      report = self.report(split)
      report.absent(plan.absent.get(split, []))
      units = plan.units[split] if plan.clips is None else [
          clip_item(c, {"label": c.label, "speaker_id": c.speaker_id, **{n: getattr(c, n) for n in config.extras}})
          for c in plan.clips[split]]
      splits[split] = self._generate_examples(report, units, plan.to_items)
    if config.verification_trials:
      self._verification_trials(plan)
    return splits

  def _verification_trials(self, plan: voxceleb.VoxCelebPlan) -> None:
    """Metadata verification_trials(_dropped): veri_test.txt's trials between examples that were built."""
    unbuilt = voxceleb.verification_trials(plan.trials, plan.unbuilt, {})["verification_trials_dropped"]
    if unbuilt and not self.skip_bad_audio:
      raise UserError(
          f"{self.task}: {len(unbuilt)} verification trials of veri_test.txt name files that are not built, "
          f"e.g. {unbuilt[0][0]!r} ({unbuilt[0][1]}). Put the files back or rebuild with "
          f"`tfds build {self.task}/skip_bad_audio=True ...` to drop those trials; they are then listed in "
          "the metadata under 'verification_trials_dropped'.")
    # Which trials stay is known once the pipeline has skipped any undecodable file (skip_bad_audio=True).
    self.after_splits(SPLITS, ("verification_trials", "verification_trials_dropped"),
                      functools.partial(voxceleb.verification_trials, plan.trials, plan.unbuilt))
