"""Tests of the connection hooks (SSH tunnel, TLS, Kerberos)."""
