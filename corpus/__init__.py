"""Getting documents in, shaping them, getting shards out."""
