"""privpose data layer (see ../shared/ARCHITECTURE.md)."""
