"""Operations: systemd watchdog, metrics, logging, signals, doctor."""
