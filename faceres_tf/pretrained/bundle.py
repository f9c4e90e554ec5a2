"""Bundle a training run's EMA generator as a pretrained model.

    faceres-bundle --checkpoint RUN_DIR --name NAME [--info extra.json] [--output DIR] [--overwrite]

Writes ``NAME.json`` and ``NAME.weights.npz`` (float16) into the package's
``pretrained/`` folder (or ``--output``); ``load_pretrained(NAME)`` reads them.
The record holds the run's config, training steps, images seen, the training
wall time measured from ``metrics.jsonl``, the git commits of every
(re)start, the config changes made on resume (with their steps), and anything
in ``--info`` (e.g. measured quality numbers).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from faceres_tf import cli
from faceres_tf.errors import UserError


def training_record(run_dir: Path) -> dict:
    """Steps, images seen and wall time of a run, from its own records."""
    records = []
    metrics = run_dir / "metrics.jsonl"
    if metrics.is_file():
        for line in metrics.read_text().splitlines():
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                continue
            if "images_per_sec" in rec:
                records.append(rec)
    cfg = json.loads((run_dir / "config.json").read_text())
    batch = int(cfg["train"]["batch_size"])
    seconds, last = 0.0, 0
    for rec in sorted(records, key=lambda r: (r["time"])):
        step = int(rec["step"])
        if step > last and rec["images_per_sec"] > 0:
            # images/s is measured since the previous log line (or the restart).
            seconds += (step - last) * batch / rec["images_per_sec"]
            last = step
    info = {}
    run_info = run_dir / "run_info.json"
    if run_info.is_file():
        record = json.loads(run_info.read_text())
        sessions = record.get("sessions", [])
        info["git_commits"] = sorted({s.get("git_commit", "?") for s in sessions})
        info["restarts"] = max(0, len(sessions) - 1)
        # the schedule: every accepted mid-run change (e.g. alpha / lr) and its step
        info["config_history"] = [{"step": h["step"], "changes": h["changes"]}
                                  for h in record.get("config_history", [])]
        # the precision each session computed in (train.precision "auto" resolved)
        used = sorted({s["precision"] for s in sessions if "precision" in s})
        if used:
            info["precision"] = ", ".join(used)
        grown = [s["initialised_from"] for s in sessions if "initialised_from" in s]
        if grown:  # train.init_from: what the run started from (counts, not path lists)
            info["initialised_from"] = {k: v for k, v in grown[0].items() if not k.endswith("_paths")}
    info.setdefault("precision", cfg["train"].get("precision", "fp32"))  # runs before sessions recorded it
    info.update(train_steps=last, images_seen=last * batch,
                train_wall_seconds=round(seconds, 1), batch_size=batch)
    return info


def build_parser() -> cli.Parser:
    p = cli.make_parser(
        "faceres-bundle", __doc__.split("\n\n")[0],
        output=dict(default=None, help="output folder (default: the package's pretrained/)"),
        overwrite="replace an existing bundle of the same --name")
    p.add_argument("--checkpoint", required=True, help="training run directory")
    p.add_argument("--name", required=True, help="bundle name, e.g. rdfr_cpu128")
    p.add_argument("--info", default=None, help="JSON file merged into the record")
    return p


def bundle_command(args) -> int:
    """The command: loads the run's EMA generator, writes the bundle."""
    from faceres_tf import pretrained
    from faceres_tf.training import load_generator

    run_dir = Path(args.checkpoint)
    folder = Path(args.output) if args.output else Path(pretrained.__file__).parent
    if (folder / f"{args.name}.weights.npz").exists() and not args.overwrite:
        raise UserError(f"{folder / (args.name + '.weights.npz')} exists; pass --overwrite to replace it")
    try:
        generator, cfg = load_generator(run_dir)
    except (OSError, ValueError) as e:
        raise UserError(f"--checkpoint {run_dir}: {e}") from None
    info = training_record(run_dir)
    if args.info:
        info.update(json.loads(Path(args.info).read_text()))
    meta, weights = pretrained.save_bundle(generator, cfg, args.name, info, folder)
    size = weights.stat().st_size / 2**20
    print(f"wrote {meta} and {weights} ({size:.1f} MiB); step {info['train_steps']}, "
          f"{info['images_seen']} images")
    return 0


def main(argv=None) -> int:
    """``faceres-bundle`` / ``python -m faceres_tf.pretrained.bundle``; returns the exit status."""
    return cli.run(bundle_command, build_parser(), argv)


if __name__ == "__main__":
    sys.exit(main())
