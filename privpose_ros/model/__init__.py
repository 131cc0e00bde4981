"""privpose model layer (see ../shared/ARCHITECTURE.md)."""
