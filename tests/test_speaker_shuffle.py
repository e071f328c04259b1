"""The speaker split must be TFDS's own, so published numbers stay comparable."""

import pytest
from tensorflow_datasets.audio import crema_d as tfds_crema_d  # TFDS's reference implementation

from nossbench import speaker_shuffle

CREMA_D_ACTORS = [str(a) for a in range(1001, 1092)]


def tfds_reference(speakers, fractions):
  items = [(f"{s}_item", s) for s in speakers]
  by_split = tfds_crema_d._get_inter_splits_by_group(items, list(fractions), 0)  # pylint: disable=protected-access
  return {item.removesuffix("_item"): split for split, ids in by_split.items() for item in ids}


@pytest.mark.parametrize("fractions", [speaker_shuffle.NOSS_FRACTIONS, speaker_shuffle.SAVEE_FRACTIONS])
def test_same_speakers_as_tfds_on_the_91_crema_d_actors(fractions):
  assert speaker_shuffle.assign_speakers(CREMA_D_ACTORS, fractions) == tfds_reference(CREMA_D_ACTORS, fractions)


def test_crema_d_split_sizes_in_speakers():
  assignment = speaker_shuffle.assign_speakers(CREMA_D_ACTORS)
  counts = {split: sum(1 for s in assignment.values() if s == split) for split in ("train", "validation", "test")}
  # int(0.7 * 91) = 63, int(0.8 * 91) = 72, the rest to test.
  assert counts == {"train": 63, "validation": 9, "test": 19}


def test_order_and_duplicates_of_input_do_not_matter():
  shuffled = list(reversed(CREMA_D_ACTORS)) + CREMA_D_ACTORS[:10]
  assert speaker_shuffle.assign_speakers(shuffled) == speaker_shuffle.assign_speakers(CREMA_D_ACTORS)


def test_too_few_speakers_is_an_error():
  with pytest.raises(ValueError, match="cannot cut 2 speakers into 3 splits"):
    speaker_shuffle.assign_speakers(["a", "b"])
