"""The HARES protocol's probe: one linear layer trained with minibatches, for tasks too large for the NOSS grid.

At AudioSet's size (1.9 M clips x 527 labels) the NOSS grid's forests, LDA and full-batch lbfgs logistic
regressions take days and copies of the matrix. Here a PyTorch linear layer is trained with Adam on
minibatches (softmax cross-entropy, or per-label sigmoid cross-entropy for multi-label tasks), on the GPU
when there is one:
- the embeddings are read in chunks of rows (`chunk_bytes`), so a memory-mapped matrix is never loaded
  whole; each epoch visits the chunks in a seeded order and shuffles the rows within each chunk;
- features are standardised with the train rows' mean and standard deviation (computed chunk by chunk);
- after every epoch the validation mAP (multi-label) or accuracy (single-label) is measured, the best
  weights are kept, and training stops after `patience` epochs without improvement;
- the weights start at zero and the only randomness is the seeded shuffle, and on CPU PyTorch runs in its
  deterministic mode: the same data, seed and thread count give the same numbers bit for bit.
"""

import contextlib
import dataclasses

import numpy as np

from nossbench import UserError
from nossbench.scoring import metrics

NAME = "linear"
AUTO_ABOVE = 100_000  # examples: larger HARES tasks (AudioSet, NSynth, VoxCeleb) get this probe by default


def choose(task: str, n_examples: int, requested: str = "auto", above: int = AUTO_ABOVE) -> tuple[str, str]:
  """("grid" or NAME, why): NOSS tasks keep the NOSS grid; other tasks above `above` examples get this probe."""
  if requested != "auto":
    return requested, f"--probe {requested}"
  if task.startswith("noss/"):
    return "grid", "a NOSS task: the NOSS probe grid"
  if n_examples > above:
    return NAME, f"{n_examples:,} examples, over the {above:,} above which the linear probe replaces the NOSS grid"
  return "grid", f"{n_examples:,} examples, at most the {above:,} up to which the NOSS grid is used"


@dataclasses.dataclass(frozen=True)
class Settings:
  batch_size: int = 1024
  learning_rate: float = 1e-3
  max_epochs: int = 50
  patience: int = 3  # epochs without a better validation score before stopping
  chunk_bytes: int = 64 * 2**20  # embedding rows read from the (memory-mapped) matrix at a time
  device: str = "auto"  # auto: a GPU when PyTorch sees one
  threads: int | None = None  # CPU threads (None: PyTorch's default); results repeat for a given count


@dataclasses.dataclass
class Result:
  scores: dict  # name -> [n, n_classes] float32 probabilities
  predictions: dict  # name -> [n] class codes (single-label only)
  info: dict  # how training went: epochs, best epoch, validation history, settings


def _chunks(rows: np.ndarray, dims: int, chunk_bytes: int) -> list[np.ndarray]:
  per_chunk = max(1, chunk_bytes // (4 * dims))
  return [rows[i:i + per_chunk] for i in range(0, len(rows), per_chunk)]


def _read(x, rows: np.ndarray) -> np.ndarray:
  """Rows of x as float32; callers pass ascending positions, so a memory map is read front to back."""
  return np.asarray(x[rows], dtype=np.float32)


def _standardisation(x, rows: np.ndarray, chunk_bytes: int) -> tuple[np.ndarray, np.ndarray]:
  total = np.zeros(x.shape[1])
  squares = np.zeros(x.shape[1])
  for chunk in _chunks(rows, x.shape[1], chunk_bytes):
    block = _read(x, chunk)
    total += block.sum(axis=0, dtype=np.float64)
    squares += np.square(block, dtype=np.float64).sum(axis=0)
  mean = total / len(rows)
  std = np.sqrt(np.maximum(squares / len(rows) - np.square(mean), 0))
  std[std == 0] = 1  # a constant dimension is left as it is
  return mean.astype(np.float32), std.astype(np.float32)


@contextlib.contextmanager
def _deterministic(torch, device: str, threads: int | None):
  """PyTorch's deterministic mode (CPU) and thread count for the duration of one fit, then restored."""
  before = torch.are_deterministic_algorithms_enabled(), torch.get_num_threads()
  torch.use_deterministic_algorithms(device == "cpu")
  if threads:
    torch.set_num_threads(threads)
  try:
    yield
  finally:
    torch.use_deterministic_algorithms(before[0])
    torch.set_num_threads(before[1])


def _device(torch, requested: str) -> str:
  if requested == "auto":
    return "cuda" if torch.cuda.is_available() else "cpu"
  return requested


def fit(x, y: np.ndarray, train: np.ndarray, validation: np.ndarray, evaluate: tuple, n_classes: int,
        multilabel: bool, seed: int, settings: Settings = Settings()) -> Result:
  """Trains on the `train` rows of x [N, D] (any array with row indexing: an np.memmap is read in chunks),
  stops early on the `validation` rows, and scores the `evaluate` ((name, rows), ...) with the best epoch.

  y is [N] class codes, or [N, n_classes] 0/1 for multi-label tasks.
  """
  try:
    import torch  # pylint: disable=import-outside-toplevel  (score-submission --help must not import it)
  except ImportError as error:
    raise UserError("the linear probe needs PyTorch, which is not installed: pip install 'nossbench[torch]' "
                    "(or score with --probe grid)") from error

  if not len(validation):
    raise ValueError("the linear probe needs validation rows for early stopping")
  train, validation = np.sort(train), np.sort(validation)
  device = _device(torch, settings.device)
  rng = np.random.RandomState(seed)
  with _deterministic(torch, device, settings.threads):
    mean, std = (torch.from_numpy(a).to(device) for a in _standardisation(x, train, settings.chunk_bytes))
    layer = torch.nn.Linear(x.shape[1], n_classes).to(device)
    torch.nn.init.zeros_(layer.weight)
    torch.nn.init.zeros_(layer.bias)
    optimizer = torch.optim.Adam(layer.parameters(), lr=settings.learning_rate)
    loss_of = torch.nn.BCEWithLogitsLoss() if multilabel else torch.nn.CrossEntropyLoss()

    def probabilities(rows: np.ndarray) -> np.ndarray:
      out = np.empty((len(rows), n_classes), np.float32)
      done = 0
      with torch.no_grad():
        for chunk in _chunks(rows, x.shape[1], settings.chunk_bytes):
          logits = layer((torch.from_numpy(_read(x, chunk)).to(device) - mean) / std)
          out[done:done + len(chunk)] = (torch.sigmoid(logits) if multilabel else torch.softmax(logits, 1)).cpu()
          done += len(chunk)
      return out

    def validation_score() -> float:
      scores = probabilities(validation)
      if multilabel:
        return metrics.mean_average_precision(y[validation], scores)
      return float(np.mean(scores.argmax(axis=1) == y[validation]))

    chunks = _chunks(train, x.shape[1], settings.chunk_bytes)
    history, best, best_state, stale = [], -np.inf, None, 0
    for _ in range(settings.max_epochs):
      for c in rng.permutation(len(chunks)):
        block = torch.from_numpy(_read(x, chunks[c])).to(device)
        target = torch.from_numpy(np.asarray(y[chunks[c]], np.float32 if multilabel else np.int64)).to(device)
        order = torch.from_numpy(rng.permutation(len(chunks[c]))).to(device)
        for start in range(0, len(order), settings.batch_size):
          batch = order[start:start + settings.batch_size]
          optimizer.zero_grad()
          loss_of(layer((block[batch] - mean) / std), target[batch]).backward()
          optimizer.step()
        del block, target
      score = validation_score()
      history.append(round(float(score), 6))
      if score > best:
        best, stale = score, 0
        best_state = {k: v.detach().clone() for k, v in layer.state_dict().items()}
      else:
        stale += 1
        if stale >= settings.patience:
          break
    layer.load_state_dict(best_state)
    scores = {name: probabilities(np.asarray(rows)) for name, rows in evaluate}
  predictions = {} if multilabel else {name: s.argmax(axis=1) for name, s in scores.items()}
  info = {"epochs": len(history), "best_epoch": int(np.argmax(history)) + 1,
          "stopped_early": len(history) < settings.max_epochs,
          "validation_metric": "map" if multilabel else "accuracy", "validation_history": history,
          "device": device, "batch_size": settings.batch_size, "learning_rate": settings.learning_rate,
          "max_epochs": settings.max_epochs, "patience": settings.patience,
          "standardised": "train mean and standard deviation"}
  return Result(scores, predictions, info)
