"""Adapters to outside services, shared by research and the daemon.

Unlike the rest of :mod:`shared` (the pure core), modules here talk to vendors; they still do
no I/O at import (vendor libraries are imported inside the calls) and import neither research
nor the daemon. The import-linter contracts in ``pyproject.toml`` enforce both.
"""
