"""The privpose network: SPDH-style maps on a person crop (codec), the RGB network with its
hallucination branch (net), weights files (weights), BlazePose's landmark prior, heads, layers."""
