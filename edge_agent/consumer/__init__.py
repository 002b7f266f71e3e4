"""A reference backend consumer: the agents' MQTT events, bay states and health into one database.

Not part of the agent (nothing in the agent imports it): a starting point for a backend team,
runnable as ``edge-agent consume``. See docs/consumer.md.
"""
