"""What a discovery or steering run is made of: the instruction catalogue, the content passages, the prompts."""
