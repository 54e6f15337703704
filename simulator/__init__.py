"""quietmile simulator: replays trips through the real firmware and backend (see README)."""
