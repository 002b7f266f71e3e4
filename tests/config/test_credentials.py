"""No config error prints a password, and no URL the agent shows or sends may carry one.

The probe's finds: ``mqtt.brokers: ["mqtt://user:s3cretPW@host:1883"]`` and a notification sink URL with
``u:s3cretPW@`` were refused — with the password in the message; ``?password=…`` on a broker and
credentials in ``web.public_url`` (sent in every notification) were accepted.
"""

from __future__ import annotations

import pytest
import yaml

from edge_agent import cli
from edge_agent.config import ConfigError, parse_config
from edge_agent.masking import mask_url_credentials

GOOD = {
    "site": {"site_id": "s1", "device_id": "d1"},
    "camera": {"source": "rtsp://cam/1", "width": 640, "height": 480},
    "bays": [{"id": "A", "polygon": [[10, 10], [300, 10], [300, 470], [10, 470]]}],
}
SECRET = "s3cretPW"


def problems(**changes: object) -> list[str]:
    with pytest.raises(ConfigError) as exc:
        parse_config({**GOOD, **changes})
    return exc.value.problems


@pytest.mark.parametrize(("changes", "key", "text"), [
    ({"mqtt": {"brokers": [f"mqtt://user:{SECRET}@host:1883"]}}, "mqtt.brokers", "put credentials in mqtt.username"),
    ({"mqtt": {"brokers": [f"mqtts://:{SECRET}@host:8883"]}}, "mqtt.brokers", "put credentials in mqtt.username"),
    ({"mqtt": {"brokers": [f"mqtt://user:{SECRET}@host:99999"]}}, "mqtt.brokers", "put credentials"),
    ({"mqtt": {"brokers": [f"mqtt://host:1883?password={SECRET}"]}}, "mqtt.brokers", "no query or fragment expected"),
    ({"mqtt": {"brokers": [f"mqtt://host:1883?pw={SECRET}"]}}, "mqtt.brokers", "no query or fragment expected"),
    ({"notify": {"sinks": [{"name": "a", "kind": "webhook", "url": f"http://u:{SECRET}@x"}]}},
     "notify.sinks[0].url", "no credentials or query in the URL"),
    ({"web": {"public_url": f"https://u:{SECRET}@x/"}}, "web.public_url", "no credentials in the URL"),
    ({"web": {"public_url": f"https://{SECRET}@x/"}}, "web.public_url", "no credentials in the URL"),
])
def test_credentials_in_a_url_are_refused_and_never_printed(changes, key, text):
    out = problems(**changes)
    assert any(p.startswith(f"{key}: ") and text in p for p in out), out
    assert not any(SECRET in p for p in out), out


@pytest.mark.parametrize("url", ["https://oapi.dingtalk.com/robot/send#top", "https://oapi.dingtalk.com/robot/send#",
                                 "https://oapi.dingtalk.com/robot/send?"])
def test_a_sink_url_whose_fragment_or_empty_query_would_swallow_the_robots_key_is_refused(url):
    """``{url}?access_token=…`` after a ``#`` is part of the fragment, which no request carries (and after a
    bare ``?`` the parameter's name is ``?access_token``): the robot refused every message, for want of a key."""
    sink = {"name": "a", "kind": "dingtalk", "url": url, "secret_env": "DING"}
    assert any(p.startswith("notify.sinks[0].url: ") and ("fragment" in p or "query" in p)
               for p in problems(notify={"sinks": [sink]})), url


def test_every_error_line_masks_url_credentials_whatever_check_raised_it(tmp_path, capsys):
    """Masked where the lines are formatted (``config/errors.py``), so a message that quotes a camera URL
    (the source is allowed its password: RTSP needs one) cannot leak it either."""
    err = ConfigError(f"rtsp://admin:{SECRET}@cam/1", [f"camera.source: 'rtsp://admin:{SECRET}@cam/1' is bad",
                                                       f"x: 'http://cam/snap?user=a&password={SECRET}'"])
    assert SECRET not in err.report() and SECRET not in str(err)
    assert "rtsp://admin:***@cam/1" in err.report() and "password=***" in err.report()
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump({**GOOD, "mqtt": {"brokers": [f"mqtt://user:{SECRET}@host:1883"]}}))
    assert cli.main(["check-config", str(path)]) == 2
    out = capsys.readouterr()
    assert SECRET not in out.err + out.out and "mqtt://user:***@host:1883" in out.err


@pytest.mark.parametrize("url", ["mqtt://host:0", "mqtt://host:99999", "mqtt://host:-1"])
def test_a_broker_port_outside_1_to_65535_is_refused_not_defaulted(url):
    assert any(p.startswith("mqtt.brokers: ") and "bad port (1 to 65535)" in p for p in problems(
        mqtt={"brokers": [url]}))


def test_a_password_holding_an_at_sign_is_masked_whole():
    """FFmpeg reads the host after the last "@"; the mask stopped at the first, and showed the rest of the password
    (``rtsp://admin:***@ss@cam``) in check-config's summary and in every log line naming the camera."""
    assert mask_url_credentials("camera rtsp://admin:p@ss@10.0.0.5:554/s1, MQTT off") == \
        "camera rtsp://admin:***@10.0.0.5:554/s1, MQTT off"
    assert mask_url_credentials("rtsp://a:b@c@d@cam and http://u:p@h/x@y") == "rtsp://a:***@cam and http://u:***@h/x@y"


def test_the_mask_keeps_what_is_not_a_credential():
    assert mask_url_credentials("rtsp://cam:554/x and mqtt://host:1883") == "rtsp://cam:554/x and mqtt://host:1883"
    assert mask_url_credentials("mqtts://:pw@h") == "mqtts://:***@h"
