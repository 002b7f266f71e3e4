"""Who may change what on the review page (everyone signed in may look).

The property manager reviews violations and decides who may park there (the allow / deny lists): ``reviewer``.
The installer draws the bays, takes snapshots and confirms the camera view: ``installer``. ``admin`` does both.
A users-file line without a role (a file from before roles) is ``admin``, so an upgrade locks nobody out.
"""

from __future__ import annotations

ROLES = ("admin", "installer", "reviewer")
MAY_REVIEW = ("admin", "reviewer")
MAY_INSTALL = ("admin", "installer")
