"""Models of crm.forecasts."""
