"""The agent: providers propose candidates, the loop decides what to try."""
