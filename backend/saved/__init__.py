"""Saved connections: a tested connection kept under a name, its secrets encrypted, for its owner alone.

- :mod:`backend.saved.schemas`: the request and response bodies (docs/design.md, "Saved connections").
- :mod:`backend.saved.crypto`: the keys (``WIZARD_SECRET_KEY`` or a key file) and MultiFernet.
- :mod:`backend.saved.masking`: which fields are secrets, masking, the PATCH merge and the rebind rule.
- :mod:`backend.saved.store`: the SQL table (SQLAlchemy Core), in the database of ``WIZARD_DATABASE_URL``.
- :mod:`backend.saved.service`: what the router, the capabilities engine and the command line call.
"""
