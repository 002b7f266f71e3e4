"""The black-box tests use the real mosquitto fixtures of the MQTT tests (plain, and TLS + passwords)."""

from tests.events.conftest import broker, tls_broker, tls_material  # noqa: F401 - re-exported fixtures
