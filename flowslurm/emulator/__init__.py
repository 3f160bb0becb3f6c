"""A Mithril API emulator with sandbox instances: flowslurm's Mithril backend, tested without a cloud.

It serves the subset of shared/mithril/openapi.json that flowslurm uses, over real HTTP: paths,
query parameter and field names, FID prefixes, dollar strings ("$12.00") on bids and auctions,
integer cents on /v2/pricing/current, bare lists vs `{"data", "next_cursor"}` pages,
`{"detail": "..."}` errors and FastAPI's 422 `detail` lists, Idempotency-Key replay on POST.
Where the spec is silent (error texts, page order, what cancel does to instances) it behaves as
research/flow-compute.md observed, or as plausibly as it can. It shares no code with the client
(flowslurm.providers.mithril): a bug there must not be mirrored here.

Usage
-----
    python -m flowslurm.emulator --port 0 [--host 127.0.0.1] [--state-dir DIR] [--api-key KEY]
        [--allocate-after 1] [--boot-after 1] [--ssh-user NAME] [--manual-clock] [--seed 0]

When ready it prints exactly one line to stdout, `Mithril emulator listening on http://HOST:PORT`
(`--port 0` picks a free port). Point a client at it with MITHRIL_API_URL=http://HOST:PORT and
MITHRIL_API_KEY=KEY. The key is --api-key, else $MITHRIL_EMULATOR_API_KEY, else the documented
test key `fkey_emulatorTestKey0123456789abcdef` (state.DEFAULT_API_KEY). SIGTERM or SIGINT stops
every sandbox instance and exits 0. Without --state-dir a fresh temporary directory is used and
removed at exit.

The market runs on the real clock: an Open bid that is not outbid and fits the free capacity is
Allocated --allocate-after seconds after it became Open; its instances walk STATUS_NEW ->
CONFIRMED -> INITIALIZING -> STARTING -> RUNNING over --boot-after seconds. The seeded catalog
has projects "default" and "research", instance types a100-80gb.sxm.1x, a100-80gb.sxm.8x and
h100-80gb.sxm.8x, and markets in us-central1-a/b and eu-central1-a. With --manual-clock time
moves only through POST /_emulator/advance (tests in one process use server.EmulatorServer and
`state.advance()` instead).

Sandbox instances
-----------------
Each allocated instance gets DIR/instances/<inst_fid>/root, which is its FLOW_ROOT (the "/" of the
emulated machine, see the shared contract). Once it reaches STATUS_RUNNING it has:
- a real sshd of its own on a free loopback port, with its own host key; `ssh_destination` is
  "127.0.0.1:<port>", the login user is --ssh-user (default: the user running the emulator), the
  authorized keys are the public keys of the bid's launch_specification.ssh_keys (plus the
  project's `required` keys) as registered through /v2/ssh-keys; sessions get FLOW_ROOT=<root>,
  so `printf %s "$FLOW_ROOT"` over SSH tells a client where the machine's "/" is; SFTP works;
- the bid's startup_script, run with bash as the emulator's user in its own session, cwd <root>,
  environment PATH (the emulator's), HOME=<root>/home/<ssh user>, LANG=C.UTF-8, FLOW_ROOT=<root>,
  output to <root>/var/log/startup-console.log. It may run forever.
Everything in a sandbox belongs to the emulator's user, so run the emulator as the SSH user (the
default) unless that user can reach and write the state dir.
Cancelling the bid (DELETE /v2/spot/bids/{fid}) terminates its instances: each sandbox's
processes get SIGTERM, then SIGKILL after 2 s, and its sshd is stopped (by pid, never by name).
Pausing a bid (PATCH paused=true) stops its sandboxes the same way; unpausing gets new instances.

Admin endpoints (no auth, JSON bodies; never logged, never hit by faults)
------------------------------------------------------------------------
POST   /_emulator/faults     {"kind": "status"|"drop"|"delay", "times": 1, "method"?: "POST",
                              "path"?: "/v2/spot/bids" (a prefix), "status"?: 503, "retry_after"?: "7",
                              "detail"?: "...", "after_handling"?: false, "seconds"?: 2.0}
                             status: answer with that status and {"detail"}, unprocessed;
                             drop: close the connection unanswered (after_handling: apply the request
                             first, then lose the answer); delay: hold the request `seconds` first.
DELETE /_emulator/faults     forget pending faults
POST   /_emulator/preempt    {"instance": fid} or {"bid": fid}, "grace_s"?: 2 — the bid's instances go
                             STATUS_PREEMPTING and get <root>/opt/mithril/MITHRIL_SIGNAL.yml
                             (`instance_status: STATUS_PREEMPTING`, `end_time: <UTC ISO 8601>`); after
                             the grace their sandboxes are killed, they are STATUS_PREEMPTED and the
                             bid is Open again: a later allocation gives it NEW instances that run the
                             startup script from scratch. Bids are all or nothing: naming one instance
                             preempts its whole bid.
POST   /_emulator/capacity   {"instance_type": fid or name, "region": r, "capacity": n,
                              "price_cents"?: n, "minimum_cents"?: n} — how many instances the market
                             can run from now on (0 keeps bids Open; placing them still succeeds)
POST   /_emulator/allocation {"paused": true|false} — stop/resume allocating Open bids
POST   /_emulator/advance    {"steps": n} — only with --manual-clock
GET    /_emulator/requests   the API request log: method, path, query, idempotency_key, body, status
                             (null: dropped); never the Authorization header
DELETE /_emulator/requests   clear the log
GET    /_emulator/state      bids, instances (with sandbox dir, ports, pids, script exit), markets,
                             pending faults and internal errors

Tests use flowslurm.emulator.testing.Emulator, which runs the program as a subprocess.
"""
