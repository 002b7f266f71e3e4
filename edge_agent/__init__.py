"""edge_agent: ends fuel cars occupying EV-charging bays.

camera → perception → bays → locks / events (MQTT) / evidence (web review).
"""

import os

__version__ = "0.33.0"

# onnxruntime's Linux wheels (1DS telemetry, on by default) queue usage events for Microsoft with a device id
# and the interpreter's path, kept in $HOME/.cache/Microsoft/DeveloperTools/.onnxruntime/ — under the
# installed unit that is the data dir, and with a read-only home every start logged "Failed to persist
# telemetry device ID". A device at a parking lot sends nothing but its MQTT events: telemetry is off unless
# the environment says otherwise. It is read once, when onnxruntime starts, so it is set before any import
# of it (every one goes through this package).
os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
