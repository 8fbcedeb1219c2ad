"""Authentication: users and sessions in an SQL store, OIDC bearer tokens, the login throttle.

``guard.AuthService`` answers who is calling (``deps.current_user`` relies on it);
``router`` serves ``/api/v1/auth/``. See docs/design.md, "Authentication".
"""

from backend.security.auth.guard import AuthService, Principal

__all__ = ["AuthService", "Principal"]
