"""amoCRM API v4: the HTTP client and the mapping between its JSON and the sync core's values."""
