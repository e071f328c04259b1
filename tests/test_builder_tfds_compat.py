"""The TFDS internals the builders rely on (builders/tfds_compat.py) are where the installed TFDS has them."""

import tensorflow_datasets as tfds
from tensorflow_datasets.core import shuffle

from nossbench.builders import tfds_compat


def test_the_installed_tfds_has_every_internal_the_builders_use():
  problems = tfds_compat.missing_internals()
  assert not problems, ("TFDS internals moved; update builders/tfds_compat.py (and setup.py's pin):\n"
                        + "\n".join(problems))


def test_a_moved_internal_is_named_with_what_depends_on_it(monkeypatch):
  monkeypatch.delattr(shuffle, "MAX_MEM_BUFFER_SIZE")
  monkeypatch.setattr(tfds.core.GeneratorBasedBuilder, "_download_and_prepare", lambda self, dl_manager: None)
  problems = tfds_compat.missing_internals()
  assert len(problems) == 2, problems
  assert "shuffle.MAX_MEM_BUFFER_SIZE" in problems[0] and "writer_memory_limit" in problems[0]
  assert f"tensorflow-datasets {tfds.__version__}" in problems[0]
  assert "_download_and_prepare" in problems[1] and "Builder.preparing" in problems[1]


def test_manual_dir_or_none(tmp_path):
  assert tfds_compat.manual_dir_or_none(tfds.download.DownloadManager(download_dir=str(tmp_path / "dl"))) is None
  (tmp_path / "empty").mkdir()
  empty = tfds.download.DownloadManager(download_dir=str(tmp_path / "dl"), manual_dir=str(tmp_path / "empty"),
                                        manual_dir_instructions="put the files here")
  assert tfds_compat.manual_dir_or_none(empty) is None
  (tmp_path / "empty" / "a.tgz").write_bytes(b"x")
  assert tfds_compat.manual_dir_or_none(empty) == tmp_path / "empty"
