"""`.parquet` submissions: a string column `example_id` and a list-of-floats column `embedding`.

A row's embedding is a list of D floats, or a list of frames (lists of D floats, as many as the clip
has), which are mean-pooled. Whole columns are converted at once through Arrow, never row by row.

Untrusted: before any column is read, the footer's counts bound what reading can allocate. Dictionary
and run-length encodings store a million equal floats in a few bytes, so the footer's byte sizes do not
bound the decoded size; its value counts do: embedding values x their width (4 or 8 bytes), plus the
other columns' unencoded sizes, must stay under --max-bytes and under MAX_RATIO x the file's size
(float embeddings written by pandas/pyarrow decode to ~1-2x their file size), and the values per row
(the dimensions, for one vector per row) under --max-dims. The ids are read dictionary-encoded first, so
a long id repeated in every row is refused before it is expanded.
"""

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from etils import epath

from nossbench import UserError
from nossbench.scoring.problems import MAX_ID_CHARS, MAX_RATIO, InvalidSubmission, Problem, Raw, about

FIX = ("write it with pandas: pd.DataFrame({'example_id': ids, 'embedding': list(vectors)})"
       ".to_parquet(path)")
WIDTHS = {"FLOAT": 4, "DOUBLE": 8, "INT32": 4, "INT64": 8, "INT96": 12, "BOOLEAN": 1}


def _footer_problems(path, metadata, file_bytes: int, max_bytes: int, max_dims: int,
                     frames: bool) -> list[Problem]:
  """What the footer declares, checked before any column is read (see the module's docstring)."""
  values, decoded = 0, 0
  for i in range(metadata.num_row_groups):
    group = metadata.row_group(i)
    for j in range(group.num_columns):
      chunk = group.column(j)
      if chunk.path_in_schema.split(".")[0] == "embedding" and chunk.physical_type in WIDTHS:
        values += chunk.num_values
        decoded += chunk.num_values * WIDTHS[chunk.physical_type] + 8 * group.num_rows  # values + offsets
      else:
        decoded += chunk.total_uncompressed_size
  if decoded > max_bytes:
    raise UserError(f"{path}: its columns take {decoded / 2**30:.2f} GiB decoded, over the "
                    f"{max_bytes / 2**30:.2f} GiB limit (raise it with --max-bytes if that is expected)")
  problems = []
  if decoded > MAX_RATIO * file_bytes:
    problems.append(Problem("compression_ratio", f"the footer declares {decoded:,} bytes of columns in a file of "
                                                 f"{file_bytes:,} (over {MAX_RATIO}:1, as a decompression bomb does; "
                                                 "embeddings decode to a few times their file size). If the file is "
                                                 "genuine, write it with .to_parquet(path, compression=None, "
                                                 "use_dictionary=False)"))
  if not frames and metadata.num_rows and values / metadata.num_rows > max_dims:
    problems.append(Problem("too_many_dims", f"its rows hold {values / metadata.num_rows:,.0f} values each, more "
                                             f"than the {max_dims:,} dimensions any embedding model gives (pass "
                                             "--max-dims if they really are embeddings)"))
  return problems


def _read_ids(parquet: pq.ParquetFile, path) -> pa.ChunkedArray:
  """The example_id column, decoded only once its longest value is known to be an id's length."""
  column = parquet.read(columns=["example_id"]).column("example_id")
  if pa.types.is_dictionary(column.type):
    dictionaries = [chunk.dictionary for chunk in column.chunks]
    if all(pa.types.is_string(d.type) or pa.types.is_large_string(d.type) for d in dictionaries):
      longest = max((pc.max(pc.binary_length(d)).as_py() or 0 for d in dictionaries), default=0)
      if longest > 4 * MAX_ID_CHARS:
        raise InvalidSubmission(path, [Problem("ids_too_long", f"an example_id is {longest:,} bytes long; task "
                                                               f"ids are short names (at most {MAX_ID_CHARS})")])
    column = pa.chunked_array([chunk.dictionary_decode() for chunk in column.chunks], column.type.value_type)
  return column


def _lists(column: pa.ChunkedArray):
  """The list type's values and per-row lengths, whatever the list flavour (list, large, fixed-size)."""
  array = column.combine_chunks()
  if pa.types.is_fixed_size_list(array.type):
    array = array.cast(pa.list_(array.type.value_type))
  return array, pc.list_value_length(array).to_numpy(zero_copy_only=False)


def _float_values(values: pa.Array) -> np.ndarray | None:
  if pa.types.is_floating(values.type):
    return values.to_numpy(zero_copy_only=False)
  return None


def read(path, max_bytes: int, max_dims: int) -> Raw:
  path = epath.Path(path)
  try:
    with path.open("rb") as f:
      parquet = pq.ParquetFile(f, read_dictionary=["example_id"])
      missing = [c for c in ("example_id", "embedding") if c not in parquet.schema_arrow.names]
      if missing:
        raise InvalidSubmission(path, [Problem("missing_column", f"missing column {c!r}; it has "
                                               f"{parquet.schema_arrow.names}; {FIX}") for c in missing])
      embedding_type = parquet.schema_arrow.field("embedding").type
      frames = (pa.types.is_list(embedding_type) or pa.types.is_large_list(embedding_type)) and \
          pa.types.is_nested(embedding_type.value_type)
      problems = _footer_problems(path, parquet.metadata, path.stat().length, max_bytes, max_dims, frames)
      if problems:
        raise InvalidSubmission(path, problems)
      ids_column = _read_ids(parquet, path)
      column = parquet.read(columns=["embedding"]).column("embedding")
  except (pa.ArrowException, OSError, ValueError) as error:
    raise UserError(f"{path}: not a readable Parquet file ({error}); {FIX}") from error

  if not (pa.types.is_string(ids_column.type) or pa.types.is_large_string(ids_column.type)):
    raise InvalidSubmission(path, [Problem("ids_not_strings", f"example_id must hold strings, got {ids_column.type}")])
  ids = [("" if i is None else i) for i in ids_column.to_pylist()]
  ids = np.array(ids, dtype=str) if ids else np.array([], dtype=str)
  problems = []
  null_ids = np.flatnonzero(ids_column.is_null().to_numpy(zero_copy_only=False))
  if len(null_ids):
    problems.append(Problem("null_ids", f"{len(null_ids)} rows have no example_id (null), the first at row "
                                        f"{null_ids[0]}", len(null_ids)))
  if not (pa.types.is_list(column.type) or pa.types.is_large_list(column.type)
          or pa.types.is_fixed_size_list(column.type)):
    raise InvalidSubmission(path, problems + [Problem("wrong_type", f"embedding must be a list of floats per "
                                                      f"row, got {column.type}; {FIX}")])
  nulls = np.flatnonzero(column.is_null().to_numpy(zero_copy_only=False))
  if len(nulls):
    problems.append(about("null_embeddings", "rows have no embedding (null)", ids[nulls]))
  if problems:
    return Raw(ids, None, problems)
  array, lengths = _lists(column)
  empty = np.flatnonzero(lengths == 0)
  if len(empty):
    problems.append(about("empty_embeddings", "rows have an empty embedding (no values or no frames)", ids[empty]))
  value_type = array.type.value_type
  frames = pa.types.is_list(value_type) or pa.types.is_large_list(value_type) or pa.types.is_fixed_size_list(value_type)
  if frames:  # a list of frames per row
    inner, inner_lengths = _lists(pa.chunked_array([array.flatten()]))
    values = _float_values(inner.flatten())
    dims = set(inner_lengths.tolist())
  else:
    values = _float_values(array.flatten())
    dims = set(lengths[lengths > 0].tolist())
  if values is None:
    problems.append(Problem("not_float", f"embedding values must be floating point, got {array.type}; {FIX}"))
  if len(dims) > 1:
    counts = {d: int(np.sum((inner_lengths if frames else lengths) == d)) for d in sorted(dims)}
    listed = ", ".join(f"{n} of {d}" for d, n in counts.items())
    problems.append(Problem("ragged", f"embeddings have different dimensions ({listed}); every row needs the same "
                                      "number of values"))
  if problems:
    return Raw(ids, None, problems)
  d = dims.pop() if dims else 0
  if d > max_dims:
    return Raw(ids, None, [Problem("too_many_dims", f"embeddings have {d:,} dimensions, more than the {max_dims:,} "
                                                    "any embedding model gives (pass --max-dims if they really are "
                                                    "embeddings)")])
  if not frames:
    embedding = values.reshape(len(ids), d) if len(ids) else np.zeros((0, d), np.float32)
    return Raw(ids, embedding)
  # Mean over each row's frames: sums over contiguous runs of frames, divided by their count.
  frame_values = values.reshape(-1, d).astype(np.float64)
  starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
  pooled = (np.add.reduceat(frame_values, starts, axis=0) / lengths[:, None]).astype(values.dtype)
  return Raw(ids, pooled, frames=True, notes=[f"frame-level input ({int(lengths.sum())} frames) mean-pooled "
                                              "over each example's frames"])
