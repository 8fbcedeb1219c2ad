"""Placeholder: filled in by its issue's work."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
