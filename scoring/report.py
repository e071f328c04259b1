"""report.json (every number with how it was made) and report.md (laid out like the paper's tables)."""

import json

from etils import epath


def _percent(value: float) -> str:
  return f"{100 * value:.1f}"


def markdown(report: dict) -> str:
  task, results = report["task"], {r["protocol"]: r for r in report["results"]}
  lines = [f"# Scores for {report['submission']}", "",
           f"{report['n_examples']} examples, {report['dims']} dimensions, seed {report['seed']}.", "",
           f"| accuracy (%) | {task} |", "|---|---|"]
  if "canonical" in results:
    r = results["canonical"]
    lines.append(f"| canonical split (test) | {_percent(r['accuracy'])} |")
  if "intra_speaker" in results:
    r = results["intra_speaker"]
    lines.append(f"| intra-speaker | {_percent(r['accuracy'])} ± {_percent(r['accuracy_std'])} |")
  lines += ["", "## How each number was made", ""]
  if "canonical" in results:
    r = results["canonical"]
    lines.append(
        f"- canonical: logistic regression on standardized embeddings, C={r['C']:g} chosen on validation "
        f"(validation accuracy {_percent(r['validation_accuracy'])}%), fit on {r['n_train']} train examples, "
        f"tested on {r['n_test']}; balanced accuracy {_percent(r['balanced_accuracy'])}%, majority-class "
        f"chance {_percent(r['chance_accuracy'])}%.")
  if "intra_speaker" in results:
    r = results["intra_speaker"]
    skipped = r["skipped_single_class_train"]
    lines.append(
        f"- intra-speaker: one logistic regression (C={r['C']:g}) per speaker, mean over {r['speakers']} "
        f"speakers, mean ± std over {r['repeats']} repeats"
        + (f"; {len(skipped)} speakers skipped in some repeats (one class in train): {', '.join(skipped)}"
           if skipped else "") + ".")
  for warning in report["warnings"]:
    lines.append(f"- warning: {warning}")
  return "\n".join(lines) + "\n"


def write(report: dict, out_dir) -> tuple[epath.Path, epath.Path]:
  out_dir = epath.Path(out_dir)
  out_dir.mkdir(parents=True, exist_ok=True)
  json_path, md_path = out_dir / "report.json", out_dir / "report.md"
  json_path.write_text(json.dumps(report, indent=2, sort_keys=True) + "\n")
  md_path.write_text(markdown(report))
  return json_path, md_path
