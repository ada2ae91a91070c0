"""Torch pieces methods share: the training loop, layers, pretrained backbones, frozen features, device."""
