"""Real servers the suite (and the benchmark) start on 127.0.0.1, each with its own data and port."""
