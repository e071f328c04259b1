"""`prepare-splits --audit M --data_dir D`: what crosses the train/test (and validation) boundary beyond
speakers (`--check` covers speakers), in every manifest of every task under M.

Four kinds of leak, each a pair of examples (or a shared group) on two sides of one cut:
- `session`: the same recording session or source (GROUPS: VoxCeleb's YouTube video, VoxForge's
  archive, ESC-50's freesound clip, TUT18's recording location);
- `content`: the same script line where the task is not about content (CREMA-D, SAVEE sentences);
- `identical_audio`: the same decoded samples (sha256 of the int16 bytes);
- `near_duplicate`: the same sound re-encoded, trimmed or with its gain changed, found with Chromaprint
  (libchromaprint through pyacoustid). Chromaprint needs about 3 s of audio at its own 11,025 Hz rate
  before it yields a fingerprint; clips are therefore played four times slower (resampled to 44.1 kHz
  by soxr and handed over as 11,025 Hz: two octaves down, so the chroma it hashes is unchanged), which
  brings the minimum down to MIN_SECONDS of real audio. Shorter clips get no fingerprint: they are
  counted, listed, and checked for identical audio only.
  Matching: clips sharing at least MIN_SHARED 16-bit halves of fingerprint items (halves held by more
  than STOP_SHARE of the clips and STOP_MIN clips, e.g. silence, are ignored) are candidates; a candidate
  pair is a near-duplicate when, at the best alignment with at least MIN_OVERLAP items in common, at
  most MAX_BIT_ERRORS of the fingerprint bits differ (measured on espeak-ng speech: re-encoding,
  trimming, gain and added noise 0-0.09; one sentence in two synthetic voices 0.19 and up; one actor's
  sentence in two emotions 0.28 and up). Chromaprint's chroma features ignore most of the voice: real
  recordings of one script line by one actor may come closer than these synthetic ones did.

Output: counts per scheme, split pair and kind (printed), every finding in `<M>/<task>/audit.csv`
(scheme, unit, kind, split_a, split_b, item_a, item_b, detail); `--strict` exits 2 when anything crosses.
"""

import collections
import functools
import hashlib
import itertools

import numpy as np
import pandas as pd
import tqdm
from etils import epath
from scipy import sparse

from nossbench import UserError, tasks
from nossbench.splits import manifest

SLOWDOWN = 4
MIN_SECONDS = 0.9
MIN_ITEMS = 8
MIN_SHARED = 4
MIN_OVERLAP = 8
MAX_BIT_ERRORS = 0.15
STOP_SHARE, STOP_MIN = 0.01, 50
KINDS = ("session", "content", "identical_audio", "near_duplicate")
SPLIT_PAIRS = (("train", "test"), ("train", "validation"), ("validation", "test"))
COLUMNS = ["scheme", "unit", "kind", "split_a", "split_b", "item_a", "item_b", "detail"]


def _part(index: int, separator: str, count: int = 1):
  return lambda example_id: separator.join(example_id.split(separator)[index:index + count])


# The one place that says which examples share a session or a script line, keyed by task.
GROUPS = {
    "noss/crema_d": ("content", _part(1, "_")),  # 1001_DFA_ANG_XX: sentence DFA
    "noss/savee": ("content", _part(1, "/")),  # DC/sa01: script line sa01 (every actor reads the same lines)
    "noss/voxceleb": ("session", _part(1, "/")),  # id10001/1zcIwhmdeo4/00001: the YouTube video
    "hares/voxceleb": ("session", _part(1, "/")),
    "noss/voxforge": ("session", _part(0, "/", 2)),  # de/<user>-<date>-<x>/<wav>: the session archive
    "hares/voxforge": ("session", _part(0, "/", 2)),
    "hares/esc50": ("session", _part(1, "-")),  # 1-100032-A-0: freesound clip 100032
    "hares/tut18": ("session", _part(1, "-", 2)),  # airport-barcelona-0-0-a: barcelona location 0
}


def fingerprint(samples: np.ndarray, rate: int) -> np.ndarray | None:
  """Chromaprint's raw fingerprint (uint32 items) of int16 mono audio, or None when too short."""
  try:
    import chromaprint  # pylint: disable=import-outside-toplevel  (pyacoustid; loads libchromaprint)
  except (ImportError, OSError) as error:
    raise UserError(f"--audit fingerprints audio with Chromaprint, which is not available ({error}): "
                    "pip install 'nossbench[audit]' and apt-get install libchromaprint1") from error
  import soxr  # pylint: disable=import-outside-toplevel

  if len(samples) < MIN_SECONDS * rate:
    return None
  slowed = soxr.resample(samples.astype(np.int16), rate, 11025 * SLOWDOWN)
  printer = chromaprint.Fingerprinter()
  printer.start(11025, 1)
  printer.feed(np.clip(slowed, -32768, 32767).astype("<i2").tobytes())
  items = np.array(chromaprint.decode_fingerprint(printer.finish())[0], dtype=np.int64).astype(np.uint32)
  return items if len(items) >= MIN_ITEMS else None


def bit_error_rate(a: np.ndarray, b: np.ndarray) -> float:
  """Lowest share of differing bits over the alignments of a and b that overlap by MIN_OVERLAP items."""
  if min(len(a), len(b)) < MIN_OVERLAP:
    return 1.0
  # Every alignment at once: a padded with len(b) blanks each side, windows of len(b) slid along it.
  padded = np.concatenate([np.zeros(len(b), np.uint32), a, np.zeros(len(b), np.uint32)])
  present = np.concatenate([np.zeros(len(b)), np.ones(len(a)), np.zeros(len(b))])
  windows = np.lib.stride_tricks.sliding_window_view(padded, len(b))
  overlap = np.lib.stride_tricks.sliding_window_view(present, len(b))
  errors = (np.bitwise_count(windows ^ b) * overlap).sum(1)
  items = overlap.sum(1)
  usable = items >= MIN_OVERLAP
  return float((errors[usable] / (32 * items[usable])).min())


def near_duplicates(prints: dict[str, np.ndarray]) -> list[tuple[str, str, float]]:
  """(id_a, id_b, bit error rate) of every near-duplicate pair among the fingerprinted clips."""
  ids = sorted(prints)
  if len(ids) < 2:
    return []
  rows, keys = [], []
  for i, example_id in enumerate(ids):
    items = prints[example_id].astype(np.int64)
    halves = np.unique(np.concatenate([items >> 16, (1 << 16) + (items & 0xFFFF)]))
    rows.append(np.full(len(halves), i))
    keys.append(halves)
  rows, keys = np.concatenate(rows), np.concatenate(keys)
  held = sparse.csr_matrix((np.ones(len(rows), np.float32), (rows, keys)), shape=(len(ids), 1 << 17))
  common = np.asarray(held.sum(axis=0)).ravel() > max(STOP_MIN, STOP_SHARE * len(ids))
  held = held[:, np.flatnonzero(~common)]
  shared = sparse.triu(held @ held.T, k=1).tocoo()
  found = []
  for i, j, count in zip(shared.row, shared.col, shared.data):
    if count >= MIN_SHARED:
      errors = bit_error_rate(prints[ids[i]], prints[ids[j]])
      if errors <= MAX_BIT_ERRORS:
        found.append((ids[i], ids[j], errors))
  return found


class Audio:
  """What the audit knows of a task's audio: a hash and (when long enough) a fingerprint per example."""

  def __init__(self, clips, rate: int, total: int | None = None, task: str = ""):
    by_hash, self.prints, self.unprinted = collections.defaultdict(list), {}, []
    for example_id, samples in tqdm.tqdm(clips, total=total, desc=f"audit {task}: fingerprints", unit="clip",
                                         disable=None):  # on a terminal only
      samples = np.asarray(samples).reshape(-1)
      by_hash[hashlib.sha256(samples.astype("<i2").tobytes()).hexdigest()].append(example_id)
      printed = fingerprint(samples, rate)
      if printed is None:
        self.unprinted.append(example_id)
      else:
        self.prints[example_id] = printed
    self.identical = [(a, b, digest) for digest, same in by_hash.items() if len(same) > 1
                      for a, b in itertools.combinations(sorted(same), 2)]

  @functools.cached_property
  def near(self) -> list[tuple[str, str, float]]:
    """Near-duplicate pairs that are not identical audio (matched on first use)."""
    twins = {(a, b) for a, b, _ in self.identical}
    return [(a, b, e) for a, b, e in near_duplicates(self.prints) if (a, b) not in twins]


SPLIT_ORDER = {"train": 0, "validation": 1, "test": 2}


def _group_findings(scheme: str, table: pd.DataFrame, kind: str, group_of) -> pd.DataFrame:
  """One row per group, cut and split pair where the group has examples on both sides."""
  sizes = table.assign(group=table["example_id"].map(group_of)).groupby(["unit", "group", "split"]).size()
  sides = sizes.unstack("split", fill_value=0)
  found = []
  for a, b in SPLIT_PAIRS:
    if a in sides.columns and b in sides.columns:
      both = sides[(sides[a] > 0) & (sides[b] > 0)]
      found.append(pd.DataFrame({
          "unit": both.index.get_level_values("unit"), "item_a": both.index.get_level_values("group"),
          "split_a": a, "split_b": b, "detail": [f"{n} {a} and {m} {b} examples" for n, m in zip(both[a], both[b])]}))
  found = pd.concat(found, ignore_index=True) if found else pd.DataFrame(columns=["unit", "item_a", "split_a",
                                                                                 "split_b", "detail"])
  return found.assign(scheme=scheme, kind=kind, item_b=found["item_a"])


def _pair_findings(scheme: str, table: pd.DataFrame, pairs: pd.DataFrame) -> pd.DataFrame:
  """The audio pairs whose two examples sit in one cut on two sides (earlier split named first)."""
  sides = table[["unit", "example_id", "split"]]
  joined = pairs.merge(sides.rename(columns={"example_id": "x", "split": "split_x"}), on="x").merge(
      sides.rename(columns={"example_id": "y", "split": "split_y"}), on=["y", "unit"])
  joined = joined[joined["split_x"] != joined["split_y"]]
  swap = joined["split_x"].map(SPLIT_ORDER).fillna(3) > joined["split_y"].map(SPLIT_ORDER).fillna(3)
  return pd.DataFrame({
      "scheme": scheme, "unit": joined["unit"], "kind": joined["kind"],
      "split_a": joined["split_x"].where(~swap, joined["split_y"]),
      "split_b": joined["split_y"].where(~swap, joined["split_x"]),
      "item_a": joined["x"].where(~swap, joined["y"]), "item_b": joined["y"].where(~swap, joined["x"]),
      "detail": joined["detail"]})


def audit_task(root, task: str, audio: Audio) -> pd.DataFrame:
  """Every finding of every manifest of `task` under root (trials are pairs, not a cut: left out)."""
  pairs = pd.DataFrame(
      [("identical_audio", x, y, f"sha256 {d[:16]} of the int16 samples") for x, y, d in audio.identical]
      + [("near_duplicate", x, y, f"Chromaprint bit error rate {e:.3f}") for x, y, e in audio.near],
      columns=["kind", "x", "y", "detail"])
  found = []
  for listed_task, scheme in manifest.find_manifests(root):
    if listed_task != task or scheme not in manifest.SCHEME_COLUMNS:
      continue
    table, _ = manifest.read_manifest(root, task, scheme)
    # A cut is a repeat or fold; for intra_speaker, one speaker's part of a repeat (fit and tested alone).
    unit_columns = manifest.SCHEME_COLUMNS[scheme][:1] + (["speaker_id"] if scheme == "intra_speaker" else [])
    unit = pd.Series("", index=table.index)
    for i, column in enumerate(unit_columns):
      unit = unit + ("" if i == 0 else ", ") + column + " " + table[column].astype(str)
    table = table.assign(unit=unit)
    if task in GROUPS:
      found.append(_group_findings(scheme, table, *GROUPS[task]))
    found.append(_pair_findings(scheme, table, pairs))
  found = [f for f in found if len(f)]
  if not found:
    return pd.DataFrame(columns=COLUMNS)
  return pd.concat(found, ignore_index=True)[COLUMNS].sort_values(COLUMNS, ignore_index=True)


def counts(findings: pd.DataFrame) -> pd.DataFrame:
  """Findings per scheme and split pair (rows) and kind (columns), summed over repeats or folds."""
  table = findings.assign(pair=findings["split_a"] + "/" + findings["split_b"]).groupby(
      ["scheme", "pair", "kind"]).size().unstack("kind", fill_value=0)
  return table.reindex(columns=list(KINDS), fill_value=0)


def write(root, task: str, findings: pd.DataFrame) -> epath.Path:
  path = tasks.manifest_folder(root, task) / "audit.csv"
  path.write_text(findings.to_csv(index=False, lineterminator="\n"))
  return path


def audit_folder(root, data_dir: str | None, strict: bool) -> None:
  """`prepare-splits --audit`: every task under root, its audio read from its TFDS build in data_dir."""
  tasks = sorted({task for task, _ in manifest.find_manifests(root)})
  if not tasks:
    raise UserError(f"--audit {root}: no manifests there (expected <benchmark>/<task>/<scheme>.json "
                    "sidecars, as prepare-splits --out writes them).")
  from nossbench.builders import loading  # pylint: disable=import-outside-toplevel  (imports TensorFlow)
  from nossbench.splits import tfds_reader  # pylint: disable=import-outside-toplevel

  crossing = 0
  for task in tasks:
    builder = loading.load_builder(task, data_dir)
    audio = Audio(tfds_reader.iter_audio(builder), builder.info.features["audio"].sample_rate,
                  total=sum(split.num_examples for split in builder.info.splits.values()), task=task)
    findings = audit_task(root, task, audio)
    path = write(root, task, findings)
    crossing += len(findings)
    print(f"\n{task}: {len(findings)} findings crossing a split boundary -> {path}")
    if len(findings):
      print(counts(findings).to_string())
    unprinted = f": {', '.join(audio.unprinted[:5])}{' ...' if len(audio.unprinted) > 5 else ''}" \
        if audio.unprinted else ""
    print(f"{len(audio.identical)} pairs of identical audio and {len(audio.near)} near-duplicate pairs in the task "
          f"(any split); {len(audio.unprinted)} clips shorter than {MIN_SECONDS} s have no fingerprint "
          f"(identical audio checked only){unprinted}")
  if crossing and strict:
    raise UserError(f"--strict: {crossing} findings cross a split boundary (listed above and in each task's "
                    "audit.csv)")
