"""VSPW (video scene parsing in the wild): facts, layout, TFDS builder, generator."""
