"""Agency simulator: deterministic synthetic deliveries from (seed, date).

``generate`` builds one business day of every agency's data plus the
ground-truth manifest; ``deliver`` writes it the way each agency delivers
(API served by ``server``, GBK CSV file drop, SQLite database extract).
"""

from safety_hub_dev.simulator.generate import DayData, generate_day
from safety_hub_dev.simulator.deliver import write_day

__all__ = ["DayData", "generate_day", "write_day"]
