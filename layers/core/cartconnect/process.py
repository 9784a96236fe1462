"""What a Lambda execution environment keeps from one invocation to the next, and one call that
forgets it all.

The core package caches per process what is costly to build and safe to reuse: the settings read
from the environment, the AWS clients, the tokens' plaintext data keys, iClient secret values,
stores' call limits, the provider's HTTP connection pool. A new Lambda environment starts without
any of it, and Lambda never calls `reset_process_state`: it is for the places that run many
environments' worth of work in one process (the local stack, tests, benchmarks), when they change
the environment variables or want what a cold start sees.
"""

from __future__ import annotations


def reset_process_state() -> None:
    """Forget every per-process cache of the core package, as a new Lambda environment starts without:

    * the settings (`settings.get_settings`: os.environ is read again on the next call);
    * the AWS clients (`aws.client`: rebuilt with the endpoint and credentials set now);
    * the tokens' data keys (`token_vault`: the next seal or open asks KMS);
    * iClient secret values (`iclient_secret`: the next read asks Secrets Manager);
    * the call limits stores were last seen with (`store_rate_limiter`);
    * the provider's shared HTTP client and its connections (`americommerce.shared_http_client`).

    Not caches, so kept: `runtime.current()` (what tests set time and waits to), the store addresses
    pinned in the calling context (`hosts.pin`: per context, not per process), the Powertools logger
    and metrics (configured when imported).

    The modules are imported when this is called, not when this module is: the local stack imports
    it before it sets the environment that some of them read as they load (Powertools' logger).
    """
    from cartconnect import aws, settings
    from cartconnect.adapters import iclient_secret, store_rate_limiter, token_vault
    from cartconnect.provider import americommerce

    settings.get_settings.cache_clear()
    aws.client.cache_clear()
    token_vault.forget_keys()
    iclient_secret.forget_cache()
    store_rate_limiter.forget_known_limits()
    americommerce.forget_shared_http_client()
