"""The `noss` TFDS builder: one config per NOSS task."""
