"""Data-access and service adapters: DynamoDB, Secrets Manager, KMS, EventBridge, the provider."""
