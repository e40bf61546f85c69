"""Building blocks every app may use (fast SQL, HTTP plumbing, handler maps); imports no app."""
