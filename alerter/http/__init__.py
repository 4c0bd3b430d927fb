"""The HTTP edge: the api app, webhook intake parsing, webhook signatures, OpenAPI."""
