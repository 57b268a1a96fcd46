"""Every side effect of Standby, one module per outside system."""
