"""Example resource: notes owned by users. Copy its shape for your own resources."""
