"""The authorization flow, one module per Lambda that runs a step: `links` (management: mints the
one-time authorize links), `redirect` (authorize: the link's page and the admin's POST), `callback`
(callback: the store's answer). `flow` holds what the steps share."""
