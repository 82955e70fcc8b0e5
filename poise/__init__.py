"""poise."""
