"""Where a `compute-embeddings` run's time goes beside the model: phases of one in-process run.

Runs the pipeline as the command does (plan, then run; DirectRunner in memory, empty cache) on a built
task, with timers around the model's `embed` calls (in EmbedBatch's model thread) and around the
construction of the graph, and prints, in wall seconds from the start of the run:
  graph         building the Beam graph (build_pipeline)
  start         from then to the first batch reaching the model: Beam's translation and worker start,
                the first window of clips read and batched
  model         the model's calls, summed (its thread runs while the pipeline reads, batches, pools,
                serializes and writes around it)
  batches       from the first model call to the last one returning
  end           after the last model call: the last outputs, the shuffle to the shard writers, the final
                shards, COMPLETE.json and removing the chunks
`embedding_throughput.py` measures the same pipeline against the bare model (the floor).

    .venv/bin/python benchmarks/pipeline_phases.py --data_dir /tmp/throughput/tfds [--model logmel] \
        [--layers logmel] [--repeats 3]
(run embedding_throughput.py once first: it builds the corpus under --work/tfds).
"""

import argparse
import shutil
import tempfile
import threading
import time


def phases(args) -> dict:
  from nossbench.embeddings import registry  # pylint: disable=import-outside-toplevel
  from nossbench.pipelines import compute_embeddings  # pylint: disable=import-outside-toplevel

  cache = tempfile.mkdtemp(prefix="phases-")
  argv = ["--task", args.task, "--data_dir", args.data_dir, "--model", args.model, "--cache", cache,
          "--batch_size", str(args.batch_size)] + (["--layers", args.layers] if args.layers else [])
  plan = compute_embeddings.plan(*compute_embeddings.parse_arguments(argv))
  model_class = type(registry.get_model(args.model, device="cpu"))
  marks, lock = {"model": 0.0}, threading.Lock()
  embed, build = model_class.embed, compute_embeddings.build_pipeline

  def timed_embed(self, waveforms, layers):
    start = time.perf_counter()
    marks.setdefault("first_call", start)
    try:
      return embed(self, waveforms, layers)
    finally:
      with lock:
        marks["last_return"] = time.perf_counter()
        marks["model"] += marks["last_return"] - start

  def timed_build(pipeline, p):
    build(pipeline, p)
    marks["built"] = time.perf_counter()

  model_class.embed, compute_embeddings.build_pipeline = timed_embed, timed_build
  try:
    start = time.perf_counter()
    compute_embeddings.run(plan)
    end = time.perf_counter()
  finally:
    model_class.embed, compute_embeddings.build_pipeline = embed, build
    shutil.rmtree(cache, ignore_errors=True)
  return {"total": end - start, "graph": marks["built"] - start, "start": marks["first_call"] - marks["built"],
          "model": marks["model"], "batches": marks["last_return"] - marks["first_call"],
          "end": end - marks["last_return"]}


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--data_dir", required=True)
  parser.add_argument("--task", default="noss/crema_d")
  parser.add_argument("--model", default="logmel")
  parser.add_argument("--layers", default="logmel")
  parser.add_argument("--batch_size", type=int, default=32)
  parser.add_argument("--repeats", type=int, default=3)
  args = parser.parse_args()
  for _ in range(args.repeats):
    measured = phases(args)
    print("  ".join(f"{name} {seconds:.2f} s" for name, seconds in measured.items()), flush=True)


if __name__ == "__main__":
  main()
