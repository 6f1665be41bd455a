"""Staff screens: the login (staff number and password), shared by the counter and, later, the
maintenance mode."""
