"""`noss`: the Non-Semantic Speech benchmark's datasets, one BuilderConfig per task.

Every example holds `example_id`, `audio` (16 kHz mono int16), `label` and `speaker_id`. Train,
validation and test hold exactly the speakers that TFDS's own builder of the dataset puts there.
"""

import dataclasses
from collections.abc import Callable, Sequence

import numpy as np
import tensorflow_datasets as tfds
from etils import epath

from nossbench import UserError
from nossbench.builders import audio
from nossbench.builders.sources import Clip, crema_d
from nossbench.splits import speaker_shuffle


@dataclasses.dataclass
class NossConfig(tfds.core.BuilderConfig):
  labels: Sequence[str] = ()
  list_clips: Callable[[epath.Path], list[Clip]] | None = None
  split_fractions: Sequence[tuple[str, float]] = speaker_shuffle.NOSS_FRACTIONS
  manual_download_instructions: str = ""
  homepage: str = ""


CREMA_D = NossConfig(
    name="crema_d",
    description=(
        "CREMA-D emotion recognition (6 classes: NEU HAP SAD ANG FEA DIS), speaker-disjoint splits "
        "identical to TFDS's crema_d (sorted actor ids shuffled with RandomState(0), cut 0.7/0.1/0.2). "
        "Unlike TFDS's builder, every wav in AudioWAV/ is kept, including the four clips TFDS leaves "
        f"out because they were missing from its mirror. Audio resampled with {audio.RESAMPLER} when "
        "a file is not 16 kHz."),
    labels=crema_d.LABELS,
    list_clips=crema_d.list_clips,
    manual_download_instructions=crema_d.MANUAL_DOWNLOAD_INSTRUCTIONS,
    homepage="https://github.com/CheyneyComputerScience/CREMA-D",
)


class Builder(tfds.core.GeneratorBasedBuilder):
  """NOSS tasks built from the datasets' raw layouts in manual_dir."""

  name = "noss"
  VERSION = tfds.core.Version("1.0.0")
  RELEASE_NOTES = {"1.0.0": "crema_d."}
  BUILDER_CONFIGS = [CREMA_D]
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
            "audio": tfds.features.Audio(shape=(None,), dtype=np.int16,
                                         sample_rate=audio.TARGET_SAMPLE_RATE),
            "label": tfds.features.ClassLabel(names=list(config.labels)),
            "speaker_id": tfds.features.Text(),
        }),
        supervised_keys=("audio", "label"),
        homepage=config.homepage,
    )

  def _split_generators(self, dl_manager: tfds.download.DownloadManager):
    config = self.builder_config
    clips = config.list_clips(dl_manager.manual_dir)
    speaker_split = speaker_shuffle.assign_speakers((c.speaker_id for c in clips), config.split_fractions)
    empty = [name for name, _ in config.split_fractions if name not in speaker_split.values()]
    if empty:
      raise UserError(
          f"noss/{config.name}: {len(speaker_split)} speakers leave the {' and '.join(empty)} split empty "
          f"under TFDS's cut at cumulative fractions {list(config.split_fractions)} (e.g. 10 speakers cut "
          "at int(0.7999999999999999 * 10) = 7 give validation none); the full dataset has enough.")
    return {name: self._generate_examples([c for c in clips if speaker_split[c.speaker_id] == name])
            for name, _ in config.split_fractions}

  def _generate_examples(self, clips: list[Clip]):
    for clip in clips:
      yield clip.example_id, {
          "example_id": clip.example_id,
          "audio": audio.decode_file(clip.path),
          "label": clip.label,
          "speaker_id": clip.speaker_id,
      }
