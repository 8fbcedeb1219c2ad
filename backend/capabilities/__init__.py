"""Live capabilities: what this connection, with these credentials, can really do when writing.

``engine.examine`` tests the connection like ``POST …/test/`` and, on the open connection,
reads the database's own privilege catalog (one module per connector) to tell each capability,
functionality and basic access ``available``, ``unavailable``, ``unknown`` or ``not_supported``,
with the reason and a fix to paste; ``rules`` follows each functionality's ``depends_on``.
Nothing is written unless ``write_probe`` asks for throwaway ``wizard_probe_<random>`` objects.
"""
