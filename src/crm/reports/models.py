"""Models of crm.reports."""
