"""The local site provider: real processes, real data and real ports on 127.0.0.1."""
