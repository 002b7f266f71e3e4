"""The black-box tests use the real mosquitto fixture of the MQTT tests."""

from tests.events.conftest import broker  # noqa: F401 - re-exported fixture
