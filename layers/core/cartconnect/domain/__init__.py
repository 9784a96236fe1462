"""Domain models: what an iClient and a connection are, independent of storage and HTTP."""
