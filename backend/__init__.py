"""Connection Wizard backend: the Database Connections API."""
