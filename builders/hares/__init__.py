"""The `hares` TFDS builder: one config per HARES task."""
