"""The results store: the database of scored applicants (``store``, its Alembic ``migrations``), what a recruiter
selects from it (``selection``), the audit page (``audit_report``) and forgetting a person everywhere (``erasure``)."""
