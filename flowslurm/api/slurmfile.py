"""`flow run job.slurm`: the script goes through sbatch itself, so it is read exactly as sbatch
reads it (#SBATCH and #FLOW lines, SBATCH_* variables, arrays, dependencies, output patterns).

Flow's options become what sbatch understands: `--name` is `-J`, `--max-run-time` is `-t`, an
instance type is `-p mithril --gpus-per-node=FAMILY:N`, `--env` is the submitter's environment
(exported, as sbatch exports everything by default). Settings sbatch has no flag for (a Mithril
instance type name, price cap, image, no code upload) are written as `#FLOW` lines right after the
script's first line, and the script is then given to sbatch on its standard input.
"""

from __future__ import annotations

import io
import math
import os

from flowslurm.api.errors import ValidationError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = ["SLURM_SUFFIXES", "is_slurm_file", "submit_slurm"]

SLURM_SUFFIXES = (".slurm", ".sbatch")


def is_slurm_file(path: str) -> bool:
    return path.endswith(SLURM_SUFFIXES) and os.path.isfile(path)


def _inject(text: str, lines: list[str]) -> str:
    if not lines:
        return text
    first, nl, rest = text.partition("\n")
    if first.startswith("#!"):
        return first + "\n" + "\n".join(lines) + "\n" + rest
    return "\n".join(lines) + "\n" + text


def submit_slurm(path: str, *, instance_type: str | None = None, name: str | None = None,
                 env: Mapping[str, str] | None = None, max_run_time_hours: float | None = None,
                 max_price_per_hour: float | None = None, image: str | None = None, upload_code: bool | None = None,
                 dry_run: bool = False, cwd: str | None = None,
                 environ: Mapping[str, str] | None = None) -> tuple[int | None, str]:
    """Submit a batch script through sbatch: (job id, or None for a dry run; sbatch's messages)."""
    from flowslurm.api.cloud import translated
    from flowslurm.api.instance_types import parse_instance_type
    from flowslurm.cli import sbatch
    from flowslurm.cli.common import Env

    cwd = os.path.abspath(cwd or os.getcwd())
    full = path if os.path.isabs(path) else os.path.join(cwd, path)
    argv = ["--parsable"]
    flow_lines: list[str] = []
    if name:
        argv += ["-J", name]
    if max_run_time_hours is not None:
        if max_run_time_hours <= 0:
            raise ValidationError(f"max run time {max_run_time_hours:g} h is not positive")
        argv += ["-t", str(max(1, math.ceil(max_run_time_hours * 60 - 1e-9)))]
    if instance_type:
        try:
            request = parse_instance_type(instance_type)
        except ValueError as exc:
            from flowslurm.api.instance_types import suggest, valid_names_hint

            close = suggest(instance_type)
            raise ValidationError(str(exc), ([f"Did you mean {' or '.join(close)}?"] if close else [])
                                  + [valid_names_hint()]) from None
        argv += ["-p", "mithril"]
        if request.api_name:
            flow_lines.append(f"#FLOW instance-type={request.api_name}")
        else:
            argv.append(f"--gpus-per-node={request.gpus_per_node}")
    if max_price_per_hour is not None:
        flow_lines.append(f"#FLOW max-price-per-hour={max_price_per_hour:g}")
    if image:
        flow_lines.append(f"#FLOW image={image}")
    if upload_code is False:
        flow_lines.append("#FLOW upload-code=no")
    if dry_run:
        argv.append("--test-only")
    environment = dict(os.environ if environ is None else environ)
    environment.update(env or {})
    stdin = None
    if flow_lines:
        try:
            with open(full, encoding="utf-8", errors="surrogateescape") as fh:
                text = fh.read()
        except OSError as exc:
            raise ValidationError(f"cannot read {path}: {exc.strerror}") from None
        stdin = io.StringIO(_inject(text, flow_lines))
        if not name:
            argv += ["-J", os.path.basename(path)]
    else:
        argv.append(full)
    out, err = io.StringIO(), io.StringIO()
    with translated():
        code = sbatch.run(argv, Env(stdout=out, stderr=err, stdin=stdin or io.StringIO(""), environ=environment,
                                    cwd=cwd))
    if code != 0:
        from flowslurm.api.errors import SubmissionError

        raise SubmissionError(err.getvalue().strip() or f"sbatch refused {path}")
    if dry_run:
        return None, err.getvalue()
    job_id = int(out.getvalue().strip().split(";")[0])
    return job_id, err.getvalue()
