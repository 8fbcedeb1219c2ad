"""Connection hooks: SSH tunnel, SSL/TLS material and Kerberos."""
