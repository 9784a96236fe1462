"""The AmeriCommerce provider adapter (docs/provider.md): `signing` (the signature recipes),
`expiry` (`expires`), `urls` (the authorize URL), `errors`, `transport` (connections to a checked
address only) and `americommerce` (the HTTP client).

Import names from the module that defines them. This package imports nothing itself, so the
authorize redirect's `cartconnect.provider.urls` does not bring the HTTP client (httpx2) onto that
Lambda's cold path.
"""
