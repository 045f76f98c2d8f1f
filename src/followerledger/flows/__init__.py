"""Thin Prefect flows: they orchestrate calls into the library and nothing else.

Imported lazily (the `query` path never loads Prefect). The repository's top-level `flows/`
links here, so `prefect.yaml` entrypoints read `flows/<name>.py:<flow>`.
"""
