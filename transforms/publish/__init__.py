"""Publishing marts that passed the gate, with the privacy report."""
