"""Dev-only tooling: the local stack, the sandbox store and the cartconnect-dev CLI. Never shipped."""
