"""What an operator needs to run the wizard for a team (docs/design.md, "Operations").

- :mod:`backend.ops.middleware`: security headers and request ids on every response (pure ASGI,
  so a streamed test is never buffered).
- :mod:`backend.ops.context`: the request id of the request being served (a contextvar).
- :mod:`backend.ops.logs`: the request id on every log record, JSON logs, quiet health probes.
- :mod:`backend.ops.metrics`: the Prometheus metrics of one app.
- :mod:`backend.ops.readiness`: whether the store answers, within a deadline.
- :mod:`backend.ops.shutdown`: clean-ups that must also run when uvicorn ends on SIGTERM.

Importing this package imports none of them: the hooks and connectors import
:mod:`backend.ops.shutdown` alone, cheaply.
"""
