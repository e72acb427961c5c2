"""Models of crm.insights."""
