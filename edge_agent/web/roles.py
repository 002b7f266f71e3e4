"""Who may change what on the review page (everyone signed in may look, the audit log aside).

The property manager reviews violations and decides who may park there (the allow / deny lists): ``reviewer``.
The installer draws the bays, takes snapshots and confirms the camera view: ``installer``. ``admin`` does both.
A users-file line without a role (a file from before roles) is ``admin``, so an upgrade locks nobody out.
The audit log (``/audit``) is ``admin``'s alone: it is the record that oversees the other roles (who looked at which
plate and photo, who decided, from which address and when: personal data of staff and of drivers, PIPL art. 51 /
GDPR art. 32), and neither role's work needs it (a violation's page shows who decided it).
"""

from __future__ import annotations

ROLES = ("admin", "installer", "reviewer")
MAY_REVIEW = ("admin", "reviewer")
MAY_INSTALL = ("admin", "installer")
MAY_AUDIT = ("admin",)
