"""The config's secret files that every user on the device may read, named with the chmod that mends each.

A private key readable by all (``web.tls.key_file``, ``mqtt.tls.key_file``) is refused when the config is
loaded; the other secret files were taken at 0644 without a word, though each lets anyone on the device act as
this agent: the broker password and the robots' keys pose as it, the command signing key raises and lowers the
locks, the session key signs review-page sessions, the users file's password hashes can be guessed at offline,
away from the page's login limits. They are named at every start (``run``, ``review``) rather
than refused: a device installed with such a file keeps running after an upgrade. Same test and wording as the
keys' (``config.mqtt.readable_by_all``).
"""

from __future__ import annotations

from edge_agent.config.models import AgentConfig
from edge_agent.config.mqtt import readable_by_all

WHY = {
    "password": "anyone who copies it signs in to the broker as this device",
    "hmac": "anyone who copies it signs commands this device runs (its locks raised and lowered)",
    "robot": "anyone who copies it sends notifications as this site",
    "session": "anyone who copies it forges the review page's signed cookies",
    "users": "anyone who copies it can guess the review page's passwords offline, from their hashes",
}


def open_secret_files(cfg: AgentConfig) -> list[str]:
    """``key: problem`` for each secret file the config uses that every user on the device may read."""
    files: list[tuple[str, object, str]] = []
    if cfg.mqtt.enabled:
        files += [("mqtt.password_file", cfg.mqtt.password_file, "password"),
                  ("mqtt.hmac_secret_file", cfg.mqtt.hmac_secret_file, "hmac")]
    for i, sink in enumerate(cfg.notify.sinks):
        files += [(f"notify.sinks[{i}].secret_file", sink.secret_file, "robot"),
                  (f"notify.sinks[{i}].sign_secret_file", sink.sign_secret_file, "robot")]
    # whether or not web.enabled: ``review`` serves the page with it too (a file not there yet is not named)
    files.append(("web.session_secret_file", cfg.web.secret_file(cfg.source_path, cfg.data_dir), "session"))
    files.append(("web.users_file", cfg.web.file(cfg.web.users_file, cfg.source_path), "users"))
    out = []
    for key, path, why in files:
        problem = readable_by_all(str(path), WHY[why]) if path else None
        if problem is not None:
            out.append(f"{key}: {problem}")
    return out
