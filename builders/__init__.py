"""TFDS builders `noss` and `hares`. Importing this package registers them with TFDS
(`tfds build noss/crema_d --imports nossbench.builders`, or `import nossbench.builders` before `tfds.load`).
"""

from nossbench.builders.noss.noss_dataset_builder import Builder as Noss  # noqa: F401  (registers `noss`)
from nossbench.builders.hares.hares_dataset_builder import Builder as Hares  # noqa: F401  (registers `hares`)
