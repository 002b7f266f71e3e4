"""Runtime: wires camera, perception, bays and the sinks into one process."""
