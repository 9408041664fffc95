"""Fleet benchmark jobs: candidate variants measured on canary devices of a profile before selection."""
