"""The store's own plumbing: calls under its deadline and the schema migrations."""
