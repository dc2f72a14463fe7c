"""streamrec: streamer recommendations for live-streaming platforms."""
