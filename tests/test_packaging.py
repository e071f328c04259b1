"""The installed wheel carries what TFDS reads from a builder's folder, and nothing generic at the top."""

import os
import subprocess
import sys
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_wheel_installs_nossbench_with_builder_metadata(tmp_path):
  subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
                  "-w", str(tmp_path / "wheel"), str(REPO)], check=True, capture_output=True)
  wheel = next((tmp_path / "wheel").glob("nossbench-*.whl"))
  names = zipfile.ZipFile(wheel).namelist()
  top_level = {name.split("/")[0] for name in names if not name.startswith("nossbench-")}
  assert top_level == {"nossbench"}
  for data in ("README.md", "CITATIONS.bib", "TAGS.txt", "checksums.tsv"):
    assert f"nossbench/builders/noss/{data}" in names
  assert "nossbench/setup.py" not in names
  # The leaderboard pages read their templates and assets from the installed package.
  assert {"nossbench/server/templates/leaderboard.html", "nossbench/server/static/style.css",
          "nossbench/server/static/leaderboard.js"} <= set(names)

  subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(tmp_path / "site"),
                  str(wheel)], check=True, capture_output=True)
  code = ("import nossbench.builders, tensorflow_datasets as tfds; b = tfds.builder('noss/crema_d');"
          "print(b.pkg_dir_path); print(b.info.description.split()[0])")
  env = dict(os.environ, PYTHONPATH=str(tmp_path / "site"))
  out = subprocess.run([sys.executable, "-c", code], env=env, cwd=tmp_path, capture_output=True, text=True,
                       check=True).stdout.split()
  assert out[0].startswith(str(tmp_path / "site"))
  assert out[1] == "NOSS"
