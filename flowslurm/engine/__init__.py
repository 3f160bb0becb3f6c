"""The engine: job model, ledger, scheduler and the submit/cancel operations every front door shares."""
