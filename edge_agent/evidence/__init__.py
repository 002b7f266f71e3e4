"""Evidence: annotated frames and plate crops on disk, indexed in SQLite, with retention."""
