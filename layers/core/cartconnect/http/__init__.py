"""HTTP glue shared by the handlers: problem+json, request schemas, pagination cursors."""
