"""Pydantic request/response schemas of the JSON API (apart from the ORM models)."""
