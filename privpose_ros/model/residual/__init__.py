"""The residual privpose model: corrections on top of the front end's own output."""
