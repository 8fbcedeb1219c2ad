"""Running a connection test: the staged diagnosis, its plain words, the network probe and the tester."""
