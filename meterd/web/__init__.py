"""The IOK account view: tenants' pages and the JSON API (`meterd serve`)."""
