"""Content-addressed artifacts and their signatures."""
