"""What is known of a store's rate limit, shared by every Lambda (adapters/store_rate_limiter.py)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class StoreLimits:
    calls_per_10_seconds: int | None  # learned from X-AC-Call-Limit; None until an answer said it
    learned_at_ms: int | None
    last_rate_limited_at_ms: int | None
    blocked_until_ms: int | None  # nobody calls the store before this (a 429's Retry-After + margin)
