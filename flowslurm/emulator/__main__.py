"""`python -m flowslurm.emulator`: run the Mithril emulator until SIGTERM or SIGINT.

The ready line is the only thing written to stdout, so a parent can wait for it and read the URL;
everything else (errors, the temporary state dir) goes to stderr.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import sys
import tempfile
import threading
from pathlib import Path

from flowslurm.emulator.state import DEFAULT_API_KEY


def _seconds(text: str) -> float:
    value = float(text)
    if value < 0:
        raise argparse.ArgumentTypeError("must be >= 0")
    return value


def parser() -> argparse.ArgumentParser:
    import flowslurm.emulator as package

    doc = package.__doc__ or ""
    p = argparse.ArgumentParser(
        prog="python -m flowslurm.emulator",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Serve an emulated Mithril API (spot bids, instances, SSH keys, volumes, API keys) with\n"
                    "sandbox instances: each running instance gets a directory standing in for its filesystem\n"
                    "(its FLOW_ROOT), a real sshd of its own and the bid's startup script.\n\n"
                    "When ready it prints one line: 'Mithril emulator listening on http://HOST:PORT'.\n"
                    "SIGTERM/SIGINT stop every sandbox and exit 0.",
        epilog=doc[doc.index("The market runs"):doc.index("Tests use")].rstrip(),
    )
    p.add_argument("--port", type=int, default=0, help="TCP port to listen on; 0 (default) picks a free one")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--state-dir", type=Path, default=None,
                   help="where sandbox instances live (DIR/instances/<fid>/root); default: a fresh temporary "
                        "directory, removed at exit")
    p.add_argument("--api-key", default=None,
                   help="the bearer key to accept; default $MITHRIL_EMULATOR_API_KEY, else the documented test "
                        f"key {DEFAULT_API_KEY}")
    p.add_argument("--allocate-after", type=_seconds, default=1.0, metavar="SECONDS",
                   help="how long an Open bid that can be served waits before it is Allocated (default 1)")
    p.add_argument("--boot-after", type=_seconds, default=1.0, metavar="SECONDS",
                   help="how long an instance takes from STATUS_NEW to STATUS_RUNNING (default 1)")
    p.add_argument("--ssh-user", default=None,
                   help="the user that may log in to sandbox instances (default: the user running the emulator)")
    p.add_argument("--manual-clock", action="store_true",
                   help="time moves only through POST /_emulator/advance {\"steps\": n}")
    p.add_argument("--seed", type=int, default=0, help="seed for generated FIDs (default 0)")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    from flowslurm.emulator.server import EmulatorServer

    api_key = args.api_key or os.environ.get("MITHRIL_EMULATOR_API_KEY") or DEFAULT_API_KEY
    temporary = args.state_dir is None
    state_dir = Path(tempfile.mkdtemp(prefix="mithril-emulator-")) if temporary else args.state_dir.resolve()
    state_dir.mkdir(parents=True, exist_ok=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    try:
        server = EmulatorServer(api_key, args.seed, host=args.host, port=args.port, manual_clock=args.manual_clock,
                                allocate_after=args.allocate_after, boot_after=args.boot_after,
                                state_dir=state_dir, ssh_user=args.ssh_user).start()
    except OSError as exc:
        print(f"mithril emulator: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1
    if temporary:
        print(f"mithril emulator: state in {state_dir}", file=sys.stderr)
    print(f"Mithril emulator listening on {server.url}", flush=True)
    try:
        while not stop.wait(0.5):
            pass
    finally:
        server.stop()
        for error in server.state.internal_errors:
            print(f"mithril emulator: internal error:\n{error}", file=sys.stderr)
        if temporary:
            shutil.rmtree(state_dir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
