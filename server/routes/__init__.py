"""HTTP routes: each parses, authorizes, calls one function, returns."""
