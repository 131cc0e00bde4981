"""privpose model layer: the v2 top-down model (v2_codec, v2_net, v2_weights, landmark_prior),
its building blocks (hrnet, heads, spdh), BlazePose in torch and the person-crop warp."""
