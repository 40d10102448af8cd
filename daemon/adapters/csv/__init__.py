"""A wide CSV of closes as a bar source, and the operator's events CSV as a corporate-action source."""
