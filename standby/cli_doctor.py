"""`standby doctor`: what each site of a runbook lets this worker do (filled by the provider work)."""
