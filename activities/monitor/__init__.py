"""The protect monitor's side effects at a site: app health and metrics, heartbeats, witnesses, alerts."""
