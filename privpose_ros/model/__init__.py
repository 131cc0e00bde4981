"""privpose model layer: the privpose network family (model/posenet: codec, net, weights,
landmark prior, heads, layers, SPDH grid), BlazePose in torch and the person-crop warp."""
