"""The paper-trading daemon: runs the shared strategy on daily bars and routes orders."""
