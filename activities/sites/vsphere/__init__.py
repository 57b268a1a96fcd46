"""The `vsphere` site provider: vCenter datacenters driven through pyvmomi, and the remediation actions."""
