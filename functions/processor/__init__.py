"""The processor function: SQS priority queues → DynamoDB (once) → delivered log line."""
