"""Data-access and service adapters: DynamoDB, KMS (envelope sealing), SQS, EventBridge."""
