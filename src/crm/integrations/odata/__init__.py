"""Read-only OData v4 feed at /odata/v1/ for Power BI and Excel."""
