"""Collected and public datasets to face tensors: manifests, splits, demo data, IPIP-50, video, faces, featurize."""
