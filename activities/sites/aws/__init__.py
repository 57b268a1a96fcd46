"""The `aws` site provider: Elastic Disaster Recovery, EC2, Route 53 and SSM, and the Failback Client."""
