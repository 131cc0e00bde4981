"""privpose runtime layer (see ../shared/ARCHITECTURE.md)."""
