"""`.parquet` submissions: a string column `example_id` and a list-of-floats column `embedding`.

A row's embedding is a list of D floats, or a list of frames (lists of D floats, as many as the clip
has), which are mean-pooled. The unpacked size the file's footer declares is checked against the limit
before any column is read; whole columns are converted at once through Arrow, never row by row.
"""

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from etils import epath

from nossbench import UserError
from nossbench.scoring.problems import InvalidSubmission, Problem, Raw, about

FIX = ("write it with pandas: pd.DataFrame({'example_id': ids, 'embedding': list(vectors)})"
       ".to_parquet(path)")


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


def read(path, max_bytes: int) -> Raw:
  path = epath.Path(path)
  try:
    with path.open("rb") as f:
      parquet = pq.ParquetFile(f)
      size = sum(parquet.metadata.row_group(i).total_byte_size for i in range(parquet.metadata.num_row_groups))
      missing = [c for c in ("example_id", "embedding") if c not in parquet.schema_arrow.names]
      if missing:
        raise InvalidSubmission(path, [Problem("missing_column", f"missing column {c!r}; it has "
                                               f"{parquet.schema_arrow.names}; {FIX}") for c in missing])
      if size > max_bytes:
        raise UserError(f"{path}: its columns take {size / 2**30:.2f} GiB unpacked, over the "
                        f"{max_bytes / 2**30:.2f} GiB limit (raise it with --max-bytes if that is expected)")
      table = parquet.read(columns=["example_id", "embedding"])
  except (pa.ArrowException, OSError) as error:
    raise UserError(f"{path}: not a readable Parquet file ({error}); {FIX}") from error

  ids_column, column = table.column("example_id"), table.column("embedding")
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
  if not frames:
    embedding = values.reshape(len(ids), d) if len(ids) else np.zeros((0, d), np.float32)
    return Raw(ids, embedding)
  # Mean over each row's frames: sums over contiguous runs of frames, divided by their count.
  frame_values = values.reshape(-1, d).astype(np.float64)
  starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
  pooled = (np.add.reduceat(frame_values, starts, axis=0) / lengths[:, None]).astype(values.dtype)
  return Raw(ids, pooled, frames=True, notes=[f"frame-level input ({int(lengths.sum())} frames) mean-pooled "
                                              "over each example's frames"])
