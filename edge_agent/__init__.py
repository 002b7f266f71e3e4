"""edge_agent: ends fuel cars occupying EV-charging bays.

camera → perception → bays → locks / events (MQTT) / evidence (web review).
"""

__version__ = "0.5.0"
