"""Statistics from the stored events: per bay and local day, for the page, the CLI and MQTT."""
