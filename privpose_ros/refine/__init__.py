"""privpose refine layer (see ../shared/ARCHITECTURE.md)."""
