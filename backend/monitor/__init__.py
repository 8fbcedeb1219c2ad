"""Connection health over time (docs/design.md, "Connection health over time").

- :mod:`backend.monitor.tables`: the history and health tables (revision ``0004_monitoring``).
- :mod:`backend.monitor.history`: every kept test, the state it leads to, the health answer.
- :mod:`backend.monitor.expiry`: what will expire (certificate, password) and the 14 days' warning.
- :mod:`backend.monitor.schedule`: the scheduler: a guarded claim with a lease in the store.
- :mod:`backend.monitor.alerts`: the webhook of state changes, from a queue of its own.
"""
