"""Studies of the seeds claims, prompted compliance and the findings document generated from them."""
