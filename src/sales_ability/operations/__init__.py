"""What runs the system unattended or on a person's word: batch scoring (``batch``), the candidate's proposal and a
person's decision (``promotion``), nightly retraining (``retraining``) and failure notices (``alerts``)."""
