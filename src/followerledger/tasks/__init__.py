"""Prefect tasks: each a thin call into the library, used by the flows in `flows/`."""
