"""Audio plumbing: frames, G.711, resampling, files, and the telephone-line simulation."""
