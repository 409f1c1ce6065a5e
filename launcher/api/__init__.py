"""The Devin API: the one reader of its OpenAPI document, the HTTP client, and the outcome types."""
