"""Development tooling of safety-hub, outside the production package and image.

``simulator/`` (the agencies), ``localairflow`` (the project-local Airflow), ``demo`` (``make demo``),
``stack`` (the production topology natively, ``make stack-test``) and ``cli`` (the commands it adds to
``python -m safety_hub``). It imports ``safety_hub``; ``safety_hub`` never imports it.
"""
