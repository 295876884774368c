"""The FastAPI edge of the scheduling service (v1 jobs API)."""
