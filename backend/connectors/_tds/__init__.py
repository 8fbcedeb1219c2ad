"""The TDS toolkit SQL Server (``mssql.py``) and Sybase ASE (``sybase.py``) share.

Both speak TDS and both are reached through FreeTDS (pymssql for SQL Server too):

- :mod:`.odbc` finds the ODBC driver: FreeTDS's ``libtdsodbc.so`` by its absolute path (Debian's
  ``tdsodbc`` puts it in ``/usr/lib/<arch>/odbc/``), so nothing has to be registered in
  ``odbcinst.ini``; a driver registered as ``FreeTDS`` (or, for SQL Server, Microsoft's
  ``ODBC Driver 18/17 for SQL Server``) otherwise. pyodbc without any of them counts as not
  installed (``DRIVER_NOT_AVAILABLE``, naming what to install). It also quotes connection strings.
- :mod:`.relay` is a loopback relay of each test's own between the driver and the address the
  target policy checked (or the SSH tunnel's local end). FreeTDS 1.3 deadlocks for good after its
  own login timeout under TDS 5.0 (Sybase) when a server never answers, and pymssql waits long
  past its ``login_timeout`` and reconnects after an EOF; closing the relay at the deadline ends
  every driver read at once, so no thread outlives its test. The relay also reads the first TDS
  messages it forwards (PRELOGIN, never the login packet), which tell what the driver's error
  does not: whether the server offered TLS, required it, or answered at all.
- :mod:`.freetds` writes the FreeTDS configuration: FreeTDS 1.3 takes a CA file, the certificate
  checks and its timeouts only from ``freetds.conf``, not from an ODBC connection string. The
  wizard points ``FREETDSCONF`` at a file of its own (mode 0600 in a 0700 directory), on first
  use, and writes one section per test (``Servername=wizard_…``), removed when the test ends. It
  holds no secret: the password goes in the connection string (ODBC) or the call (pymssql).
- :mod:`.errors` reads a driver error's SQLSTATEs and message numbers, and holds the rules of the
  server's messages (``core.rules.ErrorRule``).
- :mod:`.connector` is :class:`~.connector.TDSConnector`, the shared diagnosis of a TDS login.

The package is private (its name starts with ``_``): the registry does not look for a connector in it.
"""
