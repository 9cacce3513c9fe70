"""The recruiter's workspace (issue #35): reviewing a job's applicants, watching their answers and recording
decisions, every step logged. It reads the results store and never writes scores."""
