"""privpose train layer (see ../shared/ARCHITECTURE.md)."""
