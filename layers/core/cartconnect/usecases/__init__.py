"""Use cases: one function per thing a caller can do, composed from domain models and adapters."""
