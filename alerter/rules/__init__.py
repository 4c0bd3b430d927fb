"""Rule files: the model, loading with `file:line` errors, compilation, the JSON Schema,
conditions, noise options, redaction patterns and hot reload."""
