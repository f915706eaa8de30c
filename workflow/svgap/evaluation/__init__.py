"""Evaluations over the samples and trajectories the loop writes (SVG App. D.2, MTG §5): pass@k per
checkpoint, and Mind the Gap's per-round view of iterative self-improvement."""
