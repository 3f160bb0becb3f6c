"""Backends that run jobs: small contracts the engine drives (see base.py)."""
