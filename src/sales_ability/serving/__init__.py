"""Model registry and tracking, scoring candidates, batch scoring, the report, retraining."""
