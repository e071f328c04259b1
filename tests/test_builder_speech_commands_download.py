"""`noss/speech_commands` downloading its two archives itself (no local copy), from a server on 127.0.0.1.

TFDS's own DownloadManager fetches them over HTTP: once from URLs that are not in builders/noss/checksums.tsv
(TFDS then records each file's size and sha256 but has nothing to check them against), and once from the
official URLs through an HTTP proxy (TFDS's downloader honours HTTP_PROXY), where it checks the checksums
recorded for them and refuses archives that differ.
"""

import hashlib
import http.server
import json
import threading
import urllib.parse

import pytest
import tensorflow_datasets as tfds
from tensorflow_datasets.core.download.download_manager import NonMatchingChecksumError

import nossbench.builders  # noqa: F401  (registers noss for tfds.builder)
from builder_helpers import SC_MAIN, SC_TEST, examples, write_speech_commands
from conftest import build
from nossbench.builders.sources import speech_commands

PROXY_VARIABLES = ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "no_proxy", "NO_PROXY", "all_proxy",
                   "ALL_PROXY")


class ArchiveHandler(http.server.SimpleHTTPRequestHandler):
  """Serves the folder's files by base name, for plain requests and for proxy requests (absolute URLs)."""

  def translate_path(self, path):
    return super().translate_path("/" + urllib.parse.urlsplit(path).path.rsplit("/", 1)[-1])

  def log_message(self, format, *args):  # pylint: disable=redefined-builtin
    pass


@pytest.fixture(scope="module")
def server(tmp_path_factory):
  """(base URL, folder holding the two archives, requested paths)."""
  root = tmp_path_factory.mktemp("served")
  write_speech_commands(root)
  requested = []

  class Handler(ArchiveHandler):
    def __init__(self, *args, **kwargs):
      super().__init__(*args, directory=str(root), **kwargs)

    def do_GET(self):
      requested.append(self.path)
      super().do_GET()

  httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
  thread = threading.Thread(target=httpd.serve_forever, daemon=True)
  thread.start()
  yield f"http://127.0.0.1:{httpd.server_address[1]}", root, requested
  httpd.shutdown()
  thread.join()


@pytest.fixture
def no_proxy(monkeypatch):
  for name in PROXY_VARIABLES:
    monkeypatch.delenv(name, raising=False)


def download_build(data_dir, **config):
  builder = tfds.builder("noss/speech_commands", data_dir=str(data_dir))
  builder.download_and_prepare(download_config=tfds.download.DownloadConfig(**config))
  return builder


def test_downloads_the_archives_and_builds_what_a_local_copy_builds(server, no_proxy, monkeypatch, tmp_path):
  base, root, requested = server
  monkeypatch.setattr(speech_commands, "URLS", {"train": f"{base}/data/{SC_MAIN}", "test": f"{base}/data/{SC_TEST}"})
  requested.clear()
  downloaded = download_build(tmp_path / "tfds")
  assert sorted(requested) == sorted([f"/data/{SC_MAIN}", f"/data/{SC_TEST}"])
  local = build("noss/speech_commands", root, tmp_path / "local")
  counts = {split: info.num_examples for split, info in downloaded.info.splits.items()}
  assert counts == {split: info.num_examples for split, info in local.info.splits.items()}
  assert counts["train"] > 0 and counts["validation"] > 0 and counts["test"] == 4
  assert {s: sorted(e) for s, e in examples(downloaded).items()} == {s: sorted(e) for s, e in examples(local).items()}
  # Not in checksums.tsv: TFDS records size and sha256 beside each download (.INFO) and in download_size.
  sizes = {name: (root / name).stat().st_size for name in (SC_MAIN, SC_TEST)}
  assert downloaded.info.download_size == sum(sizes.values())
  recorded = {}
  for info_file in (tmp_path / "tfds/downloads").rglob("*.INFO"):
    url_info = json.loads(info_file.read_text())["url_info"]
    recorded[url_info["filename"]] = (url_info["size"], url_info["checksum"])
  assert recorded == {name: (sizes[name], hashlib.sha256((root / name).read_bytes()).hexdigest()) for name in sizes}


def test_an_unregistered_url_is_refused_under_force_checksums_validation(server, no_proxy, monkeypatch, tmp_path):
  base, _, _ = server
  mirror = {"train": f"{base}/mirror/{SC_MAIN}", "test": f"{base}/mirror/{SC_TEST}"}
  monkeypatch.setattr(speech_commands, "URLS", mirror)
  with pytest.raises(ValueError, match=f"Missing checksums url: {base}/mirror/"):
    download_build(tmp_path / "tfds", force_checksums_validation=True)


def test_the_official_urls_are_checked_against_checksums_tsv(server, monkeypatch, tmp_path):
  """Served (through the proxy) the dummy archives under the official URLs, TFDS rejects them by checksum."""
  base, _, requested = server
  for name in PROXY_VARIABLES:
    monkeypatch.delenv(name, raising=False)
  monkeypatch.setenv("http_proxy", base)
  monkeypatch.setenv("HTTP_PROXY", base)
  requested.clear()
  with pytest.raises(NonMatchingChecksumError, match="speech_commands.*has wrong checksum"):
    download_build(tmp_path / "tfds")
  assert set(requested) <= set(speech_commands.URLS.values()) and requested  # the official URLs, via the proxy
