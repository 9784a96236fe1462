"""cartconnect core: domain models, use cases and AWS/provider adapters shared by every Lambda."""
