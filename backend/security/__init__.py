"""Who may do what, and what is never shown: masking of secrets, the target policy, rate limits, authentication."""
