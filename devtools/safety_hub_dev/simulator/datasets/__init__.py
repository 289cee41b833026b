"""Every simulated dataset, one module per agency; importing registers them in ``spec.SPECS``."""

from safety_hub_dev.simulator.datasets import emb, hcc, tc  # noqa: F401
from safety_hub_dev.simulator.datasets import emb_extra  # noqa: F401
from safety_hub_dev.simulator.datasets import hcc_extra  # noqa: F401
from safety_hub_dev.simulator.datasets import hcc_hazard  # noqa: F401
from safety_hub_dev.simulator.datasets import tc_extra  # noqa: F401
from safety_hub_dev.simulator.datasets import agri  # noqa: F401
from safety_hub_dev.simulator.datasets import emb_measure  # noqa: F401
from safety_hub_dev.simulator.datasets import emb_campaign  # noqa: F401
